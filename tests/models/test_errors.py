"""Every user-fixable model mistake is one ModelError naming the YAML path and the fix."""

from __future__ import annotations

import keras
import pytest

from kerasforge.errors import ModelError
from kerasforge.models import build_model, check_model_spec, check_outputs
from kerasforge.recipe import FunctionalModelSpec, PythonModelSpec, SequentialModelSpec


def seq(*layers) -> SequentialModelSpec:
    return SequentialModelSpec(layers=list(layers))


def build_error(spec, input_shape=(8, 8, 1), num_classes=10) -> str:
    with pytest.raises(ModelError) as err:
        build_model(spec, input_shape, num_classes)
    return str(err.value)


# --- layers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("typo, suggestion", [("Dense2", "'Dense'"), ("conv2d", "'Conv2D'"),
                                              ("GlobalAvgPooling2D", "'GlobalAveragePooling2D'"),
                                              ("LTSM", "'LSTM'")])
def test_unknown_layer_type_suggests_the_keras_name(typo, suggestion):
    spec = seq("Flatten", {"type": typo, "units": 3})
    text = build_error(spec)
    assert text.startswith("model.layers[1].type: ")
    assert f"unknown layer type '{typo}'. Did you mean" in text and suggestion in text.split("?")[0]
    with pytest.raises(ModelError, match="unknown layer type"):  # the same error without data
        check_model_spec(spec)


def test_misspelt_kwarg_is_named_with_the_right_one():
    text = build_error(seq("Flatten", {"type": "Dense", "unitz": 10}))
    assert text.startswith("model.layers[1].unitz: Dense has no argument 'unitz'. Did you mean 'units'?")


def test_base_layer_kwargs_are_accepted_and_suggested():
    build_model(seq({"type": "Flatten", "name": "flat", "dtype": "float32", "trainable": False}), (4,), 4)
    assert "Did you mean 'trainable'?" in build_error(seq({"type": "Flatten", "trainabel": False}))


def test_missing_required_kwarg():
    text = build_error(seq("Flatten", "Dense"))
    assert text.startswith("model.layers[1]: Dense needs 'units'")
    assert "Add units: ..." in text


def test_bad_kwarg_value_points_at_the_kwarg():
    text = build_error(seq("Flatten", {"type": "Dropout", "rate": 2.0}))
    assert text.startswith("model.layers[1].rate: ") and "Received: rate=2.0" in text


def test_unknown_activation_regularizer_and_initializer():
    text = build_error(seq({"type": "Dense", "units": 2, "activation": "rellu"}))
    assert text.startswith("model.layers[0].activation: unknown activation 'rellu'. Did you mean 'relu'")
    text = build_error(seq({"type": "Dense", "units": 2, "kernel_regularizer": {"l3": 0.1}}))
    assert text.startswith("model.layers[0].kernel_regularizer: unknown regularizer setting 'l3'")
    text = build_error(seq({"type": "Dense", "units": 2, "kernel_initializer": "he_normol"}))
    assert "model.layers[0].kernel_initializer" in text and "Did you mean 'he_normal'" in text
    text = build_error(seq({"type": "Dense", "units": 2, "kernel_regularizer": 0.01}))
    assert "Write {l2: 0.01}" in text


def test_input_listed_as_a_layer():
    assert "an Input is not a layer to list here" in build_error(seq("Input", "Flatten"))


def test_layer_reference_that_is_not_a_layer():
    text = build_error(seq({"type": "user_models:build_mlp"}))
    assert text.startswith("model.layers[0].type: ") and "not a keras.layers.Layer subclass" in text


def test_shape_mismatch_is_reported_at_the_layer():
    text = build_error(seq("Flatten", {"type": "Conv2D", "filters": 4, "kernel_size": 3}))
    assert text.startswith("model.layers[1]: Conv2D cannot take an input of shape (None, 64)")
    assert "remove the Flatten" in text


