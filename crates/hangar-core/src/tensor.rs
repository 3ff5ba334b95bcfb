//! Tensors as the Open Inference Protocol sees them: a datatype, a shape and
//! row-major data.
//!
//! Conversions from loosely typed request values ([`Scalar`]) into typed data
//! live here so that every range and type rule is tested without a server.

use std::fmt;
use std::str::FromStr;

/// The protocol's tensor datatypes that Hangar supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp32,
    Fp64,
    Bytes,
}

impl DataType {
    pub const ALL: [DataType; 12] = [
        DataType::Bool,
        DataType::Uint8,
        DataType::Uint16,
        DataType::Uint32,
        DataType::Uint64,
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::Fp32,
        DataType::Fp64,
        DataType::Bytes,
    ];

    /// The protocol's spelling (`FP32`, `INT64`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::Uint8 => "UINT8",
            DataType::Uint16 => "UINT16",
            DataType::Uint32 => "UINT32",
            DataType::Uint64 => "UINT64",
            DataType::Int8 => "INT8",
            DataType::Int16 => "INT16",
            DataType::Int32 => "INT32",
            DataType::Int64 => "INT64",
            DataType::Fp32 => "FP32",
            DataType::Fp64 => "FP64",
            DataType::Bytes => "BYTES",
        }
    }

    /// Size of one element in the binary tensor encoding; `None` for BYTES,
    /// whose elements are length-prefixed.
    pub fn element_size(self) -> Option<usize> {
        Some(match self {
            DataType::Bool | DataType::Uint8 | DataType::Int8 => 1,
            DataType::Uint16 | DataType::Int16 => 2,
            DataType::Uint32 | DataType::Int32 | DataType::Fp32 => 4,
            DataType::Uint64 | DataType::Int64 | DataType::Fp64 => 8,
            DataType::Bytes => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataType {
    type Err = TensorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataType::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| TensorError::UnknownDataType(s.chars().take(32).collect()))
    }
}

/// Typed, row-major tensor contents.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    Bool(Vec<bool>),
    Uint8(Vec<u8>),
    Uint16(Vec<u16>),
    Uint32(Vec<u32>),
    Uint64(Vec<u64>),
    Int8(Vec<i8>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Fp32(Vec<f32>),
    Fp64(Vec<f64>),
    Bytes(Vec<Vec<u8>>),
}

macro_rules! each_variant {
    ($self:expr, $v:ident => $body:expr) => {
        match $self {
            TensorData::Bool($v) => $body,
            TensorData::Uint8($v) => $body,
            TensorData::Uint16($v) => $body,
            TensorData::Uint32($v) => $body,
            TensorData::Uint64($v) => $body,
            TensorData::Int8($v) => $body,
            TensorData::Int16($v) => $body,
            TensorData::Int32($v) => $body,
            TensorData::Int64($v) => $body,
            TensorData::Fp32($v) => $body,
            TensorData::Fp64($v) => $body,
            TensorData::Bytes($v) => $body,
        }
    };
}

impl TensorData {
    pub fn datatype(&self) -> DataType {
        match self {
            TensorData::Bool(_) => DataType::Bool,
            TensorData::Uint8(_) => DataType::Uint8,
            TensorData::Uint16(_) => DataType::Uint16,
            TensorData::Uint32(_) => DataType::Uint32,
            TensorData::Uint64(_) => DataType::Uint64,
            TensorData::Int8(_) => DataType::Int8,
            TensorData::Int16(_) => DataType::Int16,
            TensorData::Int32(_) => DataType::Int32,
            TensorData::Int64(_) => DataType::Int64,
            TensorData::Fp32(_) => DataType::Fp32,
            TensorData::Fp64(_) => DataType::Fp64,
            TensorData::Bytes(_) => DataType::Bytes,
        }
    }

    pub fn len(&self) -> usize {
        each_variant!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Converts loosely typed values (from JSON) into `datatype`, checking
    /// every value fits. `input` names the tensor in error messages.
    pub fn from_scalars(
        input: &str,
        datatype: DataType,
        values: Vec<Scalar>,
    ) -> Result<TensorData, TensorError> {
        fn conv<T>(
            input: &str,
            datatype: DataType,
            values: Vec<Scalar>,
            f: impl Fn(&Scalar) -> Option<T>,
        ) -> Result<Vec<T>, TensorError> {
            values
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    f(s).ok_or_else(|| TensorError::BadElement {
                        input: input.to_string(),
                        index: i,
                        datatype,
                        value: s.describe(),
                    })
                })
                .collect()
        }
        fn int<T: TryFrom<i64> + TryFrom<u64>>(s: &Scalar) -> Option<T> {
            match *s {
                Scalar::Int(i) => T::try_from(i).ok(),
                Scalar::UInt(u) => T::try_from(u).ok(),
                // 3.0 is accepted as an integer; 3.5 is not.
                Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                    T::try_from(f as i64).ok()
                }
                _ => None,
            }
        }
        fn float(s: &Scalar) -> Option<f64> {
            match *s {
                Scalar::Int(i) => Some(i as f64),
                Scalar::UInt(u) => Some(u as f64),
                Scalar::Float(f) => Some(f),
                _ => None,
            }
        }
        Ok(match datatype {
            DataType::Bool => TensorData::Bool(conv(input, datatype, values, |s| match *s {
                Scalar::Bool(b) => Some(b),
                Scalar::Int(0) | Scalar::UInt(0) => Some(false),
                Scalar::Int(1) | Scalar::UInt(1) => Some(true),
                _ => None,
            })?),
            DataType::Uint8 => TensorData::Uint8(conv(input, datatype, values, int)?),
            DataType::Uint16 => TensorData::Uint16(conv(input, datatype, values, int)?),
            DataType::Uint32 => TensorData::Uint32(conv(input, datatype, values, int)?),
            DataType::Uint64 => TensorData::Uint64(conv(input, datatype, values, int)?),
            DataType::Int8 => TensorData::Int8(conv(input, datatype, values, int)?),
            DataType::Int16 => TensorData::Int16(conv(input, datatype, values, int)?),
            DataType::Int32 => TensorData::Int32(conv(input, datatype, values, int)?),
            DataType::Int64 => TensorData::Int64(conv(input, datatype, values, int)?),
            DataType::Fp32 => TensorData::Fp32(conv(input, datatype, values, |s| {
                float(s).and_then(|f| {
                    let x = f as f32;
                    // Finite doubles beyond f32's range would silently become inf.
                    (x.is_finite() || !f.is_finite()).then_some(x)
                })
            })?),
            DataType::Fp64 => TensorData::Fp64(conv(input, datatype, values, float)?),
            DataType::Bytes => TensorData::Bytes(conv(input, datatype, values, |s| match s {
                Scalar::Str(t) => Some(t.as_bytes().to_vec()),
                _ => None,
            })?),
        })
    }
}

