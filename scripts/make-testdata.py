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
