"""TF Serving's gRPC API, driven by the ``tensorflow-serving-api`` package's own client stubs."""

from __future__ import annotations

import numpy as np
import pytest
from serve_helpers import free_port, running_server

from kerasforge.serve.app import create_app

grpc = pytest.importorskip("grpc")
apis = pytest.importorskip("tensorflow_serving.apis")


@pytest.fixture(scope="module")
def channel(tf_registry):
    port = free_port()
    with running_server(create_app(tf_registry, grpc_address=("127.0.0.1", port))), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
        grpc.channel_ready_future(chan).result(timeout=30)
        yield chan


def test_predict_with_the_packages_stub(channel, tf_client, test_images):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    images = test_images[0][:5].astype("float32")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "fashion"
    request.model_spec.signature_name = "serving_default"
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(images[..., None]))
    response = stub.Predict(request, timeout=60)
    (name, tensor), = response.outputs.items()
    got = tf.make_ndarray(tensor)
    rest = np.array(tf_client.post("/v1/models/fashion:predict", json={"instances": images.tolist()}).json()[
        "predictions"])
    np.testing.assert_allclose(got, rest, atol=1e-6)
    assert response.model_spec.name == "fashion" and response.model_spec.version.value == 2
    request.model_spec.version.value = 1  # a version, as TF Serving's clients set it
    assert stub.Predict(request, timeout=60).model_spec.version.value == 1
    request.model_spec.ClearField("version")
    request.model_spec.version_label = "stable"
    assert stub.Predict(request, timeout=60).model_spec.version.value == 1


def test_grpc_errors_have_tf_serving_codes(channel):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 28, 28), "float32")))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "Latest(half)" in info.value.details()
    request.model_spec.name = "fashion"
    request.model_spec.signature_name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    request.model_spec.signature_name = ""
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'x'" in info.value.details()


def test_metadata_and_status_with_the_packages_stubs(channel, tf_client):
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        prediction_service_pb2_grpc,
    )

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "fashion"
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    signature = defs.signature_def["serving_default"]
    rest = tf_client.get("/v1/models/fashion/metadata").json()["metadata"]["signature_def"]["signature_def"][
        "serving_default"]
    assert set(signature.inputs) == set(rest["inputs"]) and set(signature.outputs) == set(rest["outputs"])
    assert [d.size for d in next(iter(signature.inputs.values())).tensor_shape.dim] == [-1, 28, 28, 1]

    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "fashion"
    reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status, timeout=30)
    available = get_model_status_pb2.ModelVersionStatus.State.Value("AVAILABLE")
    assert [(s.version, s.state, s.status.error_code) for s in reply.model_version_status] == [
        (2, available, 0), (1, available, 0)]
