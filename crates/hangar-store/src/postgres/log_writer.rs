//! PostgreSQL: the prediction log's bulk writer (to be written).
#![allow(unused)]

use sqlx::PgPool;

use crate::StoreError;

pub(super) struct PgPredictionWriter {
    pool: PgPool,
}

impl PgPredictionWriter {
    pub(super) fn new(pool: PgPool) -> Result<Self, StoreError> {
        Ok(PgPredictionWriter { pool })
    }
}

impl crate::repo::PredictionLog for PgPredictionWriter {
    fn append(
        &mut self,
        write: &mut dyn FnMut(&mut dyn crate::repo::RowSink),
    ) -> Result<u64, StoreError> {
        todo!("postgres: prediction log")
    }
}
