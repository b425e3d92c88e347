"""kforge predict: one meaning for every output (probabilities, softmax/sigmoid applied once; raw pixels into
exports that take raw pixels), and inputs that are bombs, pickles or junk refused clearly."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerasforge.cli import main
from kerasforge.predict import predict

DIGITS = {
    "data": {"dataset": "digits", "subset": 300},
    "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                         {"type": "Dense", "units": 10, "activation": "softmax"}]},
    "train": {"epochs": 3, "batch_size": 32},
}


def _train(recipe: dict, root: Path) -> Path:
    import kerasforge
    from kerasforge.console import set_quiet

    set_quiet(True)
    return kerasforge.train(recipe, output_dir=root, show_summary=False, track=False).path


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    index = int(np.flatnonzero(digits.target == 3)[0])
    path = tmp_path_factory.mktemp("img") / "three.png"
    Image.fromarray((digits.images[index] * 255 / 16).astype("uint8")).save(path)
    return path


@pytest.fixture(scope="module")
def logits_run(tmp_path_factory) -> Path:
    """A run whose model ends in logits (loss from_logits: true), exported as keras and h5."""
    recipe = {**DIGITS, "name": "digits_logits",
              "model": {"layers": ["Flatten", {"type": "Dense", "units": 32, "activation": "relu"},
                                   {"type": "Dense", "units": 10}]},
              "train": {**DIGITS["train"], "loss": {"type": "sparse_categorical_crossentropy", "from_logits": True}}}
    run = _train(recipe, tmp_path_factory.mktemp("logits"))
    assert main(["export", str(run), "--format", "keras,h5", "-q", "--examples", "32"]) == 0
    return run


def _probs(rows: list[dict]) -> dict[str, float]:
    return dict(rows[0]["top"])


def test_run_and_its_exports_give_the_same_probabilities(logits_run, digit_png):
    """An export takes raw 0..255 pixels and ends in softmax: predict neither rescales nor re-softmaxes it,
    and on the run itself applies softmax once to the logits."""
    on_run = _probs(predict(logits_run, [digit_png], top_k=10))
    on_model_file = _probs(predict(logits_run / "model.keras", [digit_png], top_k=10))
    on_keras = _probs(predict(logits_run / "exports" / "keras" / "model.keras", [digit_png], top_k=10))
    on_h5 = _probs(predict(logits_run / "exports" / "h5" / "model.h5", [digit_png], top_k=10))
    assert sum(on_run.values()) == pytest.approx(1.0, abs=1e-4)
    assert all(0.0 <= p <= 1.0 for p in on_run.values())
    for other in (on_model_file, on_keras, on_h5):
        assert other.keys() == on_run.keys()
        for name, p in on_run.items():
            assert other[name] == pytest.approx(p, abs=1e-4)


def test_single_example_without_its_channel_axis(logits_run, tmp_path, digit_png):
    """A single (8, 8) array for a (8, 8, 1) model is one example, not eight."""
    pixels = np.asarray(Image.open(digit_png), dtype=np.uint8)
    np.save(tmp_path / "one.npy", pixels)
    rows = predict(logits_run, [tmp_path / "one.npy"])
    assert len(rows) == 1
    assert rows[0]["top"][0][0] == predict(logits_run, [digit_png])[0]["top"][0][0]


def test_float_arrays_of_raw_or_scaled_pixels_both_give_the_images_answer(logits_run, tmp_path, digit_png,
                                                                           capsys):
    """Pixels saved as float32 0..255, as whole numbers, or as `x / 255.0` give the PNG's probabilities from the
    run and from its export (raw floats were fed unscaled before, and scaled ones to an export: silent wrong
    answers); a scaled array is read as pixels / 255 with a note naming the file."""
    from kerasforge.console import set_quiet

    pixels = np.asarray(Image.open(digit_png), dtype=np.float32)
    np.save(tmp_path / "raw.npy", pixels)
    np.save(tmp_path / "scaled.npy", pixels / 255.0)
    np.save(tmp_path / "ints.npy", pixels.astype(np.int64))
    expected = _probs(predict(logits_run, [digit_png], top_k=10))
    export = logits_run / "exports" / "keras" / "model.keras"
    for model, name in ((logits_run, "raw.npy"), (logits_run, "scaled.npy"), (logits_run, "ints.npy"),
                        (export, "raw.npy")):
        got = _probs(predict(model, [tmp_path / name], top_k=10))
        assert got.keys() == expected.keys(), name
        assert all(got[k] == pytest.approx(v, abs=1e-4) for k, v in expected.items()), (model, name, got)
    assert _probs(predict(export, [tmp_path / "scaled.npy"], top_k=10)) == pytest.approx(
        _probs(predict(export, [tmp_path / "raw.npy"], top_k=10)), abs=1e-4)
    set_quiet(False)
    try:
        capsys.readouterr()
        predict(logits_run, [tmp_path / "scaled.npy"])
        err = capsys.readouterr().err
        assert "scaled.npy" in err and "divided by 255" in err, err
        predict(logits_run, [tmp_path / "raw.npy"])
        assert "divided by 255" not in capsys.readouterr().err
    finally:
        set_quiet(True)


@pytest.fixture
def bad_inputs(tmp_path) -> Path:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (tmp_path / "pickled.npy").write_bytes(pickle.dumps({"x": np.zeros(3)}))
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY junk that is not an array")
    (tmp_path / "text.npy").write_text("hello")
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    np.save(tmp_path / "nan.npy", np.full((8, 8, 1), np.nan, dtype="float32"))
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, dtype="float32"))
    header["shape"] = (10 ** 6, 10 ** 6)
    with open(tmp_path / "huge.npy", "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\x00" * 64)
    Image.new("L", (12000, 12000)).save(tmp_path / "bomb.png", optimize=True)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    return tmp_path


@pytest.mark.parametrize("name, expected", [
    ("objects.npy", "pickle"),
    ("pickled.npy", "pickle"),
    ("junk.npy", "not a valid .npy"),
    ("text.npy", ".npy"),
    ("strings.npy", "not numbers"),
    ("nan.npy", "NaN"),
    ("huge.npy", "not a valid .npy"),
    ("bomb.png", "decompression bomb"),
    ("junk.png", "cannot read the image"),
])
def test_inputs_that_are_bombs_pickles_or_junk(capsys, logits_run, bad_inputs, name, expected):
    code = main(["predict", str(logits_run), str(bad_inputs / name)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert name in err and expected in err, err
