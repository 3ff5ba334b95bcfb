//! Tensors as raw little-endian bytes: the encoding of V2's binary tensor
//! extension (HTTP) and of gRPC's `raw_input_contents` /
//! `raw_output_contents`, shared by both edges.

use bytes::{BufMut, BytesMut};
use hangar_core::tensor::{DataType, TensorData};

pub fn decode_binary(
    name: &str,
    datatype: DataType,
    count: usize,
    raw: &[u8],
) -> Result<TensorData, String> {
    macro_rules! fixed {
        ($t:ty, $variant:ident) => {{
            const N: usize = std::mem::size_of::<$t>();
            if raw.len() != count * N {
                return Err(format!(
                    "input '{name}': {count} {datatype} elements need {} bytes of binary data, got {}",
                    count * N,
                    raw.len()
                ));
            }
            TensorData::$variant(raw.chunks_exact(N).map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; N]))).collect())
        }};
    }
    Ok(match datatype {
        DataType::Bool => {
            if raw.len() != count {
                return Err(format!(
                    "input '{name}': {count} BOOL elements need {count} bytes, got {}",
                    raw.len()
                ));
            }
            TensorData::Bool(raw.iter().map(|&b| b != 0).collect())
        }
        DataType::Uint8 => fixed!(u8, Uint8),
        DataType::Uint16 => fixed!(u16, Uint16),
        DataType::Uint32 => fixed!(u32, Uint32),
        DataType::Uint64 => fixed!(u64, Uint64),
        DataType::Int8 => fixed!(i8, Int8),
        DataType::Int16 => fixed!(i16, Int16),
        DataType::Int32 => fixed!(i32, Int32),
        DataType::Int64 => fixed!(i64, Int64),
        DataType::Fp32 => fixed!(f32, Fp32),
        DataType::Fp64 => fixed!(f64, Fp64),
        DataType::Bytes => {
            // Each element takes at least its 4-byte length: reserve for what
            // the data can hold, not for what the shape declares.
            let mut items = Vec::with_capacity(count.min(raw.len() / 4));
            let mut rest = raw;
            while !rest.is_empty() {
                if rest.len() < 4 {
                    return Err(format!("input '{name}': truncated BYTES element length"));
                }
                let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                rest = &rest[4..];
                if rest.len() < len {
                    return Err(format!("input '{name}': truncated BYTES element"));
                }
                items.push(rest[..len].to_vec());
                rest = &rest[len..];
            }
            if items.len() != count {
                return Err(format!(
                    "input '{name}': expected {count} BYTES elements, got {}",
                    items.len()
                ));
            }
            TensorData::Bytes(items)
        }
    })
}

pub fn encode_binary(data: &TensorData, out: &mut BytesMut) {
    match data {
        TensorData::Bool(v) => v.iter().for_each(|&b| out.put_u8(u8::from(b))),
        TensorData::Uint8(v) => out.put_slice(v),
        TensorData::Uint16(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Uint32(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Uint64(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Int8(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Int16(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Int32(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Int64(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Fp32(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Fp64(v) => v.iter().for_each(|x| out.put_slice(&x.to_le_bytes())),
        TensorData::Bytes(v) => v.iter().for_each(|b| {
            out.put_u32_le(b.len() as u32);
            out.put_slice(b);
        }),
    }
}
