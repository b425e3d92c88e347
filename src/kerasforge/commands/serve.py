"""``kforge serve RUN_OR_EXPORT…``: serve trained models over HTTP (FastAPI + uvicorn).

Example:
    $ kforge serve runs/fashion_mnist_cnn-20261123-101500 digits=runs/digits_mlp-20261123-101700 --token s3cret
    $ curl -H 'Authorization: Bearer s3cret' localhost:8000/v1/models
"""

from __future__ import annotations

import argparse
import os

from ..errors import KerasforgeError


def register(command) -> None:
    """Add ``kforge serve`` to the CLI."""
    p = command("serve", _serve, "serve runs or exports over HTTP: TF-Serving REST API, web page, metrics")
    from ..cli import add_trust_code

    add_trust_code(p)
    p.add_argument("models", nargs="*", metavar="RUN_OR_EXPORT",
                   help="a run folder, an export folder (onnx, savedmodel, tflite, keras, h5), a model file, or a "
                        "TF Serving base path of numbered versions; NAME=PATH to choose the model's name "
                        "(default: the recipe's name)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--token", default=None,
                   help="bearer token that every endpoint but /healthz requires (default: $KFORGE_TOKEN)")
    p.add_argument("--max-batch", type=int, default=64, help="most examples per engine call (default 64)")
    p.add_argument("--batch-timeout-ms", type=float, default=2.0,
                   help="longest wait for more requests to join a batch (default 2 ms)")
    p.add_argument("--max-request-bytes", type=int, default=10 * 1024 * 1024,
                   help="largest request body accepted (default 10 MiB; larger ones get 413)")
    g = p.add_argument_group("versions (TF Serving base paths)")
    g.add_argument("--model-config-file", metavar="FILE",
                   help="several models from a config file: TF Serving's model_config_list (text) or YAML")
    g.add_argument("--version-policy", default="all", metavar="POLICY",
                   help="versions of a base path to serve: all (default), latest, latest:N or specific:1,3")
    g.add_argument("--label", action="append", default=[], metavar="[MODEL:]LABEL=VERSION",
                   help="a version label usable in URLs (/v1/models/M/labels/LABEL:predict); repeatable")
    g.add_argument("--poll-seconds", type=float, default=2.0,
                   help="how often base paths are checked for new versions (default 2; 0: never)")
    p.add_argument("--grpc-port", type=int, default=None,
                   help="also serve TF Serving's gRPC API (PredictionService, ModelService) on this port (e.g. 8500); "
                        "needs: pip install --no-deps tensorflow-serving-api")
    g = p.add_argument_group("inputs")
    g.add_argument("--strict-inputs", action="store_true",
                   help="refuse (400) image inputs that look already scaled to [0, 1] instead of warning")
    g = p.add_argument_group("security and limits")
    g.add_argument("--allowed-hosts", action="append", default=[], metavar="HOST[,HOST]",
                   help="Host header names accepted (default: loopback names when bound to loopback, any "
                        "otherwise; '*' for any)")
    g.add_argument("--cors-origins", action="append", default=[], metavar="ORIGIN[,ORIGIN]",
                   help="web origins allowed to call the API from a browser (default: none, CORS off)")
    g.add_argument("--tls-cert", help="TLS certificate (PEM); serves https and marks the token cookie Secure")
    g.add_argument("--tls-key", help="TLS private key (PEM), with --tls-cert")
    g.add_argument("--header-timeout", type=float, default=10.0,
                   help="seconds a connection has to send a request's headers (default 10)")
    g.add_argument("--body-timeout", type=float, default=30.0,
                   help="seconds a request has to send its whole body (default 30; 408 after)")
    g.add_argument("--keep-alive", type=float, default=5.0, help="seconds an idle keep-alive connection stays open")
    g.add_argument("--max-connections", type=int, default=4096,
                   help="open connections at most; beyond it the longest-idle one is closed (default 4096)")
    g.add_argument("--max-client-requests", type=int, default=128,
                   help="requests one client address may have in flight (default 128; 429 beyond)")


