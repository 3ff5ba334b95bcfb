#!/usr/bin/env python3
"""Writes testdata/reference/expected/reference_predictions_gbdt.csv. Run from the repo root.

The CBPE reference values (cbpe.json) need the `gbdt` model's predictions on the 20000
rows of reference.csv, which no upstream file holds. This runs models/gbdt/model.onnx with
onnxruntime 1.32.0 (`pip install onnxruntime==1.32.0 numpy`) in the single-thread session
the upstream README names, checks the result against cbpe.json's `reference_predictions`
(positive rates, sum of p1, sha256 of labels and p1), checks that the same session
reproduces predictions_test.csv bit for bit, and only then writes the file:
`row_id,gbdt_label,gbdt_p1`, p1 written as repr(float(float32 value)) so that it parses
back to the exact f32 value in any language.
"""
import csv
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

REF = Path("testdata/reference")
OUT = REF / "expected" / "reference_predictions_gbdt.csv"
ORT_VERSION = "1.32.0"


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def session():
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(REF / "models" / "gbdt" / "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )


def predict(sess, rows, features):
    # float() is correctly rounded; every value is exact in f32 (upstream README).
    x = np.array([[float(r[c]) for c in features] for r in rows], dtype=np.float64).astype(np.float32)
    label, proba = sess.run(["label", "probabilities"], {"input": x})
    return label.astype(np.int64), proba[:, 1].astype(np.float32)


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if ort.__version__ != ORT_VERSION:
        fail(f"onnxruntime {ORT_VERSION} is required (found {ort.__version__})")
    schema = json.loads((REF / "schema.json").read_text())
    features = schema["model_input_order"]
    sess = session()

    # The session must reproduce the upstream batch predictions exactly.
    test = read_csv(REF / "data" / "test.csv")
    expected = read_csv(REF / "expected" / "predictions_test.csv")
    label, p1 = predict(sess, test, features)
    exp_label = np.array([int(r["gbdt_label"]) for r in expected], dtype=np.int64)
    exp_p1 = np.array([float(r["gbdt_p1"]) for r in expected], dtype=np.float64).astype(np.float32)
    if not (np.array_equal(label, exp_label) and np.array_equal(p1.view(np.uint32), exp_p1.view(np.uint32))):
        fail("this session does not reproduce predictions_test.csv bit for bit")

    ref = read_csv(REF / "data" / "reference.csv")
    label, p1 = predict(sess, ref, features)
    y = np.array([int(r["label"]) for r in ref], dtype=np.int64)
    check = json.loads((REF / "expected" / "cbpe.json").read_text())["reference_predictions"]
    digest = hashlib.sha256(label.astype("<i8").tobytes() + p1.astype("<f4").tobytes()).hexdigest()
    p64 = p1.astype(np.float64)
    got = {
        "n": len(ref),
        "positive_rate_true": float(y.mean()),
        "positive_rate_pred": float(label.mean()),
        "sum_p1": float(p64.sum()),
        "distinct_p1_values": int(len(np.unique(p1))),
        "rows_label_ne_p1_gt_half": int(np.sum(label != (p1 > 0.5))),
        "predictions_sha256": digest,
    }
    for key, value in got.items():
        want = check[key]
        same = math.isclose(value, want, rel_tol=1e-12) if isinstance(want, float) else value == want
        if not same:
            fail(f"reference_predictions.{key}: got {value!r}, cbpe.json says {want!r}")

    with open(OUT, "w", newline="") as f:
        f.write("row_id,gbdt_label,gbdt_p1\n")
        for r, lab, p in zip(ref, label, p1):
            f.write(f"{r['row_id']},{int(lab)},{float(p)!r}\n")
    print(f"wrote {OUT} ({len(ref)} rows, sha256 of labels+p1 {digest} matches cbpe.json)")


if __name__ == "__main__":
    main()
