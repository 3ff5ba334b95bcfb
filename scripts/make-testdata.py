#!/usr/bin/env python3
"""Regenerates testdata/models/*.onnx (needs the `onnx` package). Run from the repo root."""
import onnx
from onnx import helper, TensorProto

# A model using an operator that no runtime implements.
node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")
g = helper.make_graph([node], "unsupported", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("com.example", 1)])
m.ir_version = 8
onnx.save(m, "testdata/models/unsupported_op.onnx")

# The reference logreg with scikit-learn's default ZipMap on its probabilities.
ref = onnx.load("testdata/reference/models/logreg/model.onnx")
g = ref.graph
g.node.append(helper.make_node("ZipMap", ["probabilities"], ["output_probability"], domain="ai.onnx.ml",
                               classlabels_int64s=[0, 1]))
out = helper.make_value_info("output_probability", helper.make_sequence_type_proto(
    helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
del g.output[1]
g.output.append(out)
onnx.checker.check_model(ref)
onnx.save(ref, "testdata/models/logreg_zipmap.onnx")

# A deliberately slow model with the reference models' input (FP32 [-1, 22]):
# 22 -> 512, then 24 dense 512x512 layers; about 13 MFLOP per row. Its weights
# are made at load time (ConstantOfShape), so the file stays tiny. Tests use it
# to hold inference workers busy (queues, deadlines, latency guardrails).
import numpy as np
nodes, inits = [], []

def const(name, shape, value):
    inits.append(onnx.numpy_helper.from_array(np.array(shape, dtype=np.int64), name + "_shape"))
    nodes.append(helper.make_node("ConstantOfShape", [name + "_shape"], [name],
                                  value=helper.make_tensor("v", TensorProto.FLOAT, [1], [value])))

const("w0", [22, 512], 0.01)
nodes.append(helper.make_node("MatMul", ["input", "w0"], ["h0"]))
prev = "h0"
for i in range(1, 25):
    const(f"w{i}", [512, 512], 0.002)
    nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]))
    nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i}"]))
    prev = f"h{i}"
inits.append(onnx.numpy_helper.from_array(np.array([[0.5, -0.5]] * 512, dtype=np.float32), "wout"))
nodes.append(helper.make_node("MatMul", [prev, "wout"], ["logits"]))
nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0))
g = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 22])],
                      [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                       helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, "testdata/models/slow.onnx")

# Hostile models: an initializer kept in "another file" (ONNX external data)
# with a plain relative location. ONNX Runtime resolves it against the working
# directory when a model is loaded from memory, so serving it would hand the
# file's bytes back as the output `leak`. Hangar must refuse both at push,
# with the same message whether or not the named file exists.
for fname, location in [("external_data.onnx", "Cargo.toml"), ("external_data_missing.onnx", "no-such-file.bin")]:
    secret = TensorProto(name="secret", data_type=TensorProto.UINT8, dims=[16])
    secret.data_location = TensorProto.EXTERNAL
    for k, v in [("location", location), ("offset", "0"), ("length", "16")]:
        e = secret.external_data.add()
        e.key, e.value = k, v
    g = helper.make_graph([helper.make_node("Identity", ["secret"], ["leak"]), helper.make_node("Identity", ["x"], ["y"])],
                          "exfiltrate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                          [helper.make_tensor_value_info("leak", TensorProto.UINT8, [16]),
                           helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])], [secret])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)])
    m.ir_version = 8
    with open("testdata/models/" + fname, "wb") as f:
        f.write(m.SerializeToString())

# A model that never finishes its first run: a Loop of 2^62 iterations (ONNX
# Runtime takes about a microsecond each). Loaded in-process, its warm-up
# would hold a thread forever; the child process that checks new models is
# killed after --model-check-timeout and the push is refused.
body = helper.make_graph(
    [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
     helper.make_node("Add", ["v_in", "one"], ["v_out"])],
    "forever_body",
    [helper.make_tensor_value_info("i", TensorProto.INT64, []),
     helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
     helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
    [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
     helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
    [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
g = helper.make_graph(
    [helper.make_node("Loop", ["trip", "cond", "v0"], ["v"], body=body),
     helper.make_node("Add", ["x", "v"], ["y"])],
    "forever", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    [helper.make_tensor("trip", TensorProto.INT64, [], [2**62]),
     helper.make_tensor("cond", TensorProto.BOOL, [], [True]),
     helper.make_tensor("v0", TensorProto.FLOAT, [], [0.0])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, "testdata/models/loop_forever.onnx")

# A tiny runnable model whose input differs from the reference models'
# (x: FP32 [-1, 3] -> Identity -> y): a new version of a model with other
# inputs inherits no feature names.
g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "three_columns",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, "testdata/models/three_columns.onnx")

# A regressor with the reference models' input (FP32 [-1, 22]): one output
# `variable` FP32 [-1, 1], the sum of the features. Feedback takes any number
# as its true outcome.
w = onnx.numpy_helper.from_array(np.ones((22, 1), dtype=np.float32), "w")
g = helper.make_graph([helper.make_node("MatMul", ["input", "w"], ["variable"])], "regressor",
                      [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 22])],
                      [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, "testdata/models/regressor.onnx")