/// A loosely typed value as it arrives in JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn describe(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => format!("{:?}", s.chars().take(32).collect::<String>()),
        }
    }
}

/// A named tensor with a concrete shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that the shape's element count equals the
    /// data length (and does not overflow).
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        data: TensorData,
    ) -> Result<Self, TensorError> {
        let name = name.into();
        let expected = element_count(&shape).ok_or_else(|| TensorError::ShapeOverflow {
            input: name.clone(),
        })?;
        if expected != data.len() {
            return Err(TensorError::ShapeMismatch {
                input: name,
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { name, shape, data })
    }

    pub fn datatype(&self) -> DataType {
        self.data.datatype()
    }
}

impl Tensor {
    /// Rows along the first dimension (1 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Stacks tensors of the same name and datatype along the first
    /// dimension. `None` when they do not fit together (different datatype
    /// or different trailing dimensions).
    pub fn concat_rows(parts: &[&Tensor]) -> Option<Tensor> {
        let first = *parts.first()?;
        if first.shape.is_empty() {
            return None;
        }
        let fits = |t: &&Tensor| {
            t.datatype() == first.datatype()
                && t.shape.len() == first.shape.len()
                && t.shape[1..] == first.shape[1..]
        };
        if !parts.iter().all(fits) {
            return None;
        }
        let mut shape = first.shape.clone();
        shape[0] = parts.iter().map(|t| t.shape[0]).sum();
        macro_rules! cat {
            ($variant:ident) => {{
                let mut out = Vec::with_capacity(parts.iter().map(|t| t.data.len()).sum());
                for t in parts {
                    if let TensorData::$variant(v) = &t.data {
                        out.extend_from_slice(v);
                    }
                }
                TensorData::$variant(out)
            }};
        }
        let data = match first.data {
            TensorData::Bool(_) => cat!(Bool),
            TensorData::Uint8(_) => cat!(Uint8),
            TensorData::Uint16(_) => cat!(Uint16),
            TensorData::Uint32(_) => cat!(Uint32),
            TensorData::Uint64(_) => cat!(Uint64),
            TensorData::Int8(_) => cat!(Int8),
            TensorData::Int16(_) => cat!(Int16),
            TensorData::Int32(_) => cat!(Int32),
            TensorData::Int64(_) => cat!(Int64),
            TensorData::Fp32(_) => cat!(Fp32),
            TensorData::Fp64(_) => cat!(Fp64),
            TensorData::Bytes(_) => cat!(Bytes),
        };
        Tensor::new(first.name.clone(), shape, data).ok()
    }

    /// Splits along the first dimension into pieces of `rows` rows each.
    /// `None` unless the counts add up to the tensor's rows.
    pub fn split_rows(&self, rows: &[usize]) -> Option<Vec<Tensor>> {
        if self.shape.is_empty() || rows.iter().sum::<usize>() != self.shape[0] {
            return None;
        }
        let per_row = element_count(&self.shape[1..])?;
        let mut out = Vec::with_capacity(rows.len());
        let mut start = 0;
        for &n in rows {
            let range = start * per_row..(start + n) * per_row;
            macro_rules! piece {
                ($v:expr, $variant:ident) => {
                    TensorData::$variant($v[range.clone()].to_vec())
                };
            }
            let data = match &self.data {
                TensorData::Bool(v) => piece!(v, Bool),
                TensorData::Uint8(v) => piece!(v, Uint8),
                TensorData::Uint16(v) => piece!(v, Uint16),
                TensorData::Uint32(v) => piece!(v, Uint32),
                TensorData::Uint64(v) => piece!(v, Uint64),
                TensorData::Int8(v) => piece!(v, Int8),
                TensorData::Int16(v) => piece!(v, Int16),
                TensorData::Int32(v) => piece!(v, Int32),
                TensorData::Int64(v) => piece!(v, Int64),
                TensorData::Fp32(v) => piece!(v, Fp32),
                TensorData::Fp64(v) => piece!(v, Fp64),
                TensorData::Bytes(v) => piece!(v, Bytes),
            };
            let mut shape = self.shape.clone();
            shape[0] = n;
            out.push(Tensor::new(self.name.clone(), shape, data).ok()?);
            start += n;
        }
        Some(out)
    }
}

/// Product of the dimensions, or `None` on overflow.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Converts a shape from the wire (signed) into dimensions, rejecting
/// negative values.
pub fn shape_from_wire(input: &str, shape: &[i64]) -> Result<Vec<usize>, TensorError> {
    shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| TensorError::NegativeDim {
                input: input.to_string(),
                shape: shape.to_vec(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    #[error("unknown datatype {0:?}; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP32, FP64, BYTES")]
    UnknownDataType(String),
    #[error("input '{input}': shape {shape:?} holds {expected} elements but data has {got}")]
    ShapeMismatch {
        input: String,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("input '{input}': shape {shape:?} has a negative dimension")]
    NegativeDim { input: String, shape: Vec<i64> },
    #[error("input '{input}': shape is too large")]
    ShapeOverflow { input: String },
    #[error("input '{input}': element {index} ({value}) is not a valid {datatype}")]
    BadElement {
        input: String,
        index: usize,
        datatype: DataType,
        value: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatype_round_trips_through_its_name() {
        for d in DataType::ALL {
            assert_eq!(d.as_str().parse::<DataType>().unwrap(), d);
        }
        assert!("FLOAT".parse::<DataType>().is_err());
    }

    fn check(dt: DataType, values: Vec<Scalar>, expected: Result<TensorData, ()>) {
        let got = TensorData::from_scalars("x", dt, values).map_err(|_| ());
        assert_eq!(got, expected);
    }

    #[test]
    fn scalars_convert_within_range_only() {
        use Scalar::*;
        check(
            DataType::Fp32,
            vec![Int(1), Float(0.5)],
            Ok(TensorData::Fp32(vec![1.0, 0.5])),
        );
        check(DataType::Fp32, vec![Float(1e300)], Err(()));
        check(
            DataType::Fp64,
            vec![Float(1e300)],
            Ok(TensorData::Fp64(vec![1e300])),
        );
        check(
            DataType::Int32,
            vec![Int(3), Float(4.0)],
            Ok(TensorData::Int32(vec![3, 4])),
        );
        check(DataType::Int32, vec![Float(4.5)], Err(()));
        check(DataType::Int32, vec![Int(i64::from(i32::MAX) + 1)], Err(()));
        check(DataType::Uint8, vec![Int(-1)], Err(()));
        check(DataType::Int64, vec![UInt(u64::MAX)], Err(()));
        check(
            DataType::Uint64,
            vec![UInt(u64::MAX)],
            Ok(TensorData::Uint64(vec![u64::MAX])),
        );
        check(
            DataType::Bool,
            vec![Bool(true), Int(0)],
            Ok(TensorData::Bool(vec![true, false])),
        );
        check(DataType::Bool, vec![Int(2)], Err(()));
        check(DataType::Fp32, vec![Str("1".into())], Err(()));
        check(
            DataType::Bytes,
            vec![Str("ab".into())],
            Ok(TensorData::Bytes(vec![b"ab".to_vec()])),
        );
    }

    #[test]
    fn bad_element_error_names_input_index_and_type() {
        let e = TensorData::from_scalars(
            "input",
            DataType::Int32,
            vec![Scalar::Int(1), Scalar::Bool(true)],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 'input': element 1 (true) is not a valid INT32"
        );
    }

    #[test]
    fn batches_concatenate_and_split_back_by_rows() {
        let a = Tensor::new("x", vec![1, 2], TensorData::Fp32(vec![1.0, 2.0])).unwrap();
        let b = Tensor::new("x", vec![2, 2], TensorData::Fp32(vec![3.0, 4.0, 5.0, 6.0])).unwrap();
        let all = Tensor::concat_rows(&[&a, &b]).unwrap();
        assert_eq!(all.shape, vec![3, 2]);
        assert_eq!(all.split_rows(&[1, 2]).unwrap(), vec![a.clone(), b]);
        let wide = Tensor::new("x", vec![1, 3], TensorData::Fp32(vec![0.0; 3])).unwrap();
        assert!(Tensor::concat_rows(&[&a, &wide]).is_none());
        let int = Tensor::new("x", vec![1, 2], TensorData::Int32(vec![0; 2])).unwrap();
        assert!(Tensor::concat_rows(&[&a, &int]).is_none());
        assert!(all.split_rows(&[1, 1]).is_none());
    }

    #[test]
    fn tensor_shape_must_match_data_length() {
        assert!(Tensor::new("a", vec![2, 2], TensorData::Fp32(vec![0.0; 4])).is_ok());
        let e = Tensor::new("a", vec![2, 3], TensorData::Fp32(vec![0.0; 4])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 'a': shape [2, 3] holds 6 elements but data has 4"
        );
        assert!(matches!(
            Tensor::new("a", vec![usize::MAX, 2], TensorData::Fp32(vec![])),
            Err(TensorError::ShapeOverflow { .. })
        ));
        assert!(shape_from_wire("a", &[1, -2]).is_err());
    }
}
