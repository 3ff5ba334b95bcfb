#!/usr/bin/env python3
"""Writes a wide MLP classifier as ONNX, for benchmarking dynamic batching.

The reference GBDT and MLP are so small that a one-row request costs more in
HTTP and JSON than in the model, so batching them can only show its overhead.
This model is the opposite: three dense hidden layers (1024, 2048, 1024 units,
Relu), about 4.2 million weights (17 MB of FP32). A one-row inference is a
matrix-vector product that streams every weight from memory; a 64-row batch
streams them once for 64 rows. That is the case dynamic batching exists for.

Signature, the same as the reference classifiers so the same request body works:
  input          FP32  [-1, 22]
  probabilities  FP32  [-1, 2]   (Softmax over two logits)
  label          INT64 [-1]      (ArgMax of the logits)

The weights are random (fixed seed): the answers mean nothing, the cost is real.

Usage: bench/make-wide-mlp.py OUT.onnx [--hidden 1024,2048,1024]
Needs the `onnx` and `numpy` packages; writes only OUT.onnx.
"""

import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURES = 22
CLASSES = 2
# Opset 17 and IR 8: old enough for every ONNX Runtime Hangar supports.
OPSET = 17
IR_VERSION = 8


def dense(name, rng, fan_in, fan_out):
    """He-initialised weights, scaled down so activations stay finite for raw
    (unnormalised) features such as the reference body's 49956."""
    w = rng.standard_normal((fan_in, fan_out)).astype(np.float32)
    w *= np.float32(np.sqrt(2.0 / fan_in) * 0.5)
    b = np.zeros(fan_out, dtype=np.float32)
    return numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")


def build(hidden):
    rng = np.random.default_rng(20261127)
    nodes, inits = [], []
    prev, width = "input", FEATURES
    for i, units in enumerate(hidden):
        w, b = dense(f"fc{i}", rng, width, units)
        inits += [w, b]
        nodes.append(helper.make_node("Gemm", [prev, w.name, b.name], [f"fc{i}_out"], name=f"fc{i}"))
        nodes.append(helper.make_node("Relu", [f"fc{i}_out"], [f"relu{i}"], name=f"relu{i}"))
        prev, width = f"relu{i}", units
    w, b = dense("logits", rng, width, CLASSES)
    inits += [w, b]
    nodes.append(helper.make_node("Gemm", [prev, w.name, b.name], ["logits"], name="logits"))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1))
    nodes.append(helper.make_node("ArgMax", ["logits"], ["label"], name="argmax", axis=1, keepdims=0))

    graph = helper.make_graph(
        nodes,
        "wide_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", FEATURES])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", CLASSES]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
        ],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        producer_name="hangar-bench-make-wide-mlp",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="where to write the .onnx file")
    parser.add_argument(
        "--hidden",
        default="1024,2048,1024",
        help="hidden layer widths, comma-separated [1024,2048,1024]",
    )
    args = parser.parse_args()
    try:
        hidden = [int(h) for h in args.hidden.split(",")]
    except ValueError:
        parser.error("--hidden takes whole numbers separated by commas")
    if not hidden or min(hidden) < 1:
        parser.error("--hidden needs at least one layer of at least one unit")
    model = build(hidden)
    onnx.save(model, args.out)
    weights = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"wrote {args.out}: hidden {hidden}, {weights} parameters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
