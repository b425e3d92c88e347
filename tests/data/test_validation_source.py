"""``data.validation``: a named split, a folder or a table as the validation set, and every way to get it wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerasforge.data import load_dataset
from kerasforge.data.loader import load_raw
from kerasforge.errors import DataError, RecipeError
from kerasforge.recipe import DataSpec, load_recipe

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}


def image_folder(root: Path, classes=("red", "blue"), per_class: int = 6, size=(12, 12), mode="RGB",
                 suffix=".png") -> Path:
    """Class sub-folders of small flat-coloured images (learnable by colour)."""
    rng = np.random.default_rng(len(str(root)))
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.asarray(COLOURS[name]) + rng.integers(-20, 20, 3), 0, 255)
            img = Image.new("RGB", size, tuple(int(v) for v in pixels)).convert(mode)
            img.save(root / name / f"{i}{suffix}")
    return root


def table(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    lines = [",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rows(n: int, lo: float, hi: float, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = float(rng.uniform(lo, hi))
        out.append({"x": round(x, 3), "colour": rng.choice(["red", "blue"]), "label": "big" if x > (lo + hi) / 2
                    else "small"})
    return out


# ---------------------------------------------------------------------------------------------------
# named splits
# ---------------------------------------------------------------------------------------------------
def test_test_split_as_validation_with_a_note_and_nothing_carved():
    ds = load_dataset(DataSpec(dataset="digits", subset=120, validation="test"), seed=0, validation_split=0.2)
    assert ds.sizes()["validation"] == ds.sizes()["test"] > 0
    assert ds.sizes()["train"] == 120  # the subset, nothing carved from it
    np.testing.assert_array_equal(ds.y_val, ds.y_test)
    assert ds.validation_source["source"] == "test" and "no longer an independent estimate" in \
        ds.validation_source["note"]
    assert any("validation_split (0.2) is not used" in n for n in ds.notes)


def test_an_unknown_split_name_lists_the_ones_there_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"data.validation \(dev\).*it has: test\b"):
        load_raw(DataSpec(dataset="digits", subset=50, validation="dev"))
    with pytest.raises(DataError, match="training split.*memory, not generalisation"):
        load_raw(DataSpec(dataset="digits", subset=50, validation="train"))


def test_a_folder_with_its_own_validation_split_can_name_it(tmp_path, cache_dir):
    root = tmp_path / "photos"
    for split in ("train", "validation", "test"):
        image_folder(root / split, per_class=3)
    spec = DataSpec(dataset="image_folder", path=str(root), image_size=(8, 8), validation="validation")
    ds = load_raw(spec, validation_split=0.5).dataset
    assert ds.validation_source == {"source": "validation", "examples": 6} and ds.sizes()["train"] == 6


# ---------------------------------------------------------------------------------------------------
# folders
# ---------------------------------------------------------------------------------------------------
def test_a_validation_folder_is_decoded_like_training(tmp_path, cache_dir):
    train = image_folder(tmp_path / "train", per_class=6, size=(12, 12))
    val = image_folder(tmp_path / "my val é", per_class=2, size=(30, 20), mode="L", suffix=".jpg")  # other size/mode
    spec = DataSpec(dataset="image_folder", path=str(train), image_size=(10, 10), color_mode="rgb",
                    validation=str(val))
    ds = load_raw(spec, validation_split=0.3).dataset
    assert ds.x_val.shape == (4, 10, 10, 3) and ds.x_val.dtype == np.uint8
    assert isinstance(ds.x_val, np.memmap)  # from the decoded cache, so it streams like the others
    assert ds.sizes()["train"] + ds.sizes()["test"] == 12  # nothing carved for validation
    assert sorted(ds.y_val.tolist()) == [0, 0, 1, 1] and ds.class_names == ["blue", "red"]
    assert ds.validation_source == {"source": str(val), "examples": 4}


def test_validation_classes_the_training_lacks_are_named(tmp_path, cache_dir):
    train = image_folder(tmp_path / "train")
    val = image_folder(tmp_path / "val", classes=("red", "green"), per_class=1)
    with pytest.raises(DataError, match=r"data.validation.*class folders the training data lacks: green") as err:
        load_raw(DataSpec(dataset="image_folder", path=str(train), image_size=(8, 8), validation=str(val)))
    assert "blue, red" in err.value.fix
    only_red = image_folder(tmp_path / "red_only", classes=("red",), per_class=2)
    ds = load_raw(DataSpec(dataset="image_folder", path=str(train), image_size=(8, 8),
                           validation=str(only_red))).dataset
    assert "the validation set has no examples of blue" in ds.notes


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: d / "train", "is data.path itself"),
    (lambda d: table(d / "v.csv", [{"a": 1}]), "is a .csv file, but image_folder takes its validation set as a folder"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "holds no image files"),
    (lambda d: (d / "bad.zip").write_bytes(b"not a zip") and d / "bad.zip", "not a valid zip or tar archive"),
])
def test_bad_validation_folders_are_one_paragraph_about_the_field(tmp_path, cache_dir, make, match):
    train = image_folder(tmp_path / "train", per_class=2)
    bad = make(tmp_path)
    with pytest.raises(DataError, match=match) as err:
        load_raw(DataSpec(dataset="image_folder", path=str(train), image_size=(8, 8), validation=str(bad)))
    assert err.value.where.startswith("data.validation") and "\n" not in err.value.message
    assert "`data.path`" not in err.value.message


# ---------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_a_validation_table_uses_training_statistics_only(tmp_path, cache_dir, stream):
    """The training rows' x lies in [0, 10], the validation rows' in [100, 200]: a min-max over both would
    scale by 200, over training alone by about 10."""
    train = table(tmp_path / "train.csv", rows(60, 0, 10))
    val = table(tmp_path / "val.csv", rows(20, 100, 200, seed=1), columns=["label", "colour", "x"])  # other order
    spec = DataSpec(dataset="csv", path=str(train), target="label", validation=str(val), stream=stream)
    ds = load_dataset(spec, seed=0, compact=True, validation_split=0.1)
    assert ds.sizes() == {"train": 48, "validation": 20, "test": 12}
    stats = ds.preprocessing["pending"] if stream else ds.preprocessing
    x_col = 0  # x, then colour one-hot (blue, red)
    assert stats["divisor"][x_col] < 10.5, "validation rows fed the normalisation statistics"
    x_val = np.asarray(ds.x_val)
    if not stream:  # normalised in memory with the training's min/max: validation x lands far above 1
        assert x_val[:, x_col].min() > 5
    else:  # raw in the cache: the same encoding as training (x, colour=blue, colour=red)
        assert x_val[:, x_col].min() >= 100 and set(np.unique(x_val[:, 1:])) <= {0.0, 1.0}
    assert ds.validation_source == {"source": str(val), "examples": 20}
    assert not any("validation split is not used" in n for n in ds.notes)


@pytest.mark.parametrize("stream", [False, True])
def test_validation_table_columns_and_classes_must_match(tmp_path, cache_dir, stream):
    train = table(tmp_path / "train.csv", rows(30, 0, 10))
    odd = table(tmp_path / "odd.csv", [{"x": 1, "label": "big", "size": 3}])
    with pytest.raises(DataError, match=r"lacks the column\(s\) 'colour' and has column\(s\) the training table "
                                        r"lacks: 'size'") as err:
        load_raw(DataSpec(dataset="csv", path=str(train), target="label", validation=str(odd), stream=stream))
    assert err.value.where == f"data.validation ({odd})"
    other = table(tmp_path / "other.csv", [{"x": 1, "colour": "red", "label": "huge"}])
    with pytest.raises(DataError, match="classes the training data lacks: 'huge'"):
        load_raw(DataSpec(dataset="csv", path=str(train), target="label", validation=str(other), stream=stream))


def test_validation_table_bad_files(tmp_path, cache_dir):
    train = table(tmp_path / "train.csv", rows(30, 0, 10))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("x,colour,label\n1,rouge\xe9,big\n".encode("latin-1"))
    folder = tmp_path / "folder"
    folder.mkdir()
    npz = tmp_path / "v.npz"
    np.savez(npz, x=np.zeros(2))
    for bad, match in [(latin, "is not UTF-8 text: line 2"), (folder, "is a folder"), (npz, "not a CSV table"),
                       (train, "is data.path itself")]:
        with pytest.raises(DataError, match=match) as err:
            load_raw(DataSpec(dataset="csv", path=str(train), target="label", validation=str(bad)))
        assert err.value.where.startswith("data.validation")


# ---------------------------------------------------------------------------------------------------
# npz for named datasets, the recipe field
# ---------------------------------------------------------------------------------------------------
def test_an_npz_validation_set_for_digits(tmp_path):
    good = tmp_path / "val.npz"
    np.savez(good, x=np.full((5, 8, 8), 16.0), y=np.arange(5))
    ds = load_raw(DataSpec(dataset="digits", subset=60, validation=str(good))).dataset
    assert ds.x_val.shape == (5, 8, 8, 1) and ds.validation_source["examples"] == 5
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 8, 8)))
    with pytest.raises(DataError, match="holds the arrays images, not x and y"):
        load_raw(DataSpec(dataset="digits", subset=60, validation=str(bad)))


@pytest.mark.parametrize("value, match", [("", "is empty"), ("  ", "is empty"), (3, "got int 3"),
                                           (["test"], "got list")])
def test_the_recipe_field_refuses_what_is_not_a_name_or_path(value, match):
    with pytest.raises(RecipeError, match=match) as err:
        load_recipe({"data": {"dataset": "digits", "validation": value},
                     "model": {"layers": [{"type": "Dense", "units": 10}]}})
    assert err.value.where == "data.validation"


def test_tuning_on_the_test_split_is_refused():
    from kerasforge.tune import load_search

    recipe = {"data": {"dataset": "digits", "validation": "test"},
              "model": {"layers": [{"type": "Dense", "units": 10, "activation": "softmax"}]},
              "search": {"params": {"train.batch_size": {"choice": [16, 32]}}, "trials": 2}}
    with pytest.raises(RecipeError, match="optimistic, tuned number") as err:
        load_search(recipe)
    assert err.value.where == "data.validation"
    recipe["search"]["objective"] = {"allow_test_metric": True}
    load_search(recipe)  # said on purpose


def test_searching_over_the_test_split_as_validation_is_refused_too():
    from kerasforge.tune import load_search

    recipe = {"data": {"dataset": "digits"},
              "model": {"layers": [{"type": "Dense", "units": 10, "activation": "softmax"}]},
              "search": {"params": {"data.validation": {"choice": ["validation", "test"]}}, "trials": 2}}
    with pytest.raises(RecipeError, match="optimistic, tuned number") as err:
        load_search(recipe)
    assert err.value.where == "search.params.data.validation"
    recipe["search"]["params"]["data.validation"] = {"choice": ["validation"]}
    load_search(recipe)


def test_a_zipped_text_folder_as_validation(tmp_path, cache_dir):
    import shutil

    for root, n in ((tmp_path / "reviews", 6), (tmp_path / "val" / "wrapped", 2)):
        for label, word in (("neg", "awful"), ("pos", "great")):
            (root / label).mkdir(parents=True)
            for i in range(n):
                (root / label / f"{i}.txt").write_text(f"a {word} film number {i}", encoding="utf-8")
    archive = shutil.make_archive(str(tmp_path / "val"), "zip", tmp_path / "val")
    ds = load_raw(DataSpec(dataset="text_folder", path=str(tmp_path / "reviews"), validation=archive)).dataset
    assert sorted(ds.x_val.tolist()) == sorted(f"a {w} film number {i}" for w in ("awful", "great") for i in range(2))
    assert ds.y_val.tolist().count(1) == 2 and ds.validation_source == {"source": archive, "examples": 4}


def test_a_relative_path_is_found_like_data_path(tmp_path, monkeypatch):
    data_dir, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data_dir / "held out").mkdir(parents=True)
    elsewhere.mkdir()
    np.savez(data_dir / "held out" / "val.npz", x_val=np.zeros((3, 8, 8, 1)), y_val=np.array([0, 1, 2]))
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("KFORGE_DATA_DIR", str(data_dir))
    ds = load_raw(DataSpec(dataset="digits", subset=40, validation="held out/val.npz")).dataset
    assert ds.validation_source == {"source": str(data_dir / "held out" / "val.npz"), "examples": 3}


def test_python_data_may_name_its_own_validation_split():
    from kerasforge.data.python_data import read_python_data

    x, y = np.arange(40, dtype="float32").reshape(20, 2), np.arange(20) % 2
    loaded = read_python_data({"train": (x[:14], y[:14]), "validation": (x[14:], y[14:])}, test_split=0.25)
    ds = load_dataset(DataSpec(dataset="python", validation="validation"), loaded=loaded, validation_split=0.1)
    assert ds.validation_source == {"source": "validation", "examples": 6}
    loaded = read_python_data((x, y), test_split=0.25)
    with pytest.raises(DataError, match="is a path, but the data is given in Python"):
        load_dataset(DataSpec(dataset="python", validation="val.npz"), loaded=loaded)
