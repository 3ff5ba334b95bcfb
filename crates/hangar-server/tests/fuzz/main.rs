//! Property-based fuzzing, on stable Rust, of every decoder that reads bytes
//! a client, a model file or the server's own stores hand it: the V2 JSON
//! body and the binary tensor data extension, the gRPC `ModelInfer`
//! message, named-feature instances, baseline CSV, the prediction log's
//! record buffer, stored monitoring aggregates, model-format sniffing, the
//! ONNX self-containment guard and the classes a classifier declares.
//!
//! Each target feeds random bytes and structure-aware inputs (valid inputs
//! built from generated parts, then mutated) and checks that decoding never
//! panics, that every failure is a clean error, that no input makes it hold
//! more memory than the target's cap (measured by this binary's counting
//! allocator, see `harness.rs`), and, for the two codecs, that what is
//! encoded decodes back to the same values.
//!
//! `cargo test` runs each target for a bounded number of cases;
//! `bench/fuzz.sh` runs each for a set time. Results: docs/reliability.md.

// The counting allocator (harness.rs) implements `GlobalAlloc`, which is
// unsafe to implement; nothing else here uses `unsafe`.
#![allow(unsafe_code)]

mod aggregate;
mod baseline;
mod classes;
#[cfg(feature = "grpc")]
mod grpc;
mod guard;
mod harness;
mod instances;
mod log_buffer;
mod sniff;
mod v2;

#[global_allocator]
static ALLOCATOR: harness::Counting = harness::Counting;

/// Strategies shared by several targets.
mod gen {
    use hangar_core::DataType;
    use proptest::prelude::*;

    /// A datatype's wire name, or a name that is none.
    pub fn datatype_name() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => prop::sample::select(DataType::ALL.to_vec()).prop_map(|d| d.as_str().to_string()),
            1 => "[A-Z0-9]{0,6}",
            1 => Just("fp32".to_string()),
        ]
    }

    /// A dimension as a client may send it: small, zero, negative or huge.
    pub fn dim() -> impl Strategy<Value = i64> {
        prop_oneof![
            12 => 0i64..5,
            1 => Just(-1i64),
            1 => Just(i64::MAX),
            1 => Just(1i64 << 32),
            1 => 1_000i64..20_000_000,
            1 => any::<i64>(),
        ]
    }

    pub fn shape() -> impl Strategy<Value = Vec<i64>> {
        prop::collection::vec(dim(), 0..4)
    }

    /// The element count of a wire shape, when it is small enough to fill.
    pub fn small_count(shape: &[i64]) -> Option<usize> {
        shape
            .iter()
            .try_fold(1usize, |acc, &d| {
                usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
            })
            .filter(|&n| n <= 64)
    }

    /// The limit of tensor elements: the server's default, or a small one.
    pub fn max_elements() -> impl Strategy<Value = usize> {
        prop_oneof![
            1 => Just(16 * 1024 * 1024),
            1 => 0usize..80,
        ]
    }

    /// Little-endian bytes for `count` elements of `datatype` (BYTES:
    /// length-prefixed items).
    pub fn element_bytes(datatype: &str, count: usize) -> BoxedStrategy<Vec<u8>> {
        let size = match datatype
            .parse::<DataType>()
            .ok()
            .and_then(DataType::element_size)
        {
            Some(size) => size,
            None if datatype == "BYTES" => {
                return prop::collection::vec(
                    (
                        prop::collection::vec(any::<u8>(), 0..6),
                        prop_oneof![9 => Just(None), 1 => any::<u32>().prop_map(Some)],
                    ),
                    count,
                )
                .prop_map(|items| {
                    let mut out = Vec::new();
                    for (item, declared) in items {
                        out.extend_from_slice(&declared.unwrap_or(item.len() as u32).to_le_bytes());
                        out.extend_from_slice(&item);
                    }
                    out
                })
                .boxed();
            }
            None => 4,
        };
        prop::collection::vec(any::<u8>(), count * size).boxed()
    }
}
