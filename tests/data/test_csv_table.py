"""csv: numeric and one-hot features, class and regression targets, views, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerasforge.data import load_dataset
from kerasforge.errors import DataError
from kerasforge.recipe import DataSpec


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "table.csv"
    path.write_text(text)
    return path


def _animals(tmp_path: Path, n: int = 40) -> Path:
    rows = ["weight,height,colour,species"]
    for i in range(n):
        species = ["cat", "dog"][i % 2]
        rows.append(f"{3 + i % 2 * 20 + i * 0.1:.1f},{20 + i % 2 * 30},{['red', 'blue', 'green'][i % 3]},{species}")
    return _write(tmp_path, "\n".join(rows) + "\n")


def test_classes_onehot_and_minmax_from_train(tmp_path: Path) -> None:
    ds = load_dataset(DataSpec(dataset="csv", path=str(_animals(tmp_path)), target="species", test_split=0.25), seed=0)
    assert ds.class_names == ["cat", "dog"] and ds.task == "binary"
    assert ds.x_train.shape == (30, 5) and ds.x_train.dtype == np.float32  # weight, height, 3 colours
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert np.bincount(ds.y_test).tolist() == [5, 5]
    assert set(np.unique(ds.x_train[:, 2:]).tolist()) == {0.0, 1.0}
    assert (ds.x_train[:, 2:].sum(axis=1) == 1).all()
    assert any("one-hot" in n and "colour" in n for n in ds.notes)


def test_regression_target_and_standardize(tmp_path: Path) -> None:
    rows = ["a;b;price"] + [f"{i};{i % 7};{i * 1.5 + 0.25}" for i in range(50)]
    ds = load_dataset(DataSpec(dataset="csv", path=str(_write(tmp_path, "\n".join(rows))), target="price",
                               normalize="standardize"), seed=0)
    assert ds.task == "regression" and ds.num_classes == 1 and ds.y_train.dtype == np.float32
    assert np.allclose(ds.x_train.mean(axis=0), 0, atol=1e-5) and np.allclose(ds.x_train.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(ds.x_test.mean(axis=0), 0, atol=1e-6)  # test uses train statistics


def test_small_integer_target_is_classes(tmp_path: Path) -> None:
    rows = ["x,label"] + [f"{i},{i % 3 + 1}" for i in range(30)]
    ds = load_dataset(DataSpec(dataset="csv", path=str(_write(tmp_path, "\n".join(rows))), target="label"))
    assert ds.class_names == ["1", "2", "3"] and ds.task == "multiclass"


def test_views_by_column_and_slice(tmp_path: Path) -> None:
    path = _animals(tmp_path)
    ds = load_dataset(DataSpec(dataset="csv", path=str(path), target="species",
                               views={"size": ["weight", "height"], "look": ["colour"]}), seed=0)
    assert isinstance(ds.x_train, dict) and ds.input_shape == {"size": (2,), "look": (3,)}
    assert ds.sizes()["test"] == 8
    sliced = load_dataset(DataSpec(dataset="csv", path=str(path), target="species", views={"head": "0:1", "rest": "1:"}))
    assert sliced.input_shape == {"head": (1,), "rest": (4,)}


def test_view_with_missing_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="names column 'colour_name'") as info:
        load_dataset(DataSpec(dataset="csv", path=str(_animals(tmp_path)), target="species",
                              views={"look": ["colour_name"]}))
    assert "data.views.look" in str(info.value) and "Did you mean 'colour'" in str(info.value)


def test_missing_target_column(tmp_path: Path) -> None:
    path = _animals(tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset(DataSpec(dataset="csv", path=str(path), target="specie"))
    msg = str(info.value)
    assert str(path) in msg and "Did you mean 'species'" in msg and "weight, height, colour, species" in msg
    assert "data.target" in msg


@pytest.mark.parametrize("text, match", [("", "is empty"), ("a,b\n", "no rows"), ("a,b\n1,2,3\n", "line 2")])
def test_empty_or_ragged_csv(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_dataset(DataSpec(dataset="csv", path=str(_write(tmp_path, text)), target="b"))


def test_missing_numbers_are_filled(tmp_path: Path) -> None:
    rows = ["x,y,t"] + [f"{'' if i == 3 else i},{i},{'a' if i % 2 else 'b'}" for i in range(20)]
    ds = load_dataset(DataSpec(dataset="csv", path=str(_write(tmp_path, "\n".join(rows))), target="t",
                               normalize="none"), seed=0)
    assert np.isfinite(ds.x_train).all() and any("filled 1 missing" in n for n in ds.notes)
