//! The stored form of an [`Aggregate`]: a version byte, then its fields
//! little endian (see [`crate::codec`]).

use std::collections::BTreeMap;

use super::{Aggregate, AggregateError, Binned, CbpeSums, ColumnCounts, RowSample, SampleRow};
use crate::codec::{CodecError, Put, Reader};
use crate::stats::{CategoryCounts, Histogram};

const FORMAT: u8 = 1;

impl From<CodecError> for AggregateError {
    fn from(e: CodecError) -> Self {
        AggregateError::Malformed(e.0)
    }
}

impl Aggregate {
    /// A compact binary form (little endian, versioned) for storage.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(64 + self.sample.len() * 64);
        w.push(FORMAT);
        w.put_u64(self.rows);
        match &self.binned {
            None => w.push(0),
            Some(b) => {
                w.push(1);
                w.put_str(&b.baseline);
                w.put_u64(b.rows);
                w.put_u32(b.columns.len() as u32);
                for c in &b.columns {
                    match c {
                        ColumnCounts::Numeric(h) => {
                            w.push(0);
                            w.put_u64s(h.counts());
                        }
                        ColumnCounts::Categorical(cats) => {
                            w.push(1);
                            let all: Vec<(&String, u64)> = cats.iter().collect();
                            w.put_u32(all.len() as u32);
                            for (k, n) in all {
                                w.put_str(k);
                                w.put_u64(n);
                            }
                        }
                    }
                }
                match &b.score {
                    None => w.push(0),
                    Some(h) => {
                        w.push(1);
                        w.put_u64s(h.counts());
                    }
                }
                match &b.cbpe {
                    None => w.push(0),
                    Some(s) => {
                        w.push(1);
                        w.put_u64(s.rows);
                        for x in [s.tp, s.fp, s.fn_, s.tn] {
                            w.put_f64(x);
                        }
                    }
                }
            }
        }
        let s = &self.sample;
        w.put_u32(s.cap as u32);
        w.put_u64(s.threshold);
        let width = s.rows().next().map_or(0, |r| r.features.len());
        w.put_u32(width as u32);
        let rows: Vec<&SampleRow> = s.rows().filter(|r| r.features.len() == width).collect();
        w.put_u32(rows.len() as u32);
        for r in rows {
            w.put_u64(r.key);
            w.put_f64(r.score);
            w.push(u8::from(r.predicted));
            for &v in &r.features {
                w.put_f64(v);
            }
        }
        w
    }

    /// Reads [`Aggregate::encode`]'s form; anything malformed is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, AggregateError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != FORMAT {
            return Err(AggregateError::Malformed("unknown format"));
        }
        let rows = r.u64()?;
        let binned = match r.u8()? {
            0 => None,
            1 => {
                let baseline = r.str()?.to_string();
                let brows = r.u64()?;
                // A column is at least its kind and a u32 count.
                let n = r.len(5)?;
                let mut columns = Vec::with_capacity(n);
                for _ in 0..n {
                    columns.push(match r.u8()? {
                        0 => ColumnCounts::Numeric(Histogram::from_counts(r.u64s()?)),
                        1 => {
                            let k = r.len(12)?;
                            let mut map = BTreeMap::new();
                            for _ in 0..k {
                                let key = r.str()?.to_string();
                                map.insert(key, r.u64()?);
                            }
                            ColumnCounts::Categorical(CategoryCounts::from_counts(map))
                        }
                        _ => return Err(AggregateError::Malformed("column kind")),
                    });
                }
                let score = match r.u8()? {
                    0 => None,
                    1 => Some(Histogram::from_counts(r.u64s()?)),
                    _ => return Err(AggregateError::Malformed("score flag")),
                };
                let cbpe = match r.u8()? {
                    0 => None,
                    1 => Some(CbpeSums {
                        rows: r.u64()?,
                        tp: r.f64()?,
                        fp: r.f64()?,
                        fn_: r.f64()?,
                        tn: r.f64()?,
                    }),
                    _ => return Err(AggregateError::Malformed("cbpe flag")),
                };
                Some(Binned {
                    baseline,
                    rows: brows,
                    columns,
                    score,
                    cbpe,
                })
            }
            _ => return Err(AggregateError::Malformed("baseline flag")),
        };
        let cap = r.u32()? as usize;
        let threshold = r.u64()?;
        let width = r.u32()? as usize;
        let n = r.len(17 + 8 * width)?;
        let mut sample = RowSample::new(cap);
        sample.threshold = threshold;
        let mut heap = Vec::with_capacity(n);
        for _ in 0..n {
            let key = r.u64()?;
            let score = r.f64()?;
            let predicted = r.u8()? != 0;
            let mut features = Vec::with_capacity(width);
            for _ in 0..width {
                features.push(r.f64()?);
            }
            heap.push(SampleRow {
                key,
                features,
                score,
                predicted,
            });
        }
        sample.rows = heap.into();
        if !r.is_empty() {
            return Err(AggregateError::Malformed("trailing bytes"));
        }
        Ok(Aggregate {
            rows,
            binned,
            sample,
        })
    }
}
