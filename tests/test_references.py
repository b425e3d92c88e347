"""load_reference / add_to_path: user code reached as ``module:Name``."""

from __future__ import annotations

import sys
import uuid

import pytest

from kerasforge.errors import KerasforgeError, ModelError
from kerasforge.references import add_to_path, is_reference, load_reference


def _module_in(tmp_path, source: str) -> str:
    name = f"kf_user_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    add_to_path(tmp_path)
    return name


def test_loads_an_object_and_a_dotted_attribute():
    from collections import OrderedDict

    assert load_reference("collections:OrderedDict", where="x") is OrderedDict
    assert load_reference("collections:OrderedDict.fromkeys", where="x") == OrderedDict.fromkeys


def test_add_to_path_makes_a_module_next_to_the_recipe_importable(tmp_path):
    name = _module_in(tmp_path, "def schedule(epoch):\n    return 0.1 / (epoch + 1)\n")
    try:
        fn = load_reference(f"{name}:schedule", where="train.callbacks[0].schedule")
        assert fn(1) == pytest.approx(0.05)
        assert sys.path.count(str(tmp_path.resolve())) == 1
        add_to_path(tmp_path)
        assert sys.path.count(str(tmp_path.resolve())) == 1
    finally:
        sys.path.remove(str(tmp_path.resolve()))


def test_unimportable_module_says_where_to_put_it():
    with pytest.raises(KerasforgeError) as err:
        load_reference("no_such_module_xyz:build", where="model.ref")
    text = str(err.value)
    assert text.startswith("model.ref: ")
    assert "no module named 'no_such_module_xyz'" in text
    assert "next to the recipe" in text and "PYTHONPATH" in text


def test_module_with_a_missing_dependency_is_told_apart(tmp_path):
    name = _module_in(tmp_path, "import surely_not_installed_pkg\n")
    try:
        with pytest.raises(KerasforgeError, match="imports 'surely_not_installed_pkg', which is not installed"):
            load_reference(f"{name}:x", where="model.ref")
    finally:
        sys.path.remove(str(tmp_path.resolve()))


def test_module_that_fails_on_import_reports_its_error(tmp_path):
    name = _module_in(tmp_path, "raise RuntimeError('boom at import')\n")
    try:
        with pytest.raises(KerasforgeError, match="RuntimeError: boom at import"):
            load_reference(f"{name}:x", where="model.ref")
    finally:
        sys.path.remove(str(tmp_path.resolve()))


def test_missing_name_suggests_the_close_one_and_uses_the_error_class_asked_for():
    with pytest.raises(ModelError) as err:
        load_reference("user_models:build_mpl", where="model.ref", error=ModelError)
    assert "has no attribute 'build_mpl'" in str(err.value)
    assert "Did you mean 'build_mlp'?" in str(err.value)


@pytest.mark.parametrize("text", ["Dense", "module:", ":Name", "a b:c", "pkg.mod:Name more"])
def test_text_that_is_not_a_reference_is_refused(text):
    assert not is_reference(text)
    with pytest.raises(KerasforgeError, match="is not a Python reference"):
        load_reference(text, where="model.ref")


def test_a_recipe_folder_goes_after_the_installed_packages(tmp_path):
    add_to_path(tmp_path)
    try:
        site = next(i for i, p in enumerate(sys.path) if "site-packages" in p)
        assert sys.path.index(str(tmp_path.resolve())) > site
    finally:
        sys.path.remove(str(tmp_path.resolve()))


def test_a_reference_to_a_module_shadowed_beside_the_recipe_is_refused(tmp_path):
    """json.py beside the recipe never replaces the standard library's json; naming it says to rename it."""
    (tmp_path / "json.py").write_text("def loads(text):\n    return 'mine'\n", encoding="utf-8")
    add_to_path(tmp_path)
    try:
        with pytest.raises(ModelError) as err:
            load_reference("json:loads", where="model.layers[0].type", error=ModelError)
        text = str(err.value)
        assert "json.py" in text and "standard library" in text and "Rename" in text
        import json

        assert json.loads("1") == 1
    finally:
        sys.path.remove(str(tmp_path.resolve()))
