"""Building models from specs: shapes, wiring, kwargs conversion (real Keras, no data needed)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.models import build_model, check_model_spec, check_outputs, count_params, output_shapes
from kerasforge.recipe import FunctionalModelSpec, PythonModelSpec, SequentialModelSpec


def seq(*layers, **extra) -> SequentialModelSpec:
    return SequentialModelSpec(layers=list(layers), **extra)


# --- sequential ------------------------------------------------------------------------------------
def test_sequential_takes_its_input_shape_from_the_data():
    model = build_model(seq("Flatten", {"type": "Dense", "units": 10, "activation": "softmax"}),
                        (8, 8, 1), num_classes=10, name="digits_mlp")
    assert isinstance(model, keras.Sequential)
    assert model.name == "digits_mlp"
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
    assert count_params(model) == {"trainable": 650, "non_trainable": 0, "total": 650}


def test_spec_input_shape_overrides_the_data_and_spec_name_wins():
    spec = seq({"type": "Reshape", "target_shape": [64]}, {"type": "Dense", "units": 3},
               input_shape=[8, 8], name="custom")
    model = build_model(spec, (64,), num_classes=3)
    assert model.input_shape == (None, 8, 8) and model.name == "custom"


def test_convolutional_stack_and_custom_layer_by_reference():
    spec = seq({"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
               {"type": "MaxPooling2D", "pool_size": [2, 2]},
               "GlobalAveragePooling2D",
               {"type": "user_models:DenseBlock", "units": 16, "dropout": 0.1},
               {"type": "Dense", "units": 10, "activation": "softmax"})
    model = build_model(spec, (8, 8, 1), num_classes=10)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "DenseBlock", "Dense"]
    assert model.output_shape == (None, 10)
    assert model.layers[3].dropout_rate == 0.1


def test_bidirectional_takes_a_nested_layer_spec():
    spec = seq({"type": "Embedding", "input_dim": 100, "output_dim": 8},
               {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 6},
                "backward_layer": {"type": "GRU", "units": 6, "go_backwards": True}},
               {"type": "Dense", "units": 1, "activation": "sigmoid"})
    model = build_model(spec, (20,), num_classes=2)
    assert model.layers[1].output.shape == (None, 12)  # 6 forward + 6 backward
    assert type(model.layers[1].backward_layer).__name__ == "GRU"
    assert model.output_shape == (None, 1)


def test_time_distributed_nested_layer():
    spec = seq({"type": "TimeDistributed", "layer": {"type": "Dense", "units": 5}})
    assert build_model(spec, (7, 3), num_classes=5).output_shape == (None, 7, 5)


# --- kwargs conversion -----------------------------------------------------------------------------
@pytest.mark.parametrize("value, cls, l1, l2", [
    ("l2", "L2", None, 0.01),
    ({"l2": 0.05}, "L2", None, 0.05),
    ({"l1": 0.02}, "L1", 0.02, None),
    ({"l1": 0.01, "l2": 0.03}, "L1L2", 0.01, 0.03),
    ({"type": "L2", "l2": 0.04}, "L2", None, 0.04),
    ({"type": "l1_l2", "l1": 0.5, "l2": 0.25}, "L1L2", 0.5, 0.25),
])
def test_regularizer_forms_give_real_regularisation_losses(value, cls, l1, l2):
    spec = seq({"type": "Dense", "units": 4, "kernel_initializer": {"type": "Constant", "value": 0.5},
                "kernel_regularizer": value})
    model = build_model(spec, (3,), num_classes=4)
    reg = model.layers[0].kernel_regularizer
    assert type(reg).__name__ == cls
    assert len(model.losses) == 1
    kernel = np.full((3, 4), 0.5)
    expected = (l1 or 0) * np.abs(kernel).sum() + (l2 or 0) * np.square(kernel).sum()
    assert float(keras.ops.convert_to_numpy(model.losses[0])) == pytest.approx(expected, rel=1e-5)


def test_regularisation_loss_counts_in_training_loss():
    plain = build_model(seq({"type": "Dense", "units": 2, "kernel_initializer": "ones"}), (3,), 2)
    penalised = build_model(seq({"type": "Dense", "units": 2, "kernel_initializer": "ones",
                                 "kernel_regularizer": {"l2": 1.0}, "bias_regularizer": "l2",
                                 "activity_regularizer": {"l1": 0.1}}), (3,), 2)
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    losses = []
    for model in (plain, penalised):
        model.compile(optimizer="sgd", loss="mse")
        losses.append(model.evaluate(x, y, verbose=0))
    assert losses[1] == pytest.approx(losses[0] + 6.0 + 0.1 * 6.0, rel=1e-4)  # l2 * sum(1^2 * 6) + l1 * |3+3|


def test_initializers_and_constraints_by_name_mapping_and_number():
    spec = seq({"type": "Dense", "units": 2, "kernel_initializer": "he_normal", "bias_initializer": 0.25,
                "kernel_constraint": "max_norm"},
               {"type": "Dense", "units": 2, "kernel_initializer": {"type": "RandomNormal", "stddev": 0.01},
                "bias_constraint": {"type": "MinMaxNorm", "min_value": 0.0, "max_value": 1.0}})
    model = build_model(spec, (3,), num_classes=2)
    first, second = model.layers
    assert type(first.kernel_initializer).__name__ == "HeNormal"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.bias), 0.25)
    assert type(first.kernel_constraint).__name__ == "MaxNorm"
    assert float(np.std(keras.ops.convert_to_numpy(second.kernel))) < 0.05
    assert type(second.bias_constraint).__name__ == "MinMaxNorm"


# --- functional ------------------------------------------------------------------------------------
TWO_INPUTS = {
    "inputs": {"wide": [32], "deep": [64]},
    "layers": [
        {"type": "Concatenate", "inputs": ["wide", "deep"], "name": "merged"},
        {"type": "Dense", "units": 128, "activation": "relu"},
        {"type": "Dropout", "rate": 0.3},
        {"type": "Dense", "units": 1, "activation": "sigmoid", "name": "score"},
    ],
}


def test_two_inputs_concatenate_dense_dropout_sigmoid():
    model = build_model(FunctionalModelSpec(**TWO_INPUTS), {"wide": (32,), "deep": (64,)}, num_classes=2)
    assert {t.name: t.shape for t in model.inputs} == {"wide": (None, 32), "deep": (None, 64)}
    assert model.get_layer("merged").output.shape == (None, 96)
    assert model.get_layer("layer_1").units == 128  # auto-named node
    assert model.output_shape == (None, 1)
    out = model.predict({"wide": np.zeros((3, 32)), "deep": np.ones((3, 64))}, verbose=0)
    assert out.shape == (3, 1) and np.all((out > 0) & (out < 1))
    check_outputs(model, 2, "binary")


def test_inputs_default_to_the_data_views_or_one_input_called_input():
    spec = FunctionalModelSpec(layers=[{"type": "Concatenate", "inputs": ["a", "b"]},
                                       {"type": "Dense", "units": 2}])
    model = build_model(spec, {"a": (2,), "b": (5,)}, num_classes=2)
    assert sorted(t.name for t in model.inputs) == ["a", "b"]
    single = build_model(FunctionalModelSpec(layers=["Flatten", {"type": "Dense", "units": 4}]), (8, 8, 1), 4)
    assert single.inputs[0].name == "input" and single.output_shape == (None, 4)


def test_two_output_model_has_named_outputs_for_loss_dicts():
    spec = FunctionalModelSpec(
        layers=[
            {"type": "Flatten", "name": "flat"},
            {"type": "Dense", "units": 32, "activation": "relu", "name": "trunk"},
            {"type": "Dense", "units": 10, "activation": "softmax", "name": "digit"},
            {"type": "Dense", "units": 1, "activation": "sigmoid", "name": "is_even", "inputs": "trunk"},
        ],
        outputs=["digit", "is_even"],
    )
    model = build_model(spec, (8, 8, 1), num_classes=10)
    assert model.output_names == ["digit", "is_even"]
    assert output_shapes(model) == {"digit": (None, 10), "is_even": (None, 1)}
    check_outputs(model, {"digit": 10, "is_even": 2}, {"digit": "multiclass", "is_even": "binary"})
    model.compile(optimizer="adam",
                  loss={"digit": "sparse_categorical_crossentropy", "is_even": "binary_crossentropy"},
                  loss_weights={"digit": 1.0, "is_even": 0.5})
    x = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
    y = np.arange(16) % 10
    history = model.fit(x, {"digit": y, "is_even": (y % 2 == 0).astype("float32")}, epochs=1, verbose=0)
    assert {"digit_loss", "is_even_loss"} <= set(history.history)


def test_functional_int_input_dtype_for_embeddings():
    spec = FunctionalModelSpec(inputs={"tokens": {"shape": [12], "dtype": "int32"}},
                               layers=[{"type": "Embedding", "input_dim": 50, "output_dim": 4},
                                       "GlobalAveragePooling1D", {"type": "Dense", "units": 1}])
    model = build_model(spec, (12,), num_classes=1)
    assert model.inputs[0].dtype == "int32" and model.output_shape == (None, 1)


# --- python ----------------------------------------------------------------------------------------
def test_builder_function_gets_input_shape_and_num_classes():
    model = build_model(PythonModelSpec(ref="user_models:build_mlp", kwargs={"hidden": 7}), (8, 8, 1), 10)
    assert model.name == "mlp" and model.output_shape == (None, 10)
    assert model.layers[2].units == 7


def test_subclassed_model_is_instantiated_and_built():
    model = build_model(PythonModelSpec(ref="user_models:SmallClassifier", kwargs={"hidden": 16}), (8, 8, 1), 10)
    assert model.built and model.hidden == 16 and model.num_classes == 10
    assert count_params(model)["trainable"] == 64 * 16 + 16 + 16 * 10 + 10
    assert output_shapes(model) == {"output": (None, 10)}
    check_outputs(model, 10, "multiclass")
    model.summary(print_fn=lambda *a, **k: None)


def test_python_spec_input_shape_overrides_the_data():
    spec = PythonModelSpec(ref="user_models:build_mlp", input_shape=[64])
    assert build_model(spec, (8, 8, 1), 10).input_shape == (None, 64)


def test_check_model_spec_passes_for_valid_specs_of_each_kind():
    check_model_spec(seq("Flatten", {"type": "Dense", "units": 10, "kernel_regularizer": {"l2": 0.01}}))
    check_model_spec(FunctionalModelSpec(**TWO_INPUTS))
    check_model_spec(PythonModelSpec(ref="user_models:SmallClassifier"))
