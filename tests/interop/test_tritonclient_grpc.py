#!/usr/bin/env python3
"""Hangar's gRPC service driven by a client nobody here wrote: `tritonclient[grpc]`.

Registers and deploys every reference model (testdata/reference/models) through
Hangar's HTTP management API, then checks `inference.GRPCInferenceService` the
way a Triton/KServe user reaches it with `tritonclient.grpc`: liveness,
readiness, server and model metadata, model readiness, inference on every model
(raw little-endian tensors, tritonclient's default, and typed `contents` through
the client's own generated stub), compared with the expected values
(probabilities within 1e-5 absolute, labels exactly equal), and errors that
carry the gRPC codes and the messages of the HTTP answers.

Environment:
  HANGAR_URL       the server's HTTP address, e.g. 127.0.0.1:8080 (http:// accepted)
  HANGAR_GRPC_URL  the server's gRPC address (--grpc-addr), e.g. 127.0.0.1:8081
  HANGAR_REPO      the repository root (default: two folders up from this file)

Needs a fresh server (an empty data dir): each model is pushed as version 1.
Exits non-zero when any check fails. Only standard library + tritonclient + numpy.
"""

import json
import os
import re
import sys
import unittest
import urllib.error
import urllib.request
import uuid

try:
    import grpc
    import numpy as np
    import tritonclient.grpc as grpcclient
    from tritonclient.grpc import service_pb2, service_pb2_grpc
    from tritonclient._plugin import InferenceServerClientPlugin
    from tritonclient.utils import InferenceServerException
except ImportError as e:  # pragma: no cover - environment problem, not a test failure
    sys.exit(f"{e}: run `pip install -r tests/interop/requirements.txt`")

#: Every reference model; the deployment has the same name as the model.
MODELS = ["logreg", "gbdt", "random_forest", "mlp", "xgboost_gbdt", "lightgbm_gbdt"]
PROBABILITY_ATOL = 1e-5
ROWS = 200


def _address(variable, example):
    raw = os.environ.get(variable)
    if not raw:
        sys.exit(f"set {variable} to the Hangar server, e.g. {variable}={example}")
    return re.sub(r"^(https?|grpc)://", "", raw).rstrip("/")


HTTP_ADDRESS = _address("HANGAR_URL", "127.0.0.1:8080")
GRPC_ADDRESS = _address("HANGAR_GRPC_URL", "127.0.0.1:8081")
#: Hangar denies by default: every call but the health probes carries a token.
TOKEN = os.environ.get("HANGAR_TOKEN") or sys.exit("set HANGAR_TOKEN to a Hangar token (an administrator's)")


#: The same credential for calls made with the raw generated stub.
_AUTH = (("authorization", f"Bearer {TOKEN}"),)


class BearerToken(InferenceServerClientPlugin):
    """tritonclient's plugin hook: adds `authorization: Bearer` to every request."""

    def __init__(self, token):
        self._token = token

    def __call__(self, request):
        request.headers["authorization"] = f"Bearer {self._token}"


REPO = os.path.abspath(
    os.environ.get("HANGAR_REPO") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
)
REFERENCE = os.path.join(REPO, "testdata", "reference")

# The server is on loopback: no proxy from the environment may apply, neither to
# the management calls (urllib) nor to the gRPC channel.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_MAX_MESSAGE = 2**31 - 1
_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", _MAX_MESSAGE),
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.enable_http_proxy", 0),
]


