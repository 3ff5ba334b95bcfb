//! The in-process inference floor: `LoadedModel::infer` on the reference
//! GBDT and MLP, with no HTTP, JSON or thread pool in the way. Whatever a
//! V2 request costs over HTTP, it cannot cost less than this.
//!
//! Run with `cargo bench -p hangar-runtime --bench inference`. The ONNX
//! Runtime library is taken from `ORT_DYLIB_PATH` when set, else from
//! `vendor/onnxruntime/libonnxruntime.so` (fetch it with `make setup`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hangar_core::{Tensor, TensorData};
use hangar_runtime::{LoadedModel, OnnxRuntime, Runtime};

/// The reference models are trained on 22 features per row.
const FEATURES: usize = 22;
const BATCH_ROWS: usize = 64;
const MODELS: [&str; 2] = ["gbdt", "mlp"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ort_dylib() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("vendor/onnxruntime/libonnxruntime.so"))
}

/// The 200 fixed reference rows, flattened row-major (200 × 22 FP32).
fn fixed_rows() -> Vec<f32> {
    let path = repo_root().join("testdata/reference/fixed_inputs_200.request.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let request: serde_json::Value =
        serde_json::from_str(&text).expect("the fixed inputs are JSON");
    let data = request["inputs"][0]["data"]
        .as_array()
        .expect("inputs[0].data is an array");
    let rows: Vec<f32> = data
        .iter()
        .map(|v| v.as_f64().expect("numeric data") as f32)
        .collect();
    assert!(
        rows.len() >= BATCH_ROWS * FEATURES,
        "the fixed inputs hold fewer than {BATCH_ROWS} rows"
    );
    rows
}

fn load(runtime: &OnnxRuntime, model: &str) -> Arc<dyn LoadedModel> {
    let path = repo_root().join(format!("testdata/reference/models/{model}/model.onnx"));
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    runtime
        .load(&bytes)
        .unwrap_or_else(|e| panic!("cannot load {model}: {e}"))
}

fn input(model: &dyn LoadedModel, rows: &[f32], n: usize) -> Vec<Tensor> {
    let name = model.signature().inputs[0].name.clone();
    let data = TensorData::Fp32(rows[..n * FEATURES].to_vec());
    vec![Tensor::new(name, vec![n, FEATURES], data).expect("shape matches data")]
}

fn inference(c: &mut Criterion) {
    let dylib = ort_dylib();
    // One execution instance: the benchmark calls `infer` from one thread,
    // as one inference worker would.
    let runtime =
        OnnxRuntime::init(&dylib, 1).unwrap_or_else(|e| panic!("{e} (fetch it with `make setup`)"));
    let rows = fixed_rows();
    for name in MODELS {
        let model = load(&runtime, name);
        let mut group = c.benchmark_group(format!("infer/{name}"));
        for n in [1, BATCH_ROWS] {
            let inputs = input(model.as_ref(), &rows, n);
            // Fail loudly rather than time an error path.
            let outputs = model
                .infer(&inputs, &[])
                .unwrap_or_else(|e| panic!("{name} on {n} rows: {e}"));
            assert!(!outputs.is_empty(), "{name} returned no outputs");
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new("rows", n), &inputs, |b, inputs| {
                b.iter(|| {
                    model
                        .infer(black_box(inputs), &[])
                        .expect("inference succeeds")
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, inference);
criterion_main!(benches);
