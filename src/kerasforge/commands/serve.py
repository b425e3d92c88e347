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
    p.add_argument("models", nargs="+", metavar="RUN_OR_EXPORT",
                   help="a run folder, an export folder or a .onnx file; NAME=PATH to choose the model's name "
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
    from ..serve.registry import ModelRegistry

    if args.max_batch < 1 or args.batch_timeout_ms < 0 or args.max_request_bytes < 1:
        raise KerasforgeError("--max-batch and --max-request-bytes must be positive and --batch-timeout-ms "
                              "not negative", where="kforge serve", fix="e.g. --max-batch 64 --batch-timeout-ms 2.")
    token = args.token or os.environ.get("KFORGE_TOKEN") or None
    registry = ModelRegistry.from_paths(args.models)
    for model in registry:
        say(f"  {model.name}: {model.engine.name} engine, {len(model.class_names)} classes  <- {model.path}")
    app = create_app(registry, token=token, max_batch=args.max_batch, batch_timeout_ms=args.batch_timeout_ms,
                     max_request_bytes=args.max_request_bytes)
    where = f"http://{args.host}:{args.port}/"
    say(f"[bold]kerasforge serve[/bold] on {where}" + ("  (open it once as /?token=<token>)" if token else ""))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info",
                access_log=False)
