"""CI smoke of the training-speed benchmark: the MLP workload on a tiny subset, one epoch, all three variants.

No timing assertions: only that every variant ran on the same data, the JSON and table have their shape,
and every accuracy is above chance.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_speed.py"


@pytest.fixture(scope="module")
def train_speed():
    spec = importlib.util.spec_from_file_location("train_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_speed"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.full  # three trainings of the benchmark (22 s in CI); its argument checks below stay in the default set
def test_mlp_smoke_runs_all_three_variants(train_speed, tmp_path):
    out = tmp_path / "train_speed.json"
    report = train_speed.main(["--workloads", "fashion_mlp", "--epochs", "2", "--subset", "600",
                               "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["results"] == report["results"]
    assert {"date", "command", "machine", "versions", "threads", "table"} <= set(saved)
    assert saved["versions"]["keras"] and saved["versions"]["torch"] and saved["machine"]["cores"] >= 1
    results = saved["results"]["fashion_mlp"]
    assert list(results) == ["keras", "torch", "kerasforge"]
    sizes = {json.dumps(r["data"]["sizes"], sort_keys=True) for r in results.values()}
    assert len(sizes) == 1  # the same split for every variant
    for variant, r in results.items():
        assert "error" not in r, r.get("log_tail")
        for key in ("total_s", "compile_s", "steady_epoch_s", "samples_per_s", "test_accuracy", "peak_rss_mb",
                    "rss_growth_mb"):
            assert isinstance(r[key], int | float), (variant, key)
        assert len(r["epoch_times_s"]) == 2 and "device_peak_mb" in r
        assert r["test_accuracy"] > 0.2, variant  # ten classes: chance is 0.1
    assert results["kerasforge"]["fast_path"]["applies"] is True
    lines = saved["table"].splitlines()
    assert lines[0].split()[:2] == ["workload", "variant"] and any("speed-up" in line for line in lines)


def test_unknown_names_are_refused(train_speed):
    with pytest.raises(SystemExit):
        train_speed.main(["--workloads", "nope"])
    with pytest.raises(SystemExit):
        train_speed.main(["--variants", "keras,nope"])


def test_a_workload_whose_data_is_missing_is_skipped(train_speed, tmp_path, monkeypatch):
    monkeypatch.setenv("KFORGE_DATA_DIR", str(tmp_path))
    report = train_speed.main(["--workloads", "cifar10_cnn", "--out", str(tmp_path / "r.json")])
    assert all("cifar10-jpeg.npz not found" in r["skipped"] for r in report["results"]["cifar10_cnn"].values())
