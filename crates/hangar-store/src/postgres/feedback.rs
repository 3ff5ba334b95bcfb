//! PostgreSQL: feedback's writer (to be written).
#![allow(unused)]

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::StoreError;

pub(super) struct PgFeedbackWriter {
    pool: PgPool,
}

impl PgFeedbackWriter {
    pub(super) fn new(pool: PgPool) -> Result<Self, StoreError> {
        Ok(PgFeedbackWriter { pool })
    }
}

impl crate::repo::FeedbackLog for PgFeedbackWriter {
    fn find(
        &mut self,
        deployment: &str,
        keys: &[crate::FeedbackKey],
        versions: &mut Vec<(String, u32)>,
        found: &mut Vec<crate::FoundRow>,
    ) -> Result<(), StoreError> {
        todo!("postgres: feedback find")
    }

    fn apply(&mut self, labels: &[(i64, f64)], at: DateTime<Utc>) -> Result<u64, StoreError> {
        todo!("postgres: feedback apply")
    }
}