def _serve(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise KerasforgeError(f"--port must be a TCP port from 0 to 65535, got {args.port}", where="--port",
                              fix="e.g. --port 8000 (0 picks a free port).")
    try:
        import uvicorn

        from ..serve.app import create_app
    except ImportError as exc:
        raise KerasforgeError(f"serving needs FastAPI and uvicorn ({exc.name} is missing)",
                              fix="Install them with: pip install 'kerasforge[serve]'.") from None
    from ..console import say
    from ..serve.guard import Security
    from ..serve.policy import VersionPolicy
    from ..serve.registry import ModelRegistry
    from ..serve.server import ConnectionLimits, uvicorn_config

    _check(args)
    token = args.token or os.environ.get("KFORGE_TOKEN") or None
    if args.model_config_file:
        registry = ModelRegistry.from_config(args.model_config_file, extra=args.models)
        for label in args.label:
            registry.set_label(label)
    else:
        registry = ModelRegistry.from_paths(args.models, policy=VersionPolicy.parse(args.version_policy),
                                            labels=args.label)
    for entry in registry.entries():
        latest = entry.latest()
        say(f"  {entry.name}: versions {', '.join(map(str, sorted(entry.versions)))} ({latest.engine.name} "
            f"engine for {latest.version}), {len(latest.class_names)} classes  <- {entry.base or latest.path}")
    security = Security.for_host(args.host, _split(args.allowed_hosts), cors_origins=tuple(_split(args.cors_origins)),
                                 secure_cookies=bool(args.tls_cert), max_client_requests=args.max_client_requests,
                                 body_timeout=args.body_timeout)
    app = create_app(registry, token=token, max_batch=args.max_batch, batch_timeout_ms=args.batch_timeout_ms,
                     max_request_bytes=args.max_request_bytes, strict_inputs=args.strict_inputs, security=security,
                     reload_seconds=args.poll_seconds, grpc_address=_grpc_address(args))
    where = f"{'https' if args.tls_cert else 'http'}://{args.host}:{args.port}/"
    say(f"[bold]kerasforge serve[/bold] on {where}" + ("  (open it once as /?token=<token>)" if token else ""))
    limits = ConnectionLimits(header_timeout=args.header_timeout, keep_alive=args.keep_alive,
                              max_connections=args.max_connections)
    uvicorn.Server(uvicorn_config(app, host=args.host, port=args.port, limits=limits, tls_cert=args.tls_cert,
                                  tls_key=args.tls_key, log_level="warning" if args.quiet else "info")).run()


def _grpc_address(args: argparse.Namespace) -> tuple[str, int] | None:
    if args.grpc_port is None:
        return None
    try:
        import grpc  # noqa: F401
        from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: F401
    except ImportError as exc:
        raise KerasforgeError(f"the gRPC API needs grpcio and tensorflow-serving-api ({exc.name} is missing)",
                              where="--grpc-port", fix="pip install grpcio && pip install --no-deps "
                                                       "tensorflow-serving-api (--no-deps keeps tensorflow-cpu).") from None
    return args.host, args.grpc_port


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _check(args: argparse.Namespace) -> None:
    if not args.models and not args.model_config_file:
        raise KerasforgeError("nothing to serve", where="kforge serve",
                              fix="Give run/export folders or base paths, or --model-config-file FILE.")
    if args.max_batch < 1 or args.batch_timeout_ms < 0 or args.max_request_bytes < 1:
        raise KerasforgeError("--max-batch and --max-request-bytes must be positive and --batch-timeout-ms "
                              "not negative", where="kforge serve", fix="e.g. --max-batch 64 --batch-timeout-ms 2.")
    if min(args.header_timeout, args.body_timeout, args.keep_alive) <= 0 or args.max_connections < 1 \
            or args.max_client_requests < 1 or args.poll_seconds < 0:
        raise KerasforgeError("timeouts and caps must be positive (--poll-seconds may be 0)", where="kforge serve",
                              fix="e.g. --header-timeout 10 --body-timeout 30 --max-connections 4096.")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise KerasforgeError("--tls-cert and --tls-key go together", where="--tls-cert/--tls-key",
                              fix="Give both PEM files, e.g. --tls-cert cert.pem --tls-key key.pem.")
    for path in (args.tls_cert, args.tls_key):
        if path and not os.path.isfile(path):
            raise KerasforgeError(f"no such file {path}", where="--tls-cert/--tls-key", fix="Check the path.")
