//! Target `sniff`: `ArtifactFormat::sniff`, the format of an uploaded
//! artifact from its first bytes. It is ONNX exactly when the first byte is
//! ONNX's first field tag (`ir_version`, 0x08); it allocates nothing.

use hangar_core::ArtifactFormat;
use proptest::prelude::*;

use crate::harness::{fuzz, measure, random_bytes, within_cap, Cap};

const CAP: Cap = Cap {
    per_byte: 0,
    fixed: 0,
};

#[test]
fn fuzz_sniff() {
    let onnx_like = prop::collection::vec(any::<u8>(), 0..32).prop_map(|mut b| {
        b.insert(0, 0x08);
        b
    });
    fuzz(
        "sniff",
        10000,
        prop_oneof![random_bytes(256), onnx_like],
        |bytes| {
            let (format, peak) = measure(|| ArtifactFormat::sniff(&bytes));
            let expected = (bytes.first() == Some(&0x08)).then_some(ArtifactFormat::Onnx);
            prop_assert_eq!(format, expected);
            within_cap("sniff", peak, bytes.len(), CAP)
        },
    );
}
