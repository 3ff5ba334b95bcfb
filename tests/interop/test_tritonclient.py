#!/usr/bin/env python3
"""Hangar driven by a client nobody here wrote: NVIDIA's `tritonclient[http]`.

Registers and deploys every reference model (testdata/reference/models) through
Hangar's management API, then checks the Open Inference Protocol V2 surface the
way a Triton/KServe user would reach it: health, server and model metadata,
model readiness, and inference on every model in both encodings (binary tensor
data, tritonclient's default, and pure JSON), compared with the expected values
(probabilities within 1e-5 absolute, labels exactly equal).

Environment:
  HANGAR_URL   the server, e.g. 127.0.0.1:8080 (an http:// prefix is accepted)
  HANGAR_REPO  the repository root (default: two folders up from this file)

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
    import numpy as np
    import tritonclient.http as httpclient
    from tritonclient._plugin import InferenceServerClientPlugin
    from tritonclient.utils import InferenceServerException
except ImportError as e:  # pragma: no cover - environment problem, not a test failure
    sys.exit(f"{e}: run `pip install -r tests/interop/requirements.txt`")

#: Every reference model; the deployment has the same name as the model.
MODELS = ["logreg", "gbdt", "random_forest", "mlp", "xgboost_gbdt", "lightgbm_gbdt"]
PROBABILITY_ATOL = 1e-5
ROWS = 200


def _server_address():
    raw = os.environ.get("HANGAR_URL")
    if not raw:
        sys.exit("set HANGAR_URL to the Hangar server, e.g. HANGAR_URL=127.0.0.1:8080")
    address = re.sub(r"^https?://", "", raw).rstrip("/")
    return address


ADDRESS = _server_address()
#: Hangar denies by default: every call but the health probes carries a token.
TOKEN = os.environ.get("HANGAR_TOKEN") or sys.exit("set HANGAR_TOKEN to a Hangar token (an administrator's)")


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

# The management API is reached with the standard library, never through a proxy
# (the server is on loopback; an http_proxy in the environment must not apply).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _management(method, path, body=None, content_type="application/json"):
    """One management API call; returns (status, parsed JSON body)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(f"http://{ADDRESS}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with _OPENER.open(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        raise AssertionError(f"{method} {path} -> {e.code}: {text}") from None


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


class TritonClientInterop(unittest.TestCase):
    client = None
    inputs = None
    versions = None

    @classmethod
    def setUpClass(cls):
        cls.client = httpclient.InferenceServerClient(ADDRESS, connection_timeout=30.0, network_timeout=120.0)
        cls.client.register_plugin(BearerToken(TOKEN))
        cls.inputs = _fixed_inputs()
        cls.versions = {name: _register_and_deploy(name) for name in MODELS}

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    # -- helpers -----------------------------------------------------------

    def _infer_input(self, data, binary_data):
        tensor = httpclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data, binary_data=binary_data)
        return tensor

    def _check_outputs_match_reference(self, name, result, binary_data, wanted=("label", "probabilities")):
        expected = _expected(name)
        response = result.get_response()
        self.assertEqual(response["model_name"], name)
        self.assertEqual(sorted(o["name"] for o in response["outputs"]), sorted(wanted))
        for output in response["outputs"]:
            # The wire encoding is the one asked for: binary parts announce their
            # size in parameters, JSON ones carry "data".
            if binary_data:
                self.assertIn("binary_data_size", output.get("parameters", {}), output["name"])
                self.assertNotIn("data", output, output["name"])
            else:
                self.assertIn("data", output, output["name"])
                self.assertNotIn("binary_data_size", output.get("parameters", {}), output["name"])
        if "label" in wanted:
            label = result.get_output("label")
            self.assertEqual((label["datatype"], label["shape"]), ("INT64", [ROWS]))
            labels = result.as_numpy("label")
            self.assertEqual(labels.dtype, np.int64)
            np.testing.assert_array_equal(labels, expected["label"], err_msg=f"{name}: labels")
        if "probabilities" in wanted:
            probabilities = result.get_output("probabilities")
            self.assertEqual((probabilities["datatype"], probabilities["shape"]), ("FP32", [ROWS, 2]))
            values = result.as_numpy("probabilities")
            self.assertEqual(values.dtype, np.float32)
            np.testing.assert_allclose(
                values, expected["probabilities"], rtol=0, atol=PROBABILITY_ATOL, err_msg=f"{name}: probabilities"
            )

    def _infer_and_check(self, name, binary_data):
        outputs = [
            httpclient.InferRequestedOutput("label", binary_data=binary_data),
            httpclient.InferRequestedOutput("probabilities", binary_data=binary_data),
        ]
        result = self.client.infer(name, [self._infer_input(self.inputs, binary_data)], outputs=outputs)
        self._check_outputs_match_reference(name, result, binary_data)

    # -- server ------------------------------------------------------------

    def test_without_a_token_only_health_answers(self):
        anonymous = httpclient.InferenceServerClient(ADDRESS, connection_timeout=30.0, network_timeout=60.0)
        try:
            self.assertTrue(anonymous.is_server_live())
            with self.assertRaises(InferenceServerException) as caught:
                anonymous.get_model_metadata("gbdt")
            self.assertEqual(caught.exception.status(), "401", caught.exception)
            with self.assertRaises(InferenceServerException) as caught:
                anonymous.infer("gbdt", [self._infer_input(self.inputs, True)])
            self.assertEqual(caught.exception.status(), "401", caught.exception)
        finally:
            anonymous.close()

    def test_server_is_live(self):
        self.assertTrue(self.client.is_server_live())

    def test_server_is_ready(self):
        self.assertTrue(self.client.is_server_ready())

    def test_server_metadata_has_name_version_and_extensions(self):
        metadata = self.client.get_server_metadata()
        self.assertIsInstance(metadata.get("name"), str)
        self.assertTrue(metadata["name"])
        self.assertIsInstance(metadata.get("version"), str)
        self.assertTrue(metadata["version"])
        self.assertIsInstance(metadata.get("extensions"), list)

    # -- models ------------------------------------------------------------

    def test_model_metadata_describes_the_reference_signature(self):
        for name in MODELS:
            with self.subTest(model=name):
                metadata = self.client.get_model_metadata(name)
                self.assertEqual(metadata["name"], name)
                self.assertIn("1", metadata.get("versions", ["1"]))
                self.assertEqual(
                    [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]],
                    [("input", "FP32", [-1, 22])],
                )
                self.assertEqual(
                    sorted((t["name"], t["datatype"], t["shape"]) for t in metadata["outputs"]),
                    [("label", "INT64", [-1]), ("probabilities", "FP32", [-1, 2])],
                )

    def test_model_metadata_of_version_1_matches_the_unversioned_form(self):
        for name in MODELS:
            with self.subTest(model=name):
                unversioned = self.client.get_model_metadata(name)
                versioned = self.client.get_model_metadata(name, model_version="1")
                for key in ("name", "inputs", "outputs"):
                    self.assertEqual(versioned[key], unversioned[key], key)

    def test_every_deployed_model_is_ready(self):
        for name in MODELS:
            with self.subTest(model=name):
                self.assertTrue(self.client.is_model_ready(name))
                self.assertTrue(self.client.is_model_ready(name, model_version="1"))

    def test_unknown_model_is_not_ready(self):
        self.assertFalse(self.client.is_model_ready("no-such-model"))

    # -- inference errors --------------------------------------------------

    def test_unknown_model_raises_not_found_naming_the_model(self):
        missing = "no-such-model"
        with self.assertRaises(InferenceServerException) as caught:
            self.client.infer(missing, [self._infer_input(self.inputs[:1], True)])
        status = str(caught.exception.status())
        self.assertEqual(status, "404", caught.exception)
        self.assertIn(missing, caught.exception.message())

    def test_unknown_model_metadata_raises_not_found(self):
        with self.assertRaises(InferenceServerException) as caught:
            self.client.get_model_metadata("no-such-model")
        self.assertEqual(str(caught.exception.status()), "404", caught.exception)
        self.assertIn("no-such-model", caught.exception.message())

    def test_wrong_shape_raises_bad_request_naming_input_and_expected_shape(self):
        wrong = np.zeros((1, 21), dtype=np.float32)
        for binary_data in (True, False):
            with self.subTest(binary_data=binary_data):
                with self.assertRaises(InferenceServerException) as caught:
                    self.client.infer("gbdt", [self._infer_input(wrong, binary_data)])
                message = caught.exception.message()
                self.assertEqual(str(caught.exception.status()), "400", caught.exception)
                self.assertRegex(message, r"['\"]input['\"]", "the message should name the input")
                self.assertRegex(message, r"\[\s*-1\s*,\s*22\s*\]", "the message should give the expected shape")

    def test_unknown_version_raises_not_found(self):
        with self.assertRaises(InferenceServerException) as caught:
            self.client.infer("gbdt", [self._infer_input(self.inputs[:1], True)], model_version="7")
        self.assertEqual(str(caught.exception.status()), "404", caught.exception)

    def test_unknown_requested_output_raises_bad_request(self):
        with self.assertRaises(InferenceServerException) as caught:
            self.client.infer(
                "gbdt",
                [self._infer_input(self.inputs[:1], True)],
                outputs=[httpclient.InferRequestedOutput("no_such_output")],
            )
        self.assertEqual(str(caught.exception.status()), "400", caught.exception)
        self.assertIn("no_such_output", caught.exception.message())

    # -- inference variants (on gbdt) --------------------------------------

    def test_requesting_only_probabilities_returns_only_probabilities(self):
        for binary_data in (True, False):
            with self.subTest(binary_data=binary_data):
                result = self.client.infer(
                    "gbdt",
                    [self._infer_input(self.inputs, binary_data)],
                    outputs=[httpclient.InferRequestedOutput("probabilities", binary_data=binary_data)],
                )
                self.assertIsNone(result.get_output("label"))
                self.assertIsNone(result.as_numpy("label"))
                self._check_outputs_match_reference("gbdt", result, binary_data, wanted=("probabilities",))

    def test_no_requested_outputs_returns_all_outputs_in_binary(self):
        # tritonclient then sends parameters.binary_data_output = true.
        result = self.client.infer("gbdt", [self._infer_input(self.inputs, True)])
        self._check_outputs_match_reference("gbdt", result, binary_data=True)

    def test_versioned_infer_route_serves_version_1(self):
        for binary_data in (True, False):
            with self.subTest(binary_data=binary_data):
                outputs = [
                    httpclient.InferRequestedOutput("label", binary_data=binary_data),
                    httpclient.InferRequestedOutput("probabilities", binary_data=binary_data),
                ]
                result = self.client.infer(
                    "gbdt", [self._infer_input(self.inputs, binary_data)], model_version="1", outputs=outputs
                )
                self.assertEqual(result.get_response().get("model_version"), "1")
                self._check_outputs_match_reference("gbdt", result, binary_data)

    def test_request_id_is_echoed(self):
        result = self.client.infer("gbdt", [self._infer_input(self.inputs[:3], True)], request_id="interop-42")
        self.assertEqual(result.get_response().get("id"), "interop-42")

    def test_mixed_encodings_json_input_with_one_binary_and_one_json_output(self):
        outputs = [
            httpclient.InferRequestedOutput("label", binary_data=True),
            httpclient.InferRequestedOutput("probabilities", binary_data=False),
        ]
        result = self.client.infer("gbdt", [self._infer_input(self.inputs, False)], outputs=outputs)
        by_name = {o["name"]: o for o in result.get_response()["outputs"]}
        self.assertIn("binary_data_size", by_name["label"].get("parameters", {}))
        self.assertIn("data", by_name["probabilities"])
        expected = _expected("gbdt")
        np.testing.assert_array_equal(result.as_numpy("label"), expected["label"])
        np.testing.assert_allclose(
            result.as_numpy("probabilities"), expected["probabilities"], rtol=0, atol=PROBABILITY_ATOL
        )


def _add_inference_tests():
    """One test per model and encoding, so a failure names both."""
    for name in MODELS:
        for binary_data, encoding in ((True, "binary"), (False, "json")):

            def test(self, name=name, binary_data=binary_data):
                self._infer_and_check(name, binary_data)

            test.__name__ = f"test_infer_{name}_{encoding}_matches_reference"
            test.__doc__ = f"{name}: {encoding} tensors in and out reproduce expected_200.response.json"
            setattr(TritonClientInterop, test.__name__, test)


_add_inference_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
