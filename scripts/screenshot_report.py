"""Make docs/report-screenshot.png: train a short Fashion-MNIST-subset CNN, open its report.html in headless
Chromium (the same code as the browser tests) and take a screenshot of the top of the page.

    .venv/bin/python scripts/screenshot_report.py [--run RUN_FOLDER] [--output docs/report-screenshot.png]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

OVERRIDES = ["data.subset=2000", "train.epochs=5", "train.batch_size=32", "train.verbose=0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="an existing run folder (default: train a short run)")
    parser.add_argument("--output", default="docs/report-screenshot.png")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import kerasforge
    from kerasforge.report.browser import render_report

    with tempfile.TemporaryDirectory() as tmp:
        if args.run:
            report = Path(args.run) / "report.html"
        else:
            run = kerasforge.train("fashion_mnist_cnn", overrides=OVERRIDES, output_dir=tmp, show_summary=False)
            report = run.path / "report.html"
        check = render_report(report, screenshot=args.output, width=1400, max_height=2600)
        if check["broken_images"] or check["console_errors"] or check["page_errors"]:
            raise SystemExit(f"the report did not render cleanly: {check}")
        print(f"screenshot: {args.output} ({check['images']} images)")


if __name__ == "__main__":
    main()