def _http(method, path, body=None, content_type="application/json"):
    """One HTTP call; returns (status, parsed JSON body), also for error statuses."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(f"http://{HTTP_ADDRESS}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with _OPENER.open(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _management(method, path, body=None, content_type="application/json"):
    status, answer = _http(method, path, body, content_type)
    if status >= 400:
        raise AssertionError(f"{method} {path} -> {status}: {answer}")
    return status, answer


def _multipart(field, filename, payload):
    """A multipart/form-data body with one file part; returns (body, content type)."""
    boundary = f"hangar-interop-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + payload + tail, f"multipart/form-data; boundary={boundary}"


def _register_and_deploy(name):
    """Creates model `name`, pushes its ONNX file and deploys it as `name`; returns the version."""
    status, _ = _management("POST", "/api/v1/models", {"name": name})
    assert status == 201, f"creating model {name}: status {status}"
    with open(os.path.join(REFERENCE, "models", name, "model.onnx"), "rb") as f:
        body, content_type = _multipart("artifact", "model.onnx", f.read())
    status, version = _management("POST", f"/api/v1/models/{name}/versions", body, content_type)
    assert status == 201, f"pushing {name}: status {status}"
    assert version["version"] == 1, f"pushing {name} to a fresh server should make version 1: {version}"
    status, deployment = _management("PUT", f"/api/v1/deployments/{name}", {"model": f"{name}:1"})
    assert status == 200, f"deploying {name}: status {status}: {deployment}"
    return version["version"]


def _fixed_inputs():
    with open(os.path.join(REFERENCE, "fixed_inputs_200.request.json")) as f:
        request = json.load(f)
    (tensor,) = request["inputs"]
    assert tensor["name"] == "input" and tensor["datatype"] == "FP32", tensor
    return np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])


def _expected(name):
    """The expected outputs of model `name` as {output name: numpy array}."""
    with open(os.path.join(REFERENCE, "models", name, "expected_200.response.json")) as f:
        response = json.load(f)
    dtypes = {"INT64": np.int64, "FP32": np.float32}
    return {
        o["name"]: np.asarray(o["data"], dtype=dtypes[o["datatype"]]).reshape(o["shape"])
        for o in response["outputs"]
    }


def _tensors(metadata_tensors):
    return [(t.name, t.datatype, list(t.shape)) for t in metadata_tensors]


class TritonGrpcClientInterop(unittest.TestCase):
    client = None
    channel = None
    stub = None
    inputs = None

    @classmethod
    def setUpClass(cls):
        cls.client = grpcclient.InferenceServerClient(GRPC_ADDRESS, channel_args=_CHANNEL_ARGS)
        cls.client.register_plugin(BearerToken(TOKEN))
        # The client's generated stub, for the message forms tritonclient never sends.
        cls.channel = grpc.insecure_channel(GRPC_ADDRESS, options=_CHANNEL_ARGS)
        cls.stub = service_pb2_grpc.GRPCInferenceServiceStub(cls.channel)
        cls.inputs = _fixed_inputs()
        for name in MODELS:
            _register_and_deploy(name)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.channel.close()

    # -- helpers -----------------------------------------------------------

    def _infer_input(self, data):
        tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        return tensor

    def _check_matches_reference(self, name, result, wanted=("label", "probabilities")):
        expected = _expected(name)
        response = result.get_response()
        self.assertEqual(response.model_name, name)
        self.assertEqual(sorted(o.name for o in response.outputs), sorted(wanted))
        # Outputs come as raw_output_contents (what tritonclient reads), one per output.
        self.assertEqual(len(response.raw_output_contents), len(response.outputs))
        if "label" in wanted:
            label = result.get_output("label")
            self.assertEqual((label.datatype, list(label.shape)), ("INT64", [ROWS]))
            labels = result.as_numpy("label")
            self.assertEqual(labels.dtype, np.int64)
            np.testing.assert_array_equal(labels, expected["label"], err_msg=f"{name}: labels")
        if "probabilities" in wanted:
            probabilities = result.get_output("probabilities")
            self.assertEqual((probabilities.datatype, list(probabilities.shape)), ("FP32", [ROWS, 2]))
            values = result.as_numpy("probabilities")
            self.assertEqual(values.dtype, np.float32)
            np.testing.assert_allclose(
                values, expected["probabilities"], rtol=0, atol=PROBABILITY_ATOL, err_msg=f"{name}: probabilities"
            )

    def _raises(self, code, call, *args, **kwargs):
        """Runs the call, expecting an InferenceServerException with gRPC `code`; returns it."""
        with self.assertRaises(InferenceServerException) as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.status(), f"StatusCode.{code}", caught.exception)
        return caught.exception

    def _infer_and_check(self, name):
        outputs = [grpcclient.InferRequestedOutput("label"), grpcclient.InferRequestedOutput("probabilities")]
        result = self.client.infer(name, [self._infer_input(self.inputs)], outputs=outputs)
        self._check_matches_reference(name, result)

    # -- server ------------------------------------------------------------

    def test_without_a_token_only_health_answers(self):
        anonymous = grpcclient.InferenceServerClient(GRPC_ADDRESS, channel_args=_CHANNEL_ARGS)
        try:
            self.assertTrue(anonymous.is_server_live())
            self._raises("UNAUTHENTICATED", anonymous.get_model_metadata, "gbdt")
            self._raises("UNAUTHENTICATED", anonymous.infer, "gbdt", [self._infer_input(self.inputs)])
        finally:
            anonymous.close()

    def test_server_is_live(self):
        self.assertTrue(self.client.is_server_live())

    def test_server_is_ready(self):
        self.assertTrue(self.client.is_server_ready())

    def test_server_metadata_matches_http(self):
        metadata = self.client.get_server_metadata()
        _, http = _management("GET", "/v2")
        self.assertTrue(metadata.name)
        self.assertTrue(metadata.version)
        self.assertEqual(
            (metadata.name, metadata.version, list(metadata.extensions)),
            (http["name"], http["version"], http["extensions"]),
        )

    # -- models ------------------------------------------------------------

    def test_model_metadata_describes_the_reference_signature_like_http(self):
        for name in MODELS:
            with self.subTest(model=name):
                metadata = self.client.get_model_metadata(name)
                self.assertEqual(metadata.name, name)
                self.assertEqual(list(metadata.versions), ["1"])
                self.assertEqual(_tensors(metadata.inputs), [("input", "FP32", [-1, 22])])
                self.assertEqual(
                    sorted(_tensors(metadata.outputs)),
                    [("label", "INT64", [-1]), ("probabilities", "FP32", [-1, 2])],
                )
                _, http = _management("GET", f"/v2/models/{name}")
                self.assertEqual(metadata.platform, http["platform"])
                self.assertEqual(list(metadata.versions), http["versions"])
                for key in ("inputs", "outputs"):
                    self.assertEqual(
                        _tensors(getattr(metadata, key)),
                        [(t["name"], t["datatype"], t["shape"]) for t in http[key]],
                        key,
                    )

    def test_model_metadata_of_version_1_matches_the_unversioned_form(self):
        for name in MODELS:
            with self.subTest(model=name):
                unversioned = self.client.get_model_metadata(name)
                versioned = self.client.get_model_metadata(name, model_version="1")
                self.assertEqual(versioned.name, unversioned.name)
                self.assertEqual(_tensors(versioned.inputs), _tensors(unversioned.inputs))
                self.assertEqual(_tensors(versioned.outputs), _tensors(unversioned.outputs))

    def test_every_deployed_model_is_ready(self):
        for name in MODELS:
            with self.subTest(model=name):
                self.assertTrue(self.client.is_model_ready(name))
                self.assertTrue(self.client.is_model_ready(name, model_version="1"))

    def test_unknown_model_or_version_is_not_ready(self):
        self.assertFalse(self.client.is_model_ready("no-such-model"))
        self.assertFalse(self.client.is_model_ready("gbdt", model_version="7"))

    def test_unknown_model_metadata_raises_not_found(self):
        error = self._raises("NOT_FOUND", self.client.get_model_metadata, "no-such-model")
        self.assertIn("no-such-model", error.message())

    # -- inference errors: the gRPC code of the HTTP status, the HTTP message --

    def test_unknown_model_raises_not_found_with_the_http_message(self):
        missing = "no-such-model"
        error = self._raises("NOT_FOUND", self.client.infer, missing, [self._infer_input(self.inputs[:1])])
        self.assertIn(missing, error.message())
        status, http = _http("POST", f"/v2/models/{missing}/infer", {"inputs": []})
        self.assertEqual(status, 404)
        self.assertEqual(error.message(), http["error"])

    def test_wrong_shape_raises_invalid_argument_naming_input_and_expected_shape(self):
        wrong = np.zeros((1, 21), dtype=np.float32)
        error = self._raises("INVALID_ARGUMENT", self.client.infer, "gbdt", [self._infer_input(wrong)])
        message = error.message()
        self.assertRegex(message, r"['\"]input['\"]", "the message should name the input")
        self.assertRegex(message, r"\[\s*-1\s*,\s*22\s*\]", "the message should give the expected shape")
        status, http = _http(
            "POST",
            "/v2/models/gbdt/infer",
            {"inputs": [{"name": "input", "shape": [1, 21], "datatype": "FP32", "data": [0.0] * 21}]},
        )
        self.assertEqual(status, 400)
        self.assertEqual(message, http["error"])

    def test_unknown_version_raises_not_found(self):
        self._raises(
            "NOT_FOUND", self.client.infer, "gbdt", [self._infer_input(self.inputs[:1])], model_version="7"
        )

    def test_unknown_requested_output_raises_invalid_argument(self):
        error = self._raises(
            "INVALID_ARGUMENT",
            self.client.infer,
            "gbdt",
            [self._infer_input(self.inputs[:1])],
            outputs=[grpcclient.InferRequestedOutput("no_such_output")],
        )
        self.assertIn("no_such_output", error.message())

    def test_raw_contents_of_the_wrong_size_raise_invalid_argument(self):
        request = service_pb2.ModelInferRequest(model_name="gbdt")
        request.inputs.add(name="input", datatype="FP32", shape=[1, 22])
        request.raw_input_contents.append(b"\0" * 84)  # 21 floats, not 22
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.ModelInfer(request, metadata=_AUTH)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("input 'input'", caught.exception.details())

    def test_a_message_over_the_request_limit_raises_resource_exhausted(self):
        # The default --max-request-bytes is 32 MiB; 400000 x 22 FP32 is 35.2 MB.
        big = np.zeros((400_000, 22), dtype=np.float32)
        self._raises("RESOURCE_EXHAUSTED", self.client.infer, "gbdt", [self._infer_input(big)])

    def test_triton_only_rpcs_are_unimplemented(self):
        self._raises("UNIMPLEMENTED", self.client.get_model_config, "gbdt")
        self._raises("UNIMPLEMENTED", self.client.get_model_repository_index)

    # -- inference variants (on gbdt) --------------------------------------

    def test_requesting_only_probabilities_returns_only_probabilities(self):
        result = self.client.infer(
            "gbdt",
            [self._infer_input(self.inputs)],
            outputs=[grpcclient.InferRequestedOutput("probabilities")],
        )
        self.assertIsNone(result.get_output("label"))
        self.assertIsNone(result.as_numpy("label"))
        self._check_matches_reference("gbdt", result, wanted=("probabilities",))

    def test_no_requested_outputs_returns_all_outputs(self):
        result = self.client.infer("gbdt", [self._infer_input(self.inputs)])
        self._check_matches_reference("gbdt", result)

    def test_typed_contents_give_the_same_answer_as_raw_contents(self):
        # tritonclient always sends raw_input_contents; its generated stub can
        # send the typed form (fp32_contents) that other KServe clients use.
        request = service_pb2.ModelInferRequest(model_name="gbdt", id="typed-1")
        tensor = request.inputs.add(name="input", datatype="FP32", shape=list(self.inputs.shape))
        tensor.contents.fp32_contents.extend(self.inputs.flatten().tolist())
        request.outputs.add(name="label")
        request.outputs.add(name="probabilities")
        response = self.stub.ModelInfer(request, metadata=_AUTH)
        self._check_matches_reference("gbdt", grpcclient.InferResult(response))
        self.assertEqual(response.id, "typed-1")

    def test_versioned_infer_serves_version_1(self):
        result = self.client.infer("gbdt", [self._infer_input(self.inputs)], model_version="1")
        self.assertEqual(result.get_response().model_version, "1")
        self._check_matches_reference("gbdt", result)

    def test_request_id_is_echoed(self):
        result = self.client.infer("gbdt", [self._infer_input(self.inputs[:3])], request_id="interop-42")
        self.assertEqual(result.get_response().id, "interop-42")

    def test_a_request_id_past_128_bytes_raises_invalid_argument_like_http(self):
        longest = "i" * 128
        result = self.client.infer("gbdt", [self._infer_input(self.inputs[:1])], request_id=longest)
        self.assertEqual(result.get_response().id, longest)
        error = self._raises(
            "INVALID_ARGUMENT", self.client.infer, "gbdt", [self._infer_input(self.inputs[:1])], request_id="i" * 129
        )
        self.assertIn("at most 128 bytes", error.message())
        status, http = _http(
            "POST",
            "/v2/models/gbdt/infer",
            {"id": "i" * 129, "inputs": [{"name": "input", "shape": [1, 22], "datatype": "FP32", "data": [0.0] * 22}]},
        )
        self.assertEqual(status, 400)
        self.assertIn("at most 128 bytes", http["error"])

    def test_routing_key_parameter_is_accepted(self):
        result = self.client.infer(
            "gbdt", [self._infer_input(self.inputs)], parameters={"routing_key": "customer-17"}
        )
        self._check_matches_reference("gbdt", result)

    def test_gzip_compressed_requests_are_accepted(self):
        result = self.client.infer("gbdt", [self._infer_input(self.inputs)], compression_algorithm="gzip")
        self._check_matches_reference("gbdt", result)

    def test_statistics_count_successful_inferences(self):
        self.client.infer("logreg", [self._infer_input(self.inputs[:2])])
        stats = self.client.get_inference_statistics("logreg")
        (version_1,) = [s for s in stats.model_stats if s.version == "1"]
        self.assertEqual(version_1.name, "logreg")
        self.assertGreaterEqual(version_1.inference_count, 1)
        self.assertGreaterEqual(version_1.inference_stats.success.count, 1)
        every = self.client.get_inference_statistics()
        self.assertIn("logreg", {s.name for s in every.model_stats})


def _add_inference_tests():
    """One test per model, so a failure names it."""
    for name in MODELS:

        def test(self, name=name):
            self._infer_and_check(name)

        test.__name__ = f"test_infer_{name}_matches_reference"
        test.__doc__ = f"{name}: raw tensors in and out reproduce expected_200.response.json"
        setattr(TritonGrpcClientInterop, test.__name__, test)


_add_inference_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
