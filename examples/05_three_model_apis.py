"""The three ways to define a model - Sequential, Functional, subclassing - each trained on the bundled
8x8 digits twice: through a kerasforge recipe, and in raw Keras with compile / fit / evaluate.

Run: python examples/05_three_model_apis.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tempfile  # noqa: E402

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import kerasforge  # noqa: E402
from kerasforge.console import set_quiet  # noqa: E402

set_quiet(True)
EPOCHS = 10

# --- the same data for the raw-Keras versions -------------------------------------------------------
digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]          # (1797, 8, 8, 1) in [0, 1]
x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0,
                                                    stratify=digits.target)


# --- 1. Sequential: a stack of layers ----------------------------------------------------------------
def sequential() -> keras.Model:
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(64, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


SEQUENTIAL_RECIPE = {"layers": ["Flatten", {"type": "Dense", "units": 64, "activation": "relu"},
                                {"type": "Dense", "units": 10, "activation": "softmax"}]}


# --- 2. Functional: layers called on tensors, any graph (here: a skip connection) ----------------------
def functional() -> keras.Model:
    inputs = keras.Input((8, 8, 1), name="pixels")
    flat = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(64, activation="relu")(flat)
    merged = keras.layers.Concatenate()([flat, hidden])           # the raw pixels skip the hidden layer
    outputs = keras.layers.Dense(10, activation="softmax")(merged)
    return keras.Model(inputs, outputs)


FUNCTIONAL_RECIPE = {"layers": [
    {"type": "Flatten", "name": "flat"},
    {"type": "Dense", "units": 64, "activation": "relu", "name": "hidden"},
    {"type": "Concatenate", "name": "merged", "inputs": ["flat", "hidden"]},
    {"type": "Dense", "units": 10, "activation": "softmax"}], "outputs": None, "kind": "functional"}


# --- 3. Subclassing: layers in __init__, the forward pass in call() ---------------------------------
class TwoLayerNet(keras.Model):
    def __init__(self, num_classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(64, activation="relu")
        self.out = keras.layers.Dense(num_classes, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(self.flatten(inputs)))


# In a recipe, a Python model is `module:Name`; the zoo's subclassed model stands in for TwoLayerNet.
SUBCLASSED_RECIPE = {"ref": "kerasforge.models.zoo.custom:ClippedClassifier", "kwargs": {"hidden": [64]}}


def raw_keras(model: keras.Model) -> float:
    """compile / fit / evaluate: the three calls of every Keras program."""
    keras.utils.set_random_seed(0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0)
    return model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]


def with_kerasforge(model_spec: dict, out: str) -> float:
    """The same model as a recipe: data, model and training in one mapping (or one YAML file)."""
    recipe = {"name": "digits_example", "data": {"dataset": "digits"}, "model": model_spec,
              "train": {"epochs": EPOCHS, "batch_size": 32, "verbose": 0}}
    return kerasforge.train(recipe, output_dir=out, show_summary=False).metrics["test_accuracy"]


with tempfile.TemporaryDirectory() as out:
    for name, build, spec in [("Sequential", sequential, SEQUENTIAL_RECIPE),
                              ("Functional", functional, FUNCTIONAL_RECIPE),
                              ("Subclassed", TwoLayerNet, SUBCLASSED_RECIPE)]:
        print(f"{name:10s}  raw Keras: {raw_keras(build()):.3f}   kerasforge: {with_kerasforge(spec, out):.3f}")
print("ok: three model APIs")
