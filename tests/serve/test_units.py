"""The serving parts on their own: input decoding, micro-batching, metrics text, the registry's names."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from kerasforge.errors import KerasforgeError
from kerasforge.serve.batching import MicroBatcher
from kerasforge.serve.errors import ServeError
from kerasforge.serve.inputs import InputSpec, examples_array, instances_array, parse_json, top_k
from kerasforge.serve.metrics import Metrics
from kerasforge.serve.registry import ModelRegistry, open_model

IMAGE = InputSpec(kind="image", shape=(4, 4, 1), dtype="float32")
WORDS = InputSpec(kind="sequence", shape=(5,), dtype="int32", preprocessing={"num_words": 10})


def test_instances_become_one_batch_with_the_channel_axis():
    x = instances_array({"instances": [np.ones((4, 4)).tolist()] * 3}, IMAGE)
    assert x.shape == (3, 4, 4, 1) and x.dtype == np.float32


def test_word_ids_are_padded_at_the_front_and_checked():
    x = examples_array([[1, 2], [3, 4, 5, 6, 7, 8]], WORDS, where="instances")
    assert x.tolist() == [[0, 0, 0, 1, 2], [4, 5, 6, 7, 8]]
    with pytest.raises(ServeError, match="0 to 9"):
        examples_array([[1, 12]], WORDS, where="instances")
    with pytest.raises(ServeError, match="word ids"):
        examples_array([[1.5]], WORDS, where="instances")


def test_errors_are_4xx_with_a_code():
    with pytest.raises(ServeError) as info:
        parse_json(b"")
    assert info.value.status == 400 and info.value.code == "empty_body"
    assert info.value.body() == {"error": "the request body is empty. Send JSON such as {\"instances\": [...]}."}


def test_top_k_orders_by_probability():
    top = top_k(np.array([0.1, 0.6, 0.3]), ["a", "b", "c"], 3)
    assert [t["label"] for t in top] == ["b", "c", "a"]


def test_micro_batcher_groups_concurrent_requests_and_scatters_rows():
    calls = []

    def predict(x):
        calls.append(len(x))
        return x * 2

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=8, timeout_ms=20)
        await batcher.start()
        inputs = [np.full((1 + i % 2, 3), i, dtype="float32") for i in range(10)]
        outs = await asyncio.gather(*[batcher.submit(x) for x in inputs])
        await batcher.stop()
        return inputs, outs

    inputs, outs = asyncio.run(scenario())
    for x, out in zip(inputs, outs, strict=True):
        np.testing.assert_array_equal(out, x * 2)
    assert sum(calls) == 15 and max(calls) <= 8 and len(calls) < 10


def test_micro_batcher_passes_engine_errors_to_every_waiting_request():
    def predict(x):
        raise ValueError("broken")

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=4, timeout_ms=5)
        await batcher.start()
        results = await asyncio.gather(*[batcher.submit(np.zeros((1, 2))) for _ in range(3)],
                                       return_exceptions=True)
        await batcher.stop()
        return results, None

    results, _ = asyncio.run(scenario())
    assert all(isinstance(r, ValueError) for r in results)


def test_metrics_text_format():
    metrics = Metrics()
    metrics.observe_request("/v1/models/{name}:predict", "POST", 200, 0.004)
    metrics.observe_batch("fashion", 12)
    text = metrics.render()
    assert 'kforge_request_duration_seconds_bucket{endpoint="/v1/models/{name}:predict",le="0.005"} 1' in text
    assert 'kforge_batch_size_bucket{model="fashion",le="8.0"} 0' in text
    assert 'kforge_batch_size_bucket{model="fashion",le="16.0"} 1' in text
    assert 'kforge_batch_size_sum{model="fashion"} 12' in text
    assert text.endswith("\n")


def test_registry_refuses_bad_names_duplicates_and_non_runs(runs, tmp_path):
    with pytest.raises(KerasforgeError, match="cannot be a model name"):
        open_model(runs["fashion_onnx"], name="../evil")
    with pytest.raises(KerasforgeError, match="two models are named"):
        ModelRegistry.from_paths([str(runs["fashion_onnx"]), f"fashion={runs['fashion_onnx']}"])
    with pytest.raises(KerasforgeError, match="neither a run folder"):
        open_model(tmp_path / "missing")
    with pytest.raises(KerasforgeError, match="no run.json"):
        open_model(tmp_path)


def test_registry_lookup_never_touches_the_file_system(runs):
    registry = ModelRegistry.from_paths([str(runs["fashion_onnx"])])
    for name in ("../fashion_onnx", "fashion/../fashion", "/etc/passwd", ""):
        with pytest.raises(ServeError) as info:
            registry.get(name)
        assert info.value.status == 404
    assert registry.get("fashion").engine.name == "onnxruntime"
    export = open_model(runs["fashion_onnx"] / "exports" / "onnx" / "model.onnx", name="direct")
    assert export.class_names[0] == "T-shirt/top" and export.engine.spec.shape == (28, 28, 1)


def test_version_policy_parses_tf_servings_three_kinds():
    from kerasforge.serve.policy import VersionPolicy

    versions = {1: "a", 2: "b", 5: "c"}
    assert VersionPolicy.parse("all").keep(versions) == [1, 2, 5]
    assert VersionPolicy.parse("latest").keep(versions) == [5]
    assert VersionPolicy.parse("latest:2").keep(versions) == [2, 5]
    assert VersionPolicy.parse("specific:1,5,9").keep(versions) == [1, 5]
    for bad in ("newest", "latest:0", "latest:x", "specific:", "all:3"):
        with pytest.raises(KerasforgeError, match="model_version_policy"):
            VersionPolicy.parse(bad)


def test_labels_must_point_at_loaded_versions(runs):
    registry = ModelRegistry.from_paths([str(runs["fashion_onnx"])], labels=["stable=1"])
    assert registry.get("fashion", label="stable").version == 1
    for bad in ("stable=2", "fashion:1bad=1", "other:stable=1", "stable"):
        with pytest.raises(KerasforgeError, match="--label"):
            registry.set_label(bad)
    with pytest.raises(ServeError) as info:
        registry.get("fashion", label="canary")
    assert info.value.status == 404 and "Unrecognized servable version label: canary" in info.value.message


def test_b64_values_decode_both_alphabets_and_refuse_garbage():
    from kerasforge.serve.inputs import b64_bytes

    assert b64_bytes({"b64": "-_8"}, "x") == b"\xfb\xff"  # URL-safe, unpadded
    assert b64_bytes({"b64": "+/8="}, "x") == b"\xfb\xff"
    for bad in ({"b64": "%%%"}, {"b64": 5}, {"b64": "aa", "x": 1}, "aa"):
        with pytest.raises(ServeError):
            b64_bytes(bad, "x")