def test_sequential_model_with_several_data_views():
    text = build_error(seq("Flatten"), {"a": (3,), "b": (4,)})
    assert "one input but the data has 2 named views (a, b)" in text and "kind: functional" in text


# --- functional ------------------------------------------------------------------------------------
def test_unknown_functional_input_reference():
    spec = FunctionalModelSpec(inputs={"wide": [32], "deep": [64]},
                               layers=[{"type": "Concatenate", "inputs": ["wide", "dep"]},
                                       {"type": "Dense", "units": 1}])
    for raise_it in (lambda: build_model(spec, {"wide": (32,), "deep": (64,)}, 2), lambda: check_model_spec(spec)):
        with pytest.raises(ModelError) as err:
            raise_it()
        assert str(err.value).startswith("model.layers[0].inputs[1]: 'dep' is not an input or an earlier layer.")
        assert "Did you mean 'deep'?" in str(err.value)


def test_a_layer_cannot_take_a_later_layer():
    spec = FunctionalModelSpec(layers=[{"type": "Dense", "units": 3, "inputs": "head"},
                                       {"type": "Dense", "units": 3, "name": "head"}])
    assert build_error(spec, (4,), 3).startswith("model.layers[0].inputs: 'head' is not an input or an earlier")


def test_unknown_output_and_duplicate_names():
    spec = FunctionalModelSpec(layers=[{"type": "Dense", "units": 3, "name": "head"}], outputs=["haed"])
    text = build_error(spec, (4,), 3)
    assert text.startswith("model.outputs[0]: 'haed' is not a layer") and "Did you mean 'head'?" in text
    spec = FunctionalModelSpec(layers=[{"type": "Dense", "units": 3, "name": "x"}, {"type": "Dense", "units": 3,
                                                                                   "name": "x"}])
    assert build_error(spec, (4,), 3).startswith("model.layers[1].name: the name 'x' is used twice")


def test_several_inputs_need_the_first_layer_to_say_which():
    spec = FunctionalModelSpec(inputs={"a": [3], "b": [3]}, layers=["Concatenate"])
    assert build_error(spec, {"a": (3,), "b": (3,)}, 2).startswith("model.layers[0].inputs: the model has several")


def test_functional_inputs_must_match_the_data_views_and_shapes():
    spec = FunctionalModelSpec(inputs={"wide": [32], "deeep": [64]},
                               layers=[{"type": "Concatenate", "inputs": ["wide", "deeep"]}])
    text = build_error(spec, {"wide": (32,), "deep": (64,)}, 2)
    assert text.startswith("model.inputs.deeep: the model's inputs (wide, deeep) do not match the data's views")
    assert "Did you mean 'deep'?" in text
    spec = FunctionalModelSpec(inputs={"x": [10]}, layers=[{"type": "Dense", "units": 2}])
    assert build_error(spec, (12,), 2).startswith("model.inputs.x: is declared as [10] but one example")
    spec = FunctionalModelSpec(inputs={"a": [3], "b": [3]}, layers=[{"type": "Concatenate", "inputs": ["a", "b"]}])
    assert "has 2 inputs (a, b) but the data has one feature array" in build_error(spec, (6,), 2)


# --- python ----------------------------------------------------------------------------------------
def test_unimportable_module():
    text = build_error(PythonModelSpec(ref="my_missing_models:build"))
    assert text.startswith("model.ref: cannot import module 'my_missing_models'")
    assert "next to the recipe" in text
    with pytest.raises(ModelError, match="cannot import module"):
        check_model_spec(PythonModelSpec(ref="my_missing_models:build"))


def test_name_not_in_module():
    text = build_error(PythonModelSpec(ref="user_models:SmallClasifier"))
    assert text.startswith("model.ref: 'user_models' has no attribute 'SmallClasifier'")
    assert "Did you mean 'SmallClassifier'?" in text


def test_builder_returning_a_non_model():
    text = build_error(PythonModelSpec(ref="user_models:not_a_model"))
    assert "returned None (is a `return` missing?), not a keras.Model" in text


