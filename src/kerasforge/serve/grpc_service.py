"""TF Serving's gRPC API on a second port: ``PredictionService`` (Predict, GetModelMetadata) and
``ModelService`` (GetModelStatus), with the protos of the ``tensorflow-serving-api`` package.

That package's wheel requires ``tensorflow``, which would replace ``tensorflow-cpu``; it is installed with
``pip install --no-deps tensorflow-serving-api`` beside ``grpcio`` and ``protobuf`` (its protos import the
installed TensorFlow's ``tensorflow.core`` messages). The services run on the server's own event loop
(``grpc.aio``) and share its registry and micro-batchers with the REST API, so a gRPC request validates
and batches exactly as a REST one does.

Example:
    $ kforge serve models/fashion --grpc-port 8500
    >>> stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel("localhost:8500"))  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import numpy as np

from .errors import ServeError
from .inputs import Limits, batch_array, contract_warning, image_array
from .named_views import assemble_columns, layout_of, names_views
from .registry import ModelRegistry, ServedModel
from .signature import DTYPES, PREDICT_METHOD, VERB_SIGNATURES, TensorInfo
from .tfserving import RunModel, status_body

log = logging.getLogger("kerasforge.serve")


def _grpc_code(status: int, code: str):
    import grpc

    if status == 404:
        return grpc.StatusCode.NOT_FOUND
    if code == "signature_not_found":
        return grpc.StatusCode.FAILED_PRECONDITION
    if status == 401:
        return grpc.StatusCode.UNAUTHENTICATED
    if status == 429:
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    return grpc.StatusCode.INVALID_ARGUMENT if status < 500 and status != 422 else grpc.StatusCode.INTERNAL


def _tensor_info(info: TensorInfo):
    from tensorflow.core.framework import tensor_shape_pb2, types_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else int(d)) for d in info.shape])
    return meta_graph_pb2.TensorInfo(name=info.tensor, dtype=types_pb2.DataType.Value(
        DTYPES.get(info.dtype, "DT_INVALID")), tensor_shape=shape)


class GrpcServices:
    """The servicers of both services, over one registry and the app's ``run_model``."""

    def __init__(self, registry: ModelRegistry, run_model: RunModel, limits: Limits, *, token: str | None = None,
                 strict_inputs: bool = False) -> None:
        self.registry = registry
        self.run_model = run_model
        self.limits = limits
        self.token = token
        self.strict_inputs = strict_inputs

    # -- helpers ------------------------------------------------------------------------------------------
    def _check_token(self, context) -> None:
        if not self.token:
            return
        metadata = dict(context.invocation_metadata() or ())
        scheme, _, value = str(metadata.get("authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            raise ServeError(401, "unauthorized", "this server needs a bearer token: send the metadata "
                             "'authorization: Bearer <token>'")

    def _model(self, spec) -> ServedModel:
        version = spec.version.value if spec.HasField("version") else None
        return self.registry.get(spec.name, version, spec.version_label or None)

    def _spec(self, response_spec, model: ServedModel, signature: str) -> None:
        response_spec.name = model.name
        response_spec.version.value = model.version
        response_spec.signature_name = signature

    def _inputs(self, model: ServedModel, inputs) -> np.ndarray:
        names = model.input_names
        layout = layout_of(model.info)
        if layout is not None and names_views(dict.fromkeys(inputs), layout, names):
            # a model fed by data.views, its inputs sent by name: put back into its raw example
            columns = {key: list(self._array(inputs, key)) for key in inputs}
            return batch_array(assemble_columns(columns, layout, "inputs"), model.engine.spec, self.limits,
                               where="inputs")
        if len(inputs) != 1:
            raise ServeError(400, "bad_request", f"this model has one input ({names[0]}), the request has "
                             f"{len(inputs)}: {sorted(inputs)[:10]}", fix=f"Send inputs[{names[0]!r}].")
        key = next(iter(inputs))
        if key not in names:
            raise ServeError(400, "unknown_input", f"the request names the input {key[:100]!r}; this model's "
                             f"input is {names[0]!r}", fix=f"Name it {' or '.join(map(repr, names))}.")
        array = self._array(inputs, key)
        spec = model.engine.spec
        if array.dtype.kind in "SO":  # DT_STRING: encoded images or text
            values = [v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1).tolist()]
            if spec.kind == "image":
                return np.concatenate([image_array(v, spec, self.limits, where=f"inputs[{key!r}][{i}]")
                                       for i, v in enumerate(values)])
            return batch_array([v.decode("utf-8", "replace") for v in values], spec, self.limits, where=key)
        return batch_array(list(array), spec, self.limits, where=key)

    @staticmethod
    def _array(inputs, key: str) -> np.ndarray:
        import tensorflow as tf

        try:
            return tf.make_ndarray(inputs[key])
        except Exception as exc:
            raise ServeError(400, "bad_tensor", f"inputs[{key!r}] is not a valid TensorProto ({exc})"[:300],
                             fix="Build it with tf.make_tensor_proto(array).") from None

    # -- PredictionService ----------------------------------------------------------------------------------
    async def Predict(self, request, context):  # noqa: N802 (the service's method names)
        from tensorflow_serving.apis import predict_pb2

        return await self._call(context, self._predict, request, predict_pb2.PredictResponse())

    async def _predict(self, request, response, context):
        import tensorflow as tf

        model = self._model(request.model_spec)
        signature = request.model_spec.signature_name or VERB_SIGNATURES["predict"][0]
        if signature not in VERB_SIGNATURES["predict"]:
            raise ServeError(400, "signature_not_found", f'Serving signature key "{signature[:100]}" not found')
        x = self._inputs(model, request.inputs)
        if self.strict_inputs and contract_warning(x, model.engine.spec):
            raise ServeError(400, "inputs_look_scaled", contract_warning(x, model.engine.spec))
        out = np.asarray(await self.run_model(model, x))
        from .outputs import named_predictions

        columns = getattr(model.engine, "output_columns", None)  # several outputs: one tensor each, by name
        named = ({k: np.asarray(v, dtype="float32") for k, v in named_predictions(out, columns, rows=False).items()}
                 if columns else {model.engine.outputs[0].name if model.engine.outputs else "output_0": out})
        wanted = list(request.output_filter) or list(named)
        unknown = [n for n in wanted if n not in named]
        if unknown:
            raise ServeError(400, "unknown_output", f"output_filter names {list(request.output_filter)[:5]}; "
                             f"this model's outputs are {', '.join(map(repr, named))}")
        for name in wanted:
            response.outputs[name].CopyFrom(tf.make_tensor_proto(named[name]))
        self._spec(response.model_spec, model, signature)
        return response

    async def GetModelMetadata(self, request, context):  # noqa: N802
        from tensorflow_serving.apis import get_model_metadata_pb2

        return await self._call(context, self._metadata, request, get_model_metadata_pb2.GetModelMetadataResponse())

    async def _metadata(self, request, response, context):
        from tensorflow.core.protobuf import meta_graph_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        model = self._model(request.model_spec)
        unknown = [f for f in request.metadata_field if f != "signature_def"]
        if unknown or not request.metadata_field:
            raise ServeError(400, "bad_request", f"metadata_field must be ['signature_def'], got "
                             f"{list(request.metadata_field)[:5]}")
        signature = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
        for info in model.engine.inputs:
            signature.inputs[info.name].CopyFrom(_tensor_info(info))
        for info in model.engine.outputs:
            signature.outputs[info.name].CopyFrom(_tensor_info(info))
        defs = get_model_metadata_pb2.SignatureDefMap()
        defs.signature_def[VERB_SIGNATURES["predict"][0]].CopyFrom(signature)
        response.metadata["signature_def"].Pack(defs)
        self._spec(response.model_spec, model, "")
        return response

    # -- ModelService -------------------------------------------------------------------------------------------
    async def GetModelStatus(self, request, context):  # noqa: N802
        from tensorflow_serving.apis import get_model_status_pb2

        return await self._call(context, self._status, request, get_model_status_pb2.GetModelStatusResponse())

    async def _status(self, request, response, context):
        from tensorflow_serving.apis import get_model_status_pb2

        spec = request.model_spec
        version = str(spec.version.value) if spec.HasField("version") else None
        body = status_body(self.registry, spec.name, version, spec.version_label or None)
        states = get_model_status_pb2.ModelVersionStatus.State
        for item in body["model_version_status"]:
            status = response.model_version_status.add(version=int(item["version"]),
                                                       state=states.Value(item["state"]))
            status.status.error_code = 0 if item["status"]["error_code"] == "OK" else 2
            status.status.error_message = item["status"]["error_message"]
        return response

    async def _call(self, context, handler, request, response):
        try:
            self._check_token(context)
            return await handler(request, response, context)
        except ServeError as exc:
            await context.abort(_grpc_code(exc.status, exc.code), exc.message)


async def start_grpc(services: GrpcServices, host: str, port: int) -> Any:
    """A started ``grpc.aio`` server with both services on ``host:port`` (port 0: a free one; see ``.port``)."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
        Predict = services.Predict
        GetModelMetadata = services.GetModelMetadata

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        GetModelStatus = services.GetModelStatus

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Prediction(), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    server.port = bound
    log.info("gRPC (TF Serving's PredictionService, ModelService) on %s:%d", host, bound)
    return server
