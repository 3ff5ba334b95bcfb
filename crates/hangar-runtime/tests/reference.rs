//! Every reference model (../shared/reference, copied to testdata/reference)
//! loads and reproduces onnxruntime's expected outputs: probabilities within
//! 1e-5, labels exactly.

use std::path::PathBuf;
use std::sync::Arc;

use hangar_core::{DataType, Tensor, TensorData};
use hangar_runtime::{InferencePool, LoadedModel, OnnxRuntime, Runtime, RuntimeError};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runtime() -> OnnxRuntime {
    let lib = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("vendor/onnxruntime/libonnxruntime.so"));
    OnnxRuntime::init(&lib, 2).expect("ONNX Runtime library (run scripts/fetch-onnxruntime.sh)")
}

fn fixed_inputs() -> Tensor {
    let body: Value = serde_json::from_slice(
        &std::fs::read(repo().join("testdata/reference/fixed_inputs_200.request.json")).unwrap(),
    )
    .unwrap();
    let input = &body["inputs"][0];
    let data: Vec<f32> = input["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    Tensor::new("input", vec![200, 22], TensorData::Fp32(data)).unwrap()
}

fn load(name: &str) -> Arc<dyn LoadedModel> {
    let bytes =
        std::fs::read(repo().join(format!("testdata/reference/models/{name}/model.onnx"))).unwrap();
    runtime().load(&bytes).unwrap()
}

fn check_model(name: &str) {
    let model = load(name);
    let sig = model.signature();
    assert_eq!(sig.inputs.len(), 1);
    assert_eq!(sig.inputs[0].name, "input");
    assert_eq!(sig.inputs[0].datatype, DataType::Fp32);
    assert_eq!(sig.inputs[0].shape, vec![-1, 22]);

    let outputs = model.infer(&[fixed_inputs()], &[]).unwrap();
    let expected: Value = serde_json::from_slice(
        &std::fs::read(repo().join(format!(
            "testdata/reference/models/{name}/expected_200.response.json"
        )))
        .unwrap(),
    )
    .unwrap();
    for exp in expected["outputs"].as_array().unwrap() {
        let out_name = exp["name"].as_str().unwrap();
        let got = outputs
            .iter()
            .find(|t| t.name == out_name)
            .unwrap_or_else(|| panic!("{name}: no output {out_name}"));
        let shape: Vec<usize> = exp["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got.shape, shape, "{name}/{out_name} shape");
        assert_eq!(
            got.datatype().as_str(),
            exp["datatype"].as_str().unwrap(),
            "{name}/{out_name} datatype"
        );
        let want = exp["data"].as_array().unwrap();
        match &got.data {
            TensorData::Int64(v) => {
                for (i, (g, w)) in v.iter().zip(want).enumerate() {
                    assert_eq!(*g, w.as_i64().unwrap(), "{name}/{out_name}[{i}]");
                }
            }
            TensorData::Fp32(v) => {
                let worst = v
                    .iter()
                    .zip(want)
                    .map(|(g, w)| (f64::from(*g) - w.as_f64().unwrap()).abs())
                    .fold(0.0, f64::max);
                assert!(worst <= 1e-5, "{name}/{out_name}: max abs diff {worst}");
            }
            other => panic!(
                "{name}/{out_name}: unexpected datatype {:?}",
                other.datatype()
            ),
        }
    }
}

#[test]
fn logreg_matches_reference() {
    check_model("logreg");
}

#[test]
fn gbdt_matches_reference() {
    check_model("gbdt");
}

#[test]
fn random_forest_matches_reference() {
    check_model("random_forest");
}

#[test]
fn mlp_matches_reference() {
    check_model("mlp");
}

#[test]
fn xgboost_onnx_matches_reference() {
    check_model("xgboost_gbdt");
}

#[test]
fn lightgbm_onnx_matches_reference() {
    check_model("lightgbm_gbdt");
}

#[test]
fn unsupported_operator_is_named_at_load() {
    let bytes = std::fs::read(repo().join("testdata/models/unsupported_op.onnx")).unwrap();
    let err = match runtime().load(&bytes) {
        Err(e) => e,
        Ok(_) => panic!("a model with an unknown operator loaded"),
    };
    assert!(matches!(err, RuntimeError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("Frobnicate"), "{err}");
}

/// Every load checks the file, not only a push: an artifact stored before
/// the check existed (or written around the API) is refused the same way,
/// before ONNX Runtime could read the file it names (here `Cargo.toml`, which
/// exists in the test's working directory).
#[test]
fn models_with_external_data_are_refused_at_every_load() {
    assert!(std::path::Path::new("Cargo.toml").is_file());
    let bytes = std::fs::read(repo().join("testdata/models/external_data.onnx")).unwrap();
    let rt = runtime();
    for _ in 0..2 {
        let err = rt.load(&bytes).err().expect("refused");
        assert!(matches!(err, RuntimeError::Refused(_)), "{err}");
    }
}

#[test]
fn garbage_bytes_are_rejected_not_crashing() {
    assert!(runtime()
        .load(b"\x08\x07garbage that is not a model")
        .is_err());
    assert!(runtime().load(b"").is_err());
}

#[test]
fn zipmap_output_is_served_as_a_class_probability_matrix() {
    let bytes = std::fs::read(repo().join("testdata/models/logreg_zipmap.onnx")).unwrap();
    let model = runtime().load(&bytes).unwrap();
    let out = model.infer(&[fixed_inputs()], &[]).unwrap();
    let probs = out.iter().find(|t| t.name == "output_probability").unwrap();
    assert_eq!(probs.shape, vec![200, 2]);
    let reference = load("logreg")
        .infer(&[fixed_inputs()], &["probabilities".to_string()])
        .unwrap();
    let (TensorData::Fp32(a), TensorData::Fp32(b)) = (&probs.data, &reference[0].data) else {
        panic!("FP32 expected")
    };
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-6, "max abs diff {worst}");
}

#[tokio::test]
async fn models_run_on_the_pool_concurrently() {
    let model = load("gbdt");
    let pool = InferencePool::new(2, 64).unwrap();
    let x = Arc::new(fixed_inputs());
    let mut handles = Vec::new();
    for _ in 0..32 {
        let (m, x, p) = (model.clone(), x.clone(), pool.clone());
        handles.push(tokio::spawn(async move {
            p.run(move || m.infer(&[(*x).clone()], &[]).map(|o| o.len()))
                .await
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap().unwrap(), 2);
    }
}
