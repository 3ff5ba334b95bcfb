//! The handle says which backend it is on.

use hangar_store::Db;

crate::contract!(names_its_backend, |db: Db| async move {
    assert!(matches!(db.backend(), "sqlite" | "postgres"));
});
