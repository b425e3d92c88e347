"""``kforge export``: a run's model in deployable formats that take RAW inputs, each reloaded and verified.

Example:
    $ kforge export runs/fashion_mnist_cnn-20261123-101500 --format onnx --format tflite --quantize float16
    $ kforge export runs/fashion_mnist_cnn-20261123-101500 --format keras,savedmodel,onnx
    $ kforge export runs/fashion_mnist_cnn-20261123-101500 --format tflite --quantize int8
    $ kforge export runs/fashion_mnist_cnn-20261123-101500 --verify-only
    $ kforge export runs/fashion_mnist_cnn-20261123-101500 --format savedmodel --base-path models/fashion
"""

from __future__ import annotations

import argparse
from pathlib import Path

FORMAT_HELP = ("keras, h5, weights, savedmodel, tflite, onnx; repeat it or give a comma list; "
               "'tflite-float16' or 'tflite-int8' quantizes one format only")


def register(command) -> None:
    """Add ``export`` to ``kforge``."""
    p = command("export", _export, "export a run's model (keras, h5, weights, savedmodel, tflite, onnx), verified")
    from ..cli import add_trust_code

    add_trust_code(p)
    p.add_argument("run", help="a run folder (runs/...); with --verify-only also an export folder")
    p.add_argument("--format", "-f", dest="formats", action="append", default=[], metavar="FORMAT",
                   help=FORMAT_HELP)
    p.add_argument("--quantize", choices=["dynamic", "float16", "int8"],
                   help="quantize tflite (dynamic, float16, or int8: full-integer, calibrated on the run's "
                        "training data) and onnx (dynamic) exports")
    p.add_argument("--output", help="folder for the exports (default: <run>/exports)")
    p.add_argument("--base-path", metavar="BASE",
                   help="write the export as the next version BASE/<N>/ (TF Serving's layout; one format)")
    p.add_argument("--examples", type=int, default=256, metavar="N",
                   help="held-out test examples to verify each export on (default 256)")
    p.add_argument("--verify-only", action="store_true",
                   help="export nothing: re-verify existing exports (checksums and predictions)")


def _export(args: argparse.Namespace) -> None:
    from ..errors import KerasforgeError

    if args.examples < 1:
        raise KerasforgeError(f"--examples must be at least 1, got {args.examples}", where="--examples",
                              fix="Give a number of held-out examples, e.g. --examples 256.")
    if args.verify_only:
        _verify(args)
        return
    from ..export import export_run

    if not args.formats:
        raise KerasforgeError("no export format given", where="--format",
                              fix=f"Name one or more: --format {FORMAT_HELP}.")
    results = export_run(args.run, args.formats, quantize=args.quantize, output=args.output,
                         examples=args.examples, base_path=args.base_path)
    for name, result in results.items():
        print(_line(name, result.path, result.card["size_bytes"], result.verification))


def _verify(args: argparse.Namespace) -> None:
    from ..errors import KerasforgeError
    from ..export import read_card, verify_export
    from ..export.formats import parse_formats

    path = Path(args.run)
    if (path / "model_card.json").is_file():
        folders = [path]
    else:
        root = Path(args.output) if args.output else path / "exports"
        folders = sorted(p for p in root.glob("*") if (p / "model_card.json").is_file())
        if args.formats:
            wanted = {f"{f}-{q}" if q else f for f, q in parse_formats(args.formats, args.quantize)}
            folders = [p for p in folders if p.name in wanted]
        if not folders:
            raise KerasforgeError(f"there are no exports to verify in {root}", where=str(root),
                                  fix=f"Export first: kforge export {path} --format onnx.")
    session = None
    if not (path / "model_card.json").is_file():
        from ..export.session import open_session

        session = open_session(path, examples=args.examples)  # one load of the run for all its exports
    for folder in folders:
        figures = verify_export(folder, examples=args.examples, session=session)
        print(_line(folder.name, folder, read_card(folder).get("size_bytes"), figures))


def _line(name: str, path: Path, size: int | None, v: dict) -> str:
    accuracy = (f", accuracy {v['accuracy_export']:.4f} (Keras {v['accuracy_keras']:.4f})"
                if v.get("accuracy_export") is not None else "")
    kib = f"{size / 1024:.0f} KiB" if size is not None else "? KiB"
    return (f"{name}: {path} ({kib}) verified on {v['examples']} examples: max abs diff "
            f"{v['max_abs_diff']:.2e}{accuracy}")
