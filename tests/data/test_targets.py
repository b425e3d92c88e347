"""Labels per model output: ``data.targets`` expressions, ``y`` as a dict, and names checked against outputs."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.data.dataset import Dataset
from kerasforge.data.python_data import read_python_data
from kerasforge.data.split import split_validation
from kerasforge.data.targets import check_output_fields, derive, infer_task, output_heads
from kerasforge.errors import DataError, RecipeError
from kerasforge.recipe import load_recipe


def toy(n: int = 40) -> Dataset:
    y = np.arange(n) % 10
    return Dataset("toy", np.arange(n, dtype=np.float32)[:, None], y, np.zeros((10, 1), np.float32),
                   np.arange(10), [str(i) for i in range(10)])


@pytest.mark.parametrize(("expression", "expected"), [
    ("label % 2", [0, 1, 0, 1, 0, 1]),
    ("label >= 3", [0, 0, 0, 1, 1, 1]),
    ("label in [0, 4]", [1, 0, 0, 0, 1, 0]),
    ("label not in (0, 4)", [0, 1, 1, 1, 0, 1]),
    ("(label > 1) & (label < 4)", [0, 0, 1, 1, 0, 0]),
    ("label > 1 and not label == 5", [0, 0, 1, 1, 1, 0]),
    ("1 < label <= 3", [0, 0, 1, 1, 0, 0]),
    ("label * 0.5", [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]),
])
def test_expressions(expression, expected):
    assert derive(expression, np.arange(6), where="data.targets.x").tolist() == expected


@pytest.mark.parametrize("expression", ["__import__('os').system('true')", "label.__class__", "open('f')",
                                        "lambda: 1", "x + 1", "'text'", "label +", "[i for i in label]"])
def test_expressions_that_are_not_allowed_name_the_field(expression):
    with pytest.raises(RecipeError) as caught:
        derive(expression, np.arange(6), where="data.targets.parity")
    assert caught.value.where == "data.targets.parity" and "label" in caught.value.fix
    with pytest.raises(RecipeError, match="NaN or infinite") as caught:
        derive("label / 0", np.arange(6), where="data.targets.parity")
    assert caught.value.where == "data.targets.parity"


def test_heads_take_targets_given_arrays_and_the_dataset_labels():
    ds = split_validation(toy(), 0.25, seed=0)
    heads = output_heads(ds, {"parity": "label % 2", "value": "label * 0.5"}, ["digit", "parity", "value"])
    assert heads.tasks == {"digit": "multiclass", "parity": "binary", "value": "regression"}
    assert heads.num_classes == {"digit": 10, "parity": 2, "value": 1}
    for split in ("train", "validation", "test"):
        labels = heads.split(split)
        original = {"train": ds.y_train, "validation": ds.y_val, "test": ds.y_test}[split]
        np.testing.assert_array_equal(labels["digit"], original)
        np.testing.assert_array_equal(labels["parity"], original % 2)
        np.testing.assert_allclose(labels["value"], original * 0.5)
    assert heads.describe()["parity"]["labels"] == "data.targets: label % 2"
    assert output_heads(toy(), None, ["output"]) is None  # one output, the dataset's labels: unchanged path


def test_a_wrong_output_name_lists_the_valid_ones():
    with pytest.raises(RecipeError) as caught:
        output_heads(toy(), {"parrity": "label % 2"}, ["digit", "parity"])
    assert caught.value.where == "data.targets.parrity"
    assert "parity" in str(caught.value) and "digit, parity" in caught.value.fix


def test_y_as_a_dict_follows_every_split_row_for_row():
    x = np.arange(200, dtype=np.float32)[:, None]
    y = {"digit": np.arange(200) % 10, "half": (np.arange(200) >= 100).astype(int), "size": np.arange(200) / 7}
    ds = split_validation(read_python_data((x, y), test_split=0.25, seed=0).dataset, 0.2, seed=0)
    heads = output_heads(ds, None, ["digit", "half", "size"])
    assert heads.tasks == {"digit": "multiclass", "half": "binary", "size": "regression"}
    for split, xs in (("train", ds.x_train), ("validation", ds.x_val), ("test", ds.x_test)):
        rows = xs[:, 0].astype(int)  # each feature is its row number: the labels must follow the same rows
        labels = heads.split(split)
        np.testing.assert_array_equal(labels["digit"], rows % 10)
        np.testing.assert_array_equal(labels["half"], (rows >= 100).astype(int))
        np.testing.assert_allclose(labels["size"], rows / 7)
    with pytest.raises(DataError, match="no output called 'size'.*digit, half, sise"):
        output_heads(ds, None, ["digit", "half", "sise"])
    with pytest.raises(DataError, match="labels for the output 'half'"):
        read_python_data((x, {"digit": y["digit"], "half": y["half"][:5]}))


def test_infer_task():
    assert infer_task([np.array([0, 2, 1])], where="x") == ("multiclass", ["0", "1", "2"])
    assert infer_task([np.array([True, False])], where="x") == ("binary", ["0", "1"])
    assert infer_task([np.array([-1, 1])], where="x")[0] == "regression"
    with pytest.raises(DataError, match="NaN"):
        infer_task([np.array([0.5, np.nan])], where="x")


@pytest.mark.parametrize(("override", "where"), [
    ("data.targets={pairty: 'label % 2'}", "data.targets.pairty"),
    ("train.loss={digit: sparse_categorical_crossentropy, pary: binary_crossentropy}", "train.loss.pary"),
    ("train.metrics={digit: [accuracy], parity_: accuracy}", "train.metrics.parity_"),
    ("train.loss_weights={digit: 1.0, odd: 0.5}", "train.loss_weights.odd"),
    ("data.targets={parity: 'label %'}", "data.targets.parity"),
])
def test_check_names_the_field_before_any_data(override, where):
    recipe = load_recipe("multi_output", [override])
    with pytest.raises(RecipeError) as caught:
        check_output_fields(recipe)
    assert caught.value.where == where


def test_metrics_per_output_in_a_recipe():
    recipe = load_recipe("multi_output", ["train.metrics={digit: [accuracy, {type: AUC}], parity: accuracy}"])
    assert [m.type for m in recipe.train.metrics["digit"]] == ["accuracy", "AUC"]
    assert [m.type for m in recipe.train.metrics["parity"]] == ["accuracy"]
    assert [m.type for m in load_recipe("digits_mlp", ["train.metrics={type: AUC}"]).train.metrics] == ["AUC"]


def test_csv_columns_as_labels_of_other_outputs(tmp_path):
    from kerasforge.data import load_dataset
    from kerasforge.recipe import DataSpec

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(size=300)
    lines = ["a,b,kind,size,label"] + [f"{a[i]:.3f},{b[i]:.3f},{'cat' if a[i] > 0 else 'dog'},{2 * b[i]:.3f},"
                                        f"{int(a[i] + b[i] > 0)}" for i in range(300)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    targets = {"kind": "kind", "size": "size", "both": "label % 2"}
    spec = DataSpec(dataset="csv", path=str(tmp_path / "t.csv"), target="label", targets=targets)
    ds = split_validation(load_dataset(spec, seed=0), 0.1, seed=0)
    assert ds.input_shape == (2,)  # the label columns are not features
    heads = output_heads(ds, targets, ["label", "kind", "size", "both"])
    assert heads.tasks == {"label": "binary", "kind": "binary", "size": "regression", "both": "binary"}
    assert heads.class_names["kind"] == ["cat", "dog"] and heads.sources["kind"] == "column 'kind'"
    pre = ds.preprocessing
    for split, x in (("train", ds.x_train), ("validation", ds.x_val), ("test", ds.x_test)):
        raw = x * np.asarray(pre["divisor"]) + np.asarray(pre["offset"])  # back to the table's a and b
        labels = heads.split(split)
        np.testing.assert_array_equal(labels["kind"], (raw[:, 0] <= 0).astype(int))  # 'cat' (0) where a > 0
        np.testing.assert_allclose(labels["size"], 2 * raw[:, 1], atol=0.01)
        np.testing.assert_array_equal(labels["both"], labels["label"] % 2)
    with pytest.raises(DataError, match="no column 'sise'.*Did you mean 'size'"):
        load_dataset(DataSpec(dataset="csv", path=str(tmp_path / "t.csv"), target="label", targets={"s": "sise"}))


def test_npz_labels_per_output_follow_the_picked_rows(tmp_path):
    from kerasforge.data import load_dataset
    from kerasforge.recipe import DataSpec

    rng = np.random.default_rng(0)
    x_train, x_test = rng.integers(0, 256, (200, 28, 28), np.uint8), rng.integers(0, 256, (50, 28, 28), np.uint8)
    y_train, y_test = np.arange(200) % 10, np.arange(50) % 10
    ink_train, ink_test = x_train.reshape(200, -1).mean(1), x_test.reshape(50, -1).mean(1)  # one per image
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             y_train_ink=ink_train, y_test_ink=ink_test, y_train_unused=y_train, y_test_unused=y_test)
    ds = load_dataset(DataSpec(dataset="mnist", path=str(tmp_path / "mnist.npz"), subset=100, normalize="none"),
                      seed=0)
    heads = output_heads(split_validation(ds, 0.2, seed=0), None, ["digit", "ink"])  # `unused`: no such output
    assert heads.tasks == {"digit": "multiclass", "ink": "regression"} and heads.sources["ink"] == "given per output"
    ds = split_validation(ds, 0.2, seed=0)
    for split, x in (("train", ds.x_train), ("validation", ds.x_val), ("test", ds.x_test)):
        np.testing.assert_allclose(heads.split(split)["ink"], np.asarray(x, np.float64).reshape(len(x), -1).mean(1))
