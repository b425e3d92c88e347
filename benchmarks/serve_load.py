"""Serving load test: `kforge serve` (ONNX Runtime + micro-batching) vs a naive per-request Keras server (in
both its `model.predict` and `model.predict_on_batch` forms) vs raw in-process ONNX Runtime calls, all on
the same trained Fashion-MNIST CNN, on 127.0.0.1 only.

    .venv/bin/python benchmarks/serve_load.py [--duration 15] [--clients 50] [--client all]

Each server runs as its own subprocess; the load generators (N concurrent closed-loop clients, each
sending one 28x28 image per request) run for a fixed duration and request budget, one after the other:
the project's own (a minimal keep-alive HTTP/1.1 client on raw asyncio sockets, and httpx) and an
independent one, Debian's `wrk` (`apt-get install wrk`; C, event loop, HTTP/1.1 keep-alive, a Lua script
for the POST body). Prints a table and writes benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

NAIVE_SERVER = textwrap.dedent('''
    # A model server as tutorials write it: load the model, call model.predict on every request
    # (argv[3] == "predict_on_batch": the same server with that one line changed).
    import sys
    import keras, numpy as np
    from fastapi import FastAPI
    app = FastAPI()
    model = keras.saving.load_model(sys.argv[1])
    on_batch = len(sys.argv) > 3 and sys.argv[3] == "predict_on_batch"
    @app.post("/v1/models/naive:predict")
    def predict(body: dict):
        x = np.array(body["instances"], dtype="float32").reshape(-1, 28, 28, 1) / 255.0
        if on_batch:
            return {"predictions": np.asarray(model.predict_on_batch(x)).tolist()}
        return {"predictions": model.predict(x, verbose=0).tolist()}
    if __name__ == "__main__":
        import uvicorn
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
''')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_run(work: Path) -> Path:
    """Train the tutorials' Fashion-MNIST CNN (a 5,000-image subset, 3 epochs) and export it to ONNX."""
    import kerasforge

    run = kerasforge.train("fashion_mnist_cnn", output_dir=work, show_summary=False,
                           overrides=["data.subset=5000", "train.epochs=3"])
    try:
        from kerasforge.export import export_run

        export_run(run.path, ["onnx"])
    except ImportError:  # kerasforge.export not there yet: the same raw-input graph, made here
        import keras

        pre = run.data_info["preprocessing"]
        pixels = keras.Input((28, 28, 1), name="pixels")
        scaled = keras.layers.Rescaling(float(pre.get("pixel_max") or 255) / 255 / float(pre["divisor"]),
                                        -float(pre["offset"]) / float(pre["divisor"]))(pixels)
        wrapped = keras.Model(pixels, run.model(scaled))
        wrapped(np.zeros((1, 28, 28, 1), "float32"))
        (run.path / "exports" / "onnx").mkdir(parents=True, exist_ok=True)
        wrapped.export(str(run.path / "exports" / "onnx" / "model.onnx"), format="onnx", verbose=False)
    return run.path


def test_images(n: int = 1000, layout: str = "hwc") -> list[list]:
    """``n`` Fashion-MNIST test images as nested lists: 28x28 (``layout="hw"``) or 28x28x1 (``"hwc"``)."""
    from kerasforge.data.loader import load_raw
    from kerasforge.recipe import DataSpec

    images = load_raw(DataSpec(dataset="fashion_mnist")).dataset.x_test[:n].reshape(-1, 28, 28).astype(int)
    return [(img if layout == "hw" else img[:, :, None]).tolist() for img in images]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def start(cmd: list[str], port: int, env: dict) -> subprocess.Popen:
    import httpx

    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop) a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 404):
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start in 120 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log = proc.log  # type: ignore[attr-defined]
    log.seek(0)
    errors = [line for line in log.read().decode(errors="replace").splitlines() if "Error" in line or "ERROR" in line]
    log.close()
    if errors:
        print("  server log errors:", *errors[-5:], sep="\n    ")


async def load(url: str, bodies: list[bytes], *, clients: int, duration: float, max_requests: int) -> dict:
    """Closed-loop load: ``clients`` coroutines, each sending one request at a time."""
    from collections import Counter

    import httpx

    latencies: list[float] = []
    errors = 0
    kinds: Counter[str] = Counter()
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for body in bodies[:clients]:  # warm the connections and the server
            await client.post(url, content=body, headers={"content-type": "application/json"})
        start = time.perf_counter()
        end = start + duration

        async def worker(i: int) -> None:
            nonlocal errors, sent
            while time.perf_counter() < end and sent < max_requests:
                sent += 1
                body = bodies[(i * 7919 + sent) % len(bodies)]
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, content=body, headers={"content-type": "application/json"})
                    kind = "" if r.status_code == 200 else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                errors += bool(kind)
                kinds[kind] += bool(kind)

        await asyncio.gather(*[worker(i) for i in range(clients)])
        elapsed = time.perf_counter() - start
    return {**summary(latencies, errors, elapsed), "error_kinds": {k: v for k, v in kinds.items() if v}}


