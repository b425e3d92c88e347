"""Hot swap under load: `kforge serve BASE` loaded by wrk while a new version is dropped into the base path.

    .venv/bin/python benchmarks/serve_hotswap.py [--run RUN] [--duration 60] [--swap-at 20] [--clients 50]

Version 1 of the Fashion-MNIST CNN (an ONNX export, `kforge export --base-path`) is served with
`--version-policy latest:1 --poll-seconds 1`; wrk (Debian's, independent of this project) keeps
`--clients` connections busy for `--duration` seconds and counts which version answered each request
(the `X-Kforge-Model-Version` header, in wrk's Lua `response` hook); at `--swap-at` seconds version 2 is
renamed into the base path. Reports failed requests (non-2xx and socket errors), the answers per
version, throughput, latency and the server's RSS before the swap and at the end. Writes
benchmarks/results/serve_hotswap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from serve_load import PYTHON, REPO, free_port, load_wrk, prepare_run, rss_mb, start, stop, test_images

COUNT_VERSIONS = '''
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  local v = headers["x-kforge-model-version"] or "none"
  if status ~= 200 then v = "status " .. status end
  counts[v] = (counts[v] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for k, n in pairs(c) do total[k] = (total[k] or 0) + n end
  end
  local parts = {}
  for k, n in pairs(total) do table.insert(parts, string.format('"%s": %d', k, n)) end
  io.write("versions: {" .. table.concat(parts, ", ") .. "}\\n")
end
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder (default: train the Fashion-MNIST CNN on a subset)")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--swap-at", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "serve_hotswap.json"))
    args = parser.parse_args()
    from kerasforge.export import export_run

    work = Path(tempfile.mkdtemp(prefix="kforge-hotswap-"))
    try:
        run = Path(args.run) if args.run else prepare_run(work)
        base, spare = work / "models" / "fashion", work / "spare"
        export_run(run, ["onnx"], base_path=base, examples=64)
        export_run(run, ["onnx"], base_path=spare, examples=64)  # the next version, waiting beside it
        port = free_port()
        kforge = str(Path(PYTHON).parent / "kforge")
        env = {**os.environ, "KFORGE_TOKEN": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = start([kforge, "serve", str(base), "--port", str(port), "--poll-seconds", "1",
                      "--version-policy", "latest:1", "--quiet"], port, env)
        rss: dict[str, float] = {}
        try:
            def swap() -> None:
                time.sleep(args.swap_at)
                rss["before_swap_mb"] = round(rss_mb(proc.pid), 1)
                shutil.copytree(spare / "1", base / ".incoming-2")
                os.rename(base / ".incoming-2", base / "2")
                print(f"  version 2 dropped in at {args.swap_at:.0f} s", flush=True)

            swapper = threading.Thread(target=swap)
            swapper.start()
            body = [json.dumps({"instances": [test_images(1, layout="hw")[0]]}).encode()]
            result = load_wrk(f"http://127.0.0.1:{port}/v1/models/fashion:predict", body, clients=args.clients,
                              duration=args.duration, max_requests=0, script_extra=COUNT_VERSIONS)
            swapper.join()
            rss["end_mb"] = round(rss_mb(proc.pid), 1)
        finally:
            stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update(rss)
    print("\n| requests | failed | answered by v1 | answered by v2 | req/s | p50 ms | p99 ms | RSS before swap → end MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    versions = result.get("versions", {})
    print(f"| {result['requests']} | {result['errors']} | {versions.get('1', 0)} | {versions.get('2', 0)} | "
          f"{result['rps']} | {result['p50_ms']} | {result['p99_ms']} | {rss.get('before_swap_mb')} → {rss['end_mb']} |")
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(), "cpus": os.cpu_count(),
           "note": "shared machine", "clients": args.clients, "duration_s": args.duration, "swap_at_s": args.swap_at,
           "result": result, "command": "python benchmarks/serve_hotswap.py " + " ".join(sys.argv[1:])}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
