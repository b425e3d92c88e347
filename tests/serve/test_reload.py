"""Hot reload of a TF Serving base path: a version dropped in while clients are predicting is loaded and
swapped in without one failed request; the version policy retires the old one; a broken one is reported."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time

import httpx
import numpy as np
from serve_helpers import running_server

from kerasforge.serve.app import create_app
from kerasforge.serve.policy import VersionPolicy
from kerasforge.serve.registry import ModelRegistry

IMAGE = np.zeros((28, 28)).tolist()


def _drop_in(source, base, version: int) -> None:
    """Copy a version folder under a hidden name, then rename it into place (as `kforge export` does)."""
    hidden = base / f".incoming-{version}"
    shutil.copytree(source, hidden)
    os.rename(hidden, base / str(version))


def _load(url: str, stop: threading.Event, seen: list) -> None:
    """8 concurrent clients predicting until ``stop``; records (status, version) of every answer."""
    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            while not stop.is_set():
                try:
                    r = await c.post("/v1/models/fashion:predict", json={"instances": [IMAGE]})
                    seen.append((r.status_code, r.headers.get("x-kforge-model-version")))
                except httpx.HTTPError as exc:
                    seen.append((type(exc).__name__, None))

    async def main() -> None:
        await asyncio.gather(*[client() for _ in range(8)])

    asyncio.run(main())


def test_a_new_version_is_swapped_in_under_load_and_the_old_one_retired(base_path, tmp_path):
    base = tmp_path / "fashion"
    base.mkdir()
    _drop_in(base_path / "1", base, 1)
    registry = ModelRegistry.from_paths([str(base)], policy=VersionPolicy.parse("latest:1"))
    with running_server(create_app(registry, reload_seconds=0.2)) as url:
        seen: list = []
        stop = threading.Event()
        load = threading.Thread(target=_load, args=(url, stop, seen))
        load.start()
        try:
            deadline = time.monotonic() + 60
            while len(seen) < 20:  # a busy machine: wait for answers rather than for a fixed time
                assert time.monotonic() < deadline, "no answers before the swap"
                time.sleep(0.05)
            before = len(seen)
            _drop_in(base_path / "2", base, 2)  # the SavedModel version
            deadline = time.monotonic() + 90
            while not any(v == "2" for _, v in seen[before:]):
                assert time.monotonic() < deadline, "version 2 was never served"
                time.sleep(0.1)
            switched = len(seen)
            deadline = time.monotonic() + 60
            while len(seen) < switched + 48:
                assert time.monotonic() < deadline, "too few answers after the swap"
                time.sleep(0.05)
        finally:
            stop.set()
            load.join(timeout=60)
        failures = [s for s, _ in seen if s != 200]
        print(f"\nhot swap under load: {len(seen)} requests, {len(failures)} failed (shared machine)")
        assert not failures and before > 0
        assert {v for _, v in seen[:before]} == {"1"}
        late = [v for _, v in seen[switched + 16:]]  # after the requests in flight at the switch
        assert late and set(late) == {"2"}
        with httpx.Client(base_url=url, timeout=30) as c:
            deadline = time.monotonic() + 30
            while True:
                states = {s["version"]: s["state"] for s in c.get("/v1/models/fashion").json()["model_version_status"]}
                if states == {"2": "AVAILABLE", "1": "END"}:
                    break
                assert time.monotonic() < deadline, states
                time.sleep(0.1)
            # a broken version is reported in the status and never served
            broken = tmp_path / "broken"
            broken.mkdir()
            (broken / "model.onnx").write_bytes(b"not a model")
            _drop_in(broken, base, 3)
            deadline = time.monotonic() + 30
            while True:
                status = {s["version"]: s for s in c.get("/v1/models/fashion").json()["model_version_status"]}
                if status.get("3", {}).get("state") == "END":
                    break
                assert time.monotonic() < deadline, status
                time.sleep(0.1)
            assert status["3"]["status"]["error_code"] == "UNKNOWN" and status["3"]["status"]["error_message"]
            answer = c.post("/v1/models/fashion:predict", json={"instances": [IMAGE]})
            assert answer.status_code == 200 and answer.headers["x-kforge-model-version"] == "2"
