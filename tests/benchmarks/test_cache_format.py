"""CI smoke of the cache-format benchmark: 64 images, one round, warm passes only (no page-cache drop, no
cgroup). No timing assertions: only that both stores were built and read through the Grain pipeline, return
the same data, and the JSON and table have their shape."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cache_format.py"


@pytest.fixture(scope="module")
def cache_format():
    spec = importlib.util.spec_from_file_location("cache_format", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cache_format"] = module
    spec.loader.exec_module(module)
    return module


def test_both_formats_are_built_and_read_alike(cache_format, tmp_path: Path) -> None:
    out = tmp_path / "cache_format.json"
    report = cache_format.main(["--images", "64", "--rounds", "1", "--no-cold", "--no-cgroup", "--shard-images", "40",
                                "--variants", "npy,arecord", "--workdir", str(tmp_path / "work"), "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["summary"] == report["summary"] and {"date", "command", "machine", "versions"} <= set(saved)
    assert saved["versions"]["array-record"] and saved["versions"]["grain"]
    builds = saved["rounds"][0]["builds"]
    assert builds["npy"]["bytes"] >= 64 * 160 * 160 * 3 and builds["arecord"]["shards"] == 2
    reads = saved["rounds"][0]["reads"]
    for fmt in ("npy", "arecord"):
        assert "error" not in reads[fmt], reads[fmt].get("error")
        for mode in ("random_warm", "sequential_warm"):
            assert reads[fmt][mode]["images"] == 64 and reads[fmt][mode]["images_per_s"] > 0, (fmt, mode)
        assert saved["summary"][fmt]["random_warm_per_s"] > 0
    # the same images and labels whatever the store and the order
    sums = {(r[m]["pixel_sum"], r[m]["label_sum"]) for r in reads.values() for m in ("random_warm", "sequential_warm")}
    assert len(sums) == 1
    assert saved["table"].splitlines()[1].split()[:2] == ["format", "build"] and not (tmp_path / "work").exists()


def test_an_unknown_variant_is_refused(cache_format) -> None:
    with pytest.raises(SystemExit):
        cache_format.main(["--variants", "npy,lmdb"])