def test_reference_to_a_layer_class_or_a_constant():
    assert "not a keras.Model subclass" in build_error(PythonModelSpec(ref="user_models:DenseBlock"))
    assert "is a int, not a model class or a function" in build_error(PythonModelSpec(ref="user_models:NOT_CALLABLE"))


def test_unknown_python_kwarg():
    text = build_error(PythonModelSpec(ref="user_models:SmallClassifier", kwargs={"hiden": 3}))
    assert text.startswith("model.kwargs.hiden: user_models:SmallClassifier has no parameter 'hiden'.")
    assert "Did you mean 'hidden'?" in text


def test_python_model_that_fails_on_the_data_shape():
    spec = PythonModelSpec(ref="user_models:build_mlp", kwargs={"input_shape": [5]})
    text = build_error(spec, (8, 8, 1))
    assert text.startswith("model.ref: the model from user_models:build_mlp fails on a batch shaped like the data")
    assert "(2, 8, 8, 1)" in text


# --- outputs against the data ----------------------------------------------------------------------
def dense_model(input_shape, units, activation=None):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(units, activation=activation)])


def test_wrong_output_width():
    model = build_model(seq("Flatten", {"type": "Dense", "units": 5, "activation": "softmax"}), (8, 8, 1), 10)
    with pytest.raises(ModelError) as err:
        check_outputs(model, 10, "multiclass")
    assert str(err.value) == ("model.layers[-1]: the last layer has 5 units but the data has 10 classes. "
                              "Set units: 10 on model.layers[-1] (one unit per class).")


def test_missing_flatten_before_the_last_dense():
    model = build_model(seq({"type": "Dense", "units": 10, "activation": "softmax"}), (28, 28, 1), 10)
    assert model.output_shape == (None, 28, 28, 10)
    with pytest.raises(ModelError) as err:
        check_outputs(model, 10, "multiclass")
    assert "gives one [28, 28, 10] array per example" in str(err.value)
    assert "Add a Flatten (or GlobalAveragePooling2D) layer before the final Dense" in str(err.value)


@pytest.mark.parametrize("units, activation, task, message", [
    (3, "softmax", "binary", "has 3 units but the data has 2 classes (binary)"),
    (1, "softmax", "binary", "1 unit with a softmax activation, which always outputs 1.0"),
    (2, None, "regression", "regression predicts one number per example"),
])
def test_output_checks_for_binary_and_regression(units, activation, task, message):
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_outputs(dense_model((4,), units, activation), 2 if task == "binary" else 1, task)


@pytest.mark.parametrize("units, activation, task", [(1, "sigmoid", "binary"), (2, "softmax", "binary"),
                                                     (1, None, "regression"), (3, "softmax", "multiclass")])
def test_output_checks_pass_for_fitting_heads(units, activation, task):
    check_outputs(dense_model((4,), units, activation), 3 if task == "multiclass" else 2, task)


def test_every_output_of_a_multi_output_model_is_checked():
    spec = FunctionalModelSpec(layers=["Flatten", {"type": "Dense", "units": 10, "name": "digit"},
                                       {"type": "Dense", "units": 4, "name": "aux", "inputs": "layer_0"}],
                               outputs=["digit", "aux"])
    model = build_model(spec, (8, 8, 1), 10)
    with pytest.raises(ModelError) as err:
        check_outputs(model, 10, "multiclass")
    assert str(err.value).startswith("model.outputs[1]: the output 'aux' has 4 units but the data has 10 classes")
    check_outputs(model, {"digit": 10}, {"digit": "multiclass"})  # 'aux' left out: not checked


def test_subclassed_model_outputs_are_checked_too():
    model = build_model(PythonModelSpec(ref="user_models:SmallClassifier", kwargs={"num_classes": 4}), (8, 8, 1), 10)
    with pytest.raises(ModelError, match="has 4 units but the data has 10 classes"):
        check_outputs(model, 10, "multiclass")
