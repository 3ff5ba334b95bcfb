//! The storage contract: every test here runs once on SQLite (a file in a
//! temporary directory) and once on PostgreSQL (a database of its own on
//! the machine's server, `HANGAR_TEST_POSTGRES`), through the same `Db`
//! handle, and must see the same answers.
//!
//! A test is written once with [`contract!`]: `contract!(name, |db| async
//! move { … })` makes `name::sqlite` and `name::postgres`.

use hangar_store::Db;

/// One backend, ready and empty; what it needs is removed when dropped.
pub struct Backend {
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<hangar_testkit::TestDatabase>,
}

impl Backend {
    pub async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
        Backend {
            db,
            _dir: Some(dir),
            _pg: None,
        }
    }

    pub async fn postgres() -> Backend {
        let pg = hangar_testkit::TestDatabase::create().await;
        let db = Db::connect(pg.url()).await.unwrap();
        Backend {
            db,
            _dir: None,
            _pg: Some(pg),
        }
    }
}

/// `contract!(name, |db: Db| async move { … })`: the body runs against each
/// backend, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! contract {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let backend = $crate::Backend::sqlite().await;
                let body = $body;
                body(backend.db.clone()).await;
                backend.db.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let backend = $crate::Backend::postgres().await;
                let body = $body;
                body(backend.db.clone()).await;
                backend.db.close().await;
            }
        }
    };
}

mod aggregates;
mod alerts;
mod audit;
mod governance;
mod monitoring;
mod registry;
mod registry_postgres;
mod smoke;
