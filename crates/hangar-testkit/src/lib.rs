//! What Hangar's tests start for real, shared by every crate's tests: a
//! fresh PostgreSQL database per test (on the server `HANGAR_TEST_POSTGRES`
//! names, default the machine's own on 127.0.0.1:5432), dropped when the
//! test ends; a real S3 server on loopback ([`S3Server`]); and a private
//! PostgreSQL server a test can stop and start ([`PrivatePostgres`], for
//! the outage tests).

mod s3;
pub use s3::S3Server;

use std::sync::atomic::{AtomicU32, Ordering};

mod private_pg;
pub use private_pg::PrivatePostgres;

use sqlx::Connection;

/// The PostgreSQL server tests create their databases on: an admin URL
/// (any database the user may connect to).
pub fn postgres_admin_url() -> String {
    std::env::var("HANGAR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A database of its own for one test: created empty, dropped (with its
/// connections) when this is dropped.
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database with a name no other test (or test run)
    /// uses.
    pub async fn create() -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = postgres_admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "hangar_t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} (HANGAR_TEST_POSTGRES): {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        let _ = conn.close().await;
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("HANGAR_TEST_POSTGRES {admin:?} names no database"),
        };
        TestDatabase { admin, name, url }
    }

    /// `postgres://…/NAME` of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on
        // itself: a thread of its own, with a runtime of its own.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: test database {} was not dropped", self.name);
        }
    }
}
