"""The memory pre-flight: available memory from the budget variable, and its choice or refusal."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.data.memory import available_memory, cgroup_limit, mem_available, parse_bytes, plan_data
from kerasforge.errors import DataError


def test_parse_bytes() -> None:
    assert parse_bytes("3G") == 3 << 30 and parse_bytes("512MiB") == 512 << 20 and parse_bytes("100") == 100
    with pytest.raises(DataError, match="not a size"):
        parse_bytes("lots")


def test_available_memory_reads_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KFORGE_MEMORY_BUDGET", raising=False)
    free, source = available_memory()
    assert 0 < free <= (mem_available() or free) and source
    limit = cgroup_limit()
    assert limit is None or limit[0] > 0


def _data(n: int):
    x = {"train": np.zeros((n, 32, 32, 3), np.uint8), "validation": None, "test": np.zeros((10, 32, 32, 3), np.uint8)}
    return x, {"train": np.zeros(n), "validation": None, "test": np.zeros(10)}


def test_auto_streams_when_the_budget_is_small(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data(2000)  # ~6 MiB
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", "1G")
    assert plan_data("auto", x, y, None, 32, can_stream=True).stream is False
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", "8M")
    plan = plan_data("auto", x, y, None, 32, can_stream=True)
    assert plan.stream and plan.available_bytes == 8 << 20 and "over 60%" in plan.reason


def test_refusal_gives_numbers_and_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data(2000)
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", "4M")
    with pytest.raises(DataError) as info:
        plan_data(False, x, y, None, 32, can_stream=True)
    message = info.value.message
    assert "does not fit in memory" in message and "4 MiB is available ($KFORGE_MEMORY_BUDGET)" in message
    assert "data.stream: auto or true" in message and "\n" not in message
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", "1M")
    with pytest.raises(DataError, match="even streaming"):
        plan_data(True, x, y, None, 32, can_stream=True)


def test_a_model_that_scales_per_batch_streams_whenever_it_may(monkeypatch: pytest.MonkeyPatch) -> None:
    """must_stream (a model that cannot scale raw pixels itself): streamed even when the data fits, with
    that reason; data.stream: false is the caller's; and the streaming peak is still checked."""
    x, y = _data(2000)
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", "1G")
    why = "MyModel is a subclassed model (its own call): it cannot scale raw values itself"
    plan = plan_data("auto", x, y, None, 32, can_stream=True, must_stream=why)
    assert plan.stream and plan.reason == why
    assert plan_data(False, x, y, None, 32, can_stream=True, must_stream=why).stream is False
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", "1M")
    with pytest.raises(DataError, match="even streaming"):
        plan_data("auto", x, y, None, 32, can_stream=True, must_stream=why)


def test_texts_in_the_cache_count_as_data_on_disk(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kerasforge.data.text_cache import read_texts, write_texts

    write_texts(tmp_path, "train", [f"review number {i} " * 20 for i in range(500)])
    texts = read_texts(tmp_path, "train")
    x, y = {"train": texts, "validation": None, "test": None}, {"train": np.zeros(500), "validation": None, "test": None}
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", "1G")
    roomy = plan_data("auto", x, y, None, 16, can_stream=True)
    assert not roomy.stream and roomy.details["resident_data"] == texts.nbytes > (tmp_path / "texts_train.bin").stat().st_size
    budget = (roomy.streaming_peak + roomy.in_memory_peak) // 2  # streaming fits, in memory is over 60%
    assert roomy.in_memory_peak > 0.6 * budget >= 0.6 * roomy.streaming_peak
    monkeypatch.setenv("KFORGE_MEMORY_BUDGET", str(budget))
    tight = plan_data("auto", x, y, None, 16, can_stream=True)
    assert tight.stream and "over 60%" in tight.reason