async def load_raw(url: str, bodies: list[bytes], *, clients: int, duration: float, max_requests: int) -> dict:
    """The same closed loop with a minimal keep-alive HTTP/1.1 client on raw asyncio sockets: it costs far
    less CPU than httpx, which matters when client and server share two cores."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    errors = 0
    sent = 0

    async def worker(i: int, end: float) -> None:
        nonlocal errors, sent
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while time.perf_counter() < end and sent < max_requests:
                sent += 1
                body = bodies[(i * 7919 + sent) % len(bodies)]
                t0 = time.perf_counter()
                writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % (parts.path.encode(), parts.netloc.encode(), len(body))
                             + body)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = next((int(line.split(b":")[1]) for line in lines
                               if line.lower().startswith(b"content-length")), 0)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                errors += not lines[0].startswith(b"HTTP/1.1 200")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
        finally:
            writer.close()

    await asyncio.gather(*[worker(i, time.perf_counter() + 2) for i in range(clients)])  # warm-up
    sent = 0
    latencies.clear()
    start = time.perf_counter()
    await asyncio.gather(*[worker(i, start + duration) for i in range(clients)])
    return summary(latencies, errors, time.perf_counter() - start)


WRK_SCRIPT = '''
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[BODY]==]
'''


def load_wrk(url: str, bodies: list[bytes], *, clients: int, duration: float, max_requests: int,
             threads: int = 2, script_extra: str = "") -> dict:
    """Debian's ``wrk`` (an independent load generator in C): ``clients`` connections for ``duration`` s."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.replace("BODY", bodies[0].decode()) + script_extra)
    try:
        done = subprocess.run([wrk, f"-t{min(threads, clients)}", f"-c{clients}", f"-d{max(1, round(duration))}s",
                               "--latency", "-s", script.name, url], capture_output=True, text=True,
                              timeout=duration + 120)
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> dict:
    """Requests, req/s, p50/p99 latency and errors (non-2xx, socket errors) from ``wrk --latency`` output."""
    import re

    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
        return round(float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit], 2)

    found = {k: re.search(p, text) for k, p in {
        "requests": r"(\d+) requests in ([\d.]+)(\w+)", "rps": r"Requests/sec:\s+([\d.]+)",
        "p50": r"50%\s+([\d.]+\w+)", "p99": r"99%\s+([\d.]+\w+)", "non2xx": r"Non-2xx or 3xx responses: (\d+)",
        "socket": r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"}.items()}
    errors = int(found["non2xx"].group(1)) if found["non2xx"] else 0
    if found["socket"]:
        errors += sum(int(g) for g in found["socket"].groups())
    seconds = float(found["requests"].group(2)) * {"s": 1.0, "ms": 0.001, "m": 60.0}.get(found["requests"].group(3), 1)
    result = {"requests": int(found["requests"].group(1)), "seconds": round(seconds, 2),
              "rps": float(found["rps"].group(1)), "p50_ms": ms(found["p50"].group(1)),
              "p99_ms": ms(found["p99"].group(1)), "errors": errors}
    extra = re.search(r"^versions: (.*)$", text, re.M)
    if extra:
        result["versions"] = json.loads(extra.group(1))
    return result


def summary(latencies: list[float], errors: int, elapsed: float) -> dict:
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "seconds": round(elapsed, 2), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "errors": errors}


def run_loop(coroutine):
    """Run the load generator on uvloop when it is installed (it spends less CPU per request)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def bench_server(name: str, cmd: list[str], port: int, path: str, bodies, args, env) -> dict[str, dict]:
    """One server, loaded by each client in turn (raw sockets, httpx, wrk); RSS around each load."""
    proc = start(cmd, port, env)
    results = {}
    try:
        for client, loader in (("raw sockets", load_raw), ("httpx", load), ("wrk", load_wrk)):
            if args.client not in (client.split()[0], "all") and not (args.client == "both" and client != "wrk"):
                continue
            before = rss_mb(proc.pid)
            url = f"http://127.0.0.1:{port}{path}"
            options = dict(clients=args.clients, duration=args.duration, max_requests=args.max_requests)
            result = load_wrk(url, bodies, **options) if client == "wrk" else run_loop(loader(url, bodies, **options))
            result.update(rss_before_mb=round(before, 1), rss_after_mb=round(rss_mb(proc.pid), 1))
            results[f"{name}, {client} client"] = result
            print(f"  {name} ({client}): {result}", flush=True)
    finally:
        stop(proc)
    return results


def bench_in_process(onnx: Path, images: list, duration: float, max_requests: int) -> dict:
    import onnxruntime as ort
    import psutil

    me = psutil.Process()
    before = me.memory_info().rss / 2**20
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    arrays = [np.asarray(img, dtype="float32").reshape(1, 28, 28, 1) for img in images]
    latencies = []
    end = time.perf_counter() + duration
    start = time.perf_counter()
    while time.perf_counter() < end and len(latencies) < max_requests:
        t0 = time.perf_counter()
        session.run(None, {name: arrays[len(latencies) % len(arrays)]})
        latencies.append(time.perf_counter() - t0)
    result = summary(latencies, 0, time.perf_counter() - start)
    result.update(rss_before_mb=round(before, 1), rss_after_mb=round(me.memory_info().rss / 2**20, 1))
    print(f"  onnxruntime in-process: {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per variant")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--max-requests", type=int, default=200_000, help="request budget per variant")
    parser.add_argument("--client", choices=["httpx", "raw", "wrk", "both", "all"], default="all",
                        help="load generator: httpx (asyncio), raw asyncio sockets, wrk (independent, C), "
                             "both (raw + httpx) or all three in turn (default)")
    parser.add_argument("--layout", choices=["hw", "hwc"], default="hw",
                        help="each image as 28x28 nested lists (hw, default) or 28x28x1 (hwc, the model's own shape)")
    parser.add_argument("--run", help="an existing run folder with exports/onnx/model.onnx (default: train one)")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "serve_load.json"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env = {**os.environ, "KFORGE_TOKEN": "", "TF_CPP_MIN_LOG_LEVEL": "3"}

    work = Path(tempfile.mkdtemp(prefix="kforge-serve-bench-"))
    try:
        run = Path(args.run) if args.run else prepare_run(work)
        onnx = run / "exports" / "onnx" / "model.onnx"
        images = test_images(layout=args.layout)
        bodies = [json.dumps({"instances": [img]}).encode() for img in images]
        kforge = str(Path(PYTHON).parent / "kforge")
        results = {}
        port = free_port()
        print("load:", args.clients, "clients,", args.duration, "s per variant", flush=True)
        results.update(bench_server(
            "kforge serve (onnxruntime + micro-batching)", [kforge, "serve", f"fashion={run}", "--port", str(port), "--quiet"], port,
            "/v1/models/fashion:predict", bodies, args, env))
        script = work / "naive_server.py"
        script.write_text(NAIVE_SERVER)
        for form in ("predict", "predict_on_batch"):
            port = free_port()
            results.update(bench_server(
                f"naive FastAPI + model.{form} per request (keras)",
                [PYTHON, str(script), str(run / "model.keras"), str(port), form], port,
                "/v1/models/naive:predict", bodies, args, env))
        results["onnxruntime in-process, one image per call (no HTTP)"] = bench_in_process(
            onnx, images, args.duration, args.max_requests)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def report(results: dict, args: argparse.Namespace) -> None:
    import fastapi
    import keras
    import onnxruntime
    import uvicorn

    speedups = {}
    for client in ("httpx", "raw sockets", "wrk"):
        for form in ("predict", "predict_on_batch"):
            mine = [r for n, r in results.items() if n.startswith("kforge") and n.endswith(f"{client} client")]
            naive = [r for n, r in results.items()
                     if n.startswith(f"naive FastAPI + model.{form} ") and n.endswith(f"{client} client")]
            if mine and naive:
                speedups[f"{client} vs {form}"] = round(mine[0]["rps"] / max(naive[0]["rps"], 1e-9), 2)
    print()
    print("| variant | req/s | p50 ms | p99 ms | errors | RSS before → after MB |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | "
              f"{r['rss_before_mb']} → {r['rss_after_mb']} |")
    print("\nkforge serve / naive throughput: " + ", ".join(f"{v}x ({k})" for k, v in speedups.items()))
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(), "cpus": os.cpu_count(),
           "python": platform.python_version(), "versions": {"keras": keras.__version__,
           "onnxruntime": onnxruntime.__version__, "fastapi": fastapi.__version__, "uvicorn": uvicorn.__version__},
           "clients": args.clients, "layout": args.layout, "duration_s": args.duration, "max_requests": args.max_requests,
           "results": results, "speedup_vs_naive": speedups,
           "command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:])}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
