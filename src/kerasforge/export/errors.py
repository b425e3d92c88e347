"""Errors of the export stage, and naming the op or layer behind a converter's failure.

Converters (TFLite, tf2onnx) fail with long logs; :func:`converter_problem` pulls out the TensorFlow op
names and the Keras layers they come from, so the error says *which* layer to change.

Example:
    >>> converter_problem(RuntimeError("'tf.StringLower' op is neither a custom op nor a flex op"), [])
    'unsupported op(s) StringLower'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import KerasforgeError

# TensorFlow ops -> the Keras layers that emit them (for models whose layer names are not in the log)
OP_LAYERS = {
    "String": ("TextVectorization", "StringLookup", "Hashing"),
    "Regex": ("TextVectorization",),
    "LookupTable": ("TextVectorization", "StringLookup", "IntegerLookup"),
    "HashTable": ("TextVectorization", "StringLookup", "IntegerLookup"),
    "Bucketize": ("Discretization",),
    "RaggedTensor": ("TextVectorization",),
    "TensorList": ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"),
    "While": ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional"),
    "Random": ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
               "RandomBrightness", "RandomCrop", "RandomShear", "RandomHue", "RandomSaturation", "RandomGrayscale",
               "RandomColorJitter", "RandomPerspective", "RandomElasticTransform", "RandomErasing",
               "RandomGaussianBlur", "RandomInvert", "RandomPosterization", "RandomSharpness",
               "RandomColorDegeneration", "AugMix", "RandAugment", "GaussianNoise", "GaussianDropout",
               "AlphaDropout"),
}
_OP_PATTERNS = (
    re.compile(r"'tf\.(\w+)' op"),                      # MLIR: 'tf.StringLower' op is neither a custom op...
    re.compile(r"\bFlex(\w+)"),                         # "Flex ops: FlexStringLower, FlexStringSplit"
    re.compile(r"Tensorflow op \[[^:\]]*: (\w+)\]"),    # tf2onnx: Tensorflow op [name: StringLower] is not supported
    re.compile(r"Unsupported ops: Counter\(\{([^}]*)\}"),  # tf2onnx summary
    re.compile(r"No Op registered for (\w+)"),         # onnx.checker on an op tf2onnx left as it was
    re.compile(r"OpType: (\w+)"),                       # onnx.checker: Bad node spec ... OpType: X
)


class ExportError(KerasforgeError):
    """A model could not be exported, or its export did not verify."""

    kind = "export error"


def unsupported_ops(message: str) -> list[str]:
    """TensorFlow op names a converter's message complains about, in order of appearance.

    >>> unsupported_ops("Unsupported ops: Counter({'StringSplitV2': 1, 'StringLower': 2})")
    ['StringSplitV2', 'StringLower']
    """
    found: list[str] = []
    for pattern in _OP_PATTERNS:
        for match in pattern.finditer(message):
            group = match.group(1)
            names = re.findall(r"'(\w+)'", group) if "'" in group else [group]
            found += [n for n in names if n not in found]
    return found


def layers_for_ops(ops: Iterable[str], layers: Iterable) -> list[str]:
    """``name (Class)`` of the model's layers that can emit ``ops``."""
    ops = list(ops)
    classes = {cls for op in ops for prefix, owners in OP_LAYERS.items() if prefix in op for cls in owners}
    return [f"{layer.name} ({type(layer).__name__})" for layer in layers if type(layer).__name__ in classes]


def layers_in_node_paths(message: str, layers: Iterable) -> list[str]:
    """``name (Class)`` of the layers whose names appear as a scope of a graph node path in ``message``
    (``sequential_1/random_flip_1/stateless_random_uniform/...`` names ``random_flip``).

    >>> class RandomFlip:
    ...     name = "random_flip"
    >>> layers_in_node_paths("Name: sequential_1/random_flip_1/stateless_random_uniform/X", [RandomFlip()])
    ['random_flip (RandomFlip)']
    """
    scopes = {re.sub(r"_\d+$", "", part) for path in re.findall(r"[\w.-]+(?:/[\w.-]+)+", message)
              for part in path.split("/")[:-1]}
    return [f"{layer.name} ({type(layer).__name__})" for layer in layers
            if layer.name in scopes or re.sub(r"_\d+$", "", layer.name) in scopes
            if not hasattr(layer, "layers")]


def converter_problem(exc: BaseException, layers: Iterable) -> str:
    """One phrase naming the unsupported ops and the layers behind them (or the converter's last line)."""
    message = f"{exc}"
    layers = list(layers)
    ops = unsupported_ops(message)
    if not ops:
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        return (lines[-1] if lines else type(exc).__name__)[:400]
    culprits = layers_for_ops(ops, layers) or layers_in_node_paths(message, layers)
    text = "unsupported op(s) " + ", ".join(ops[:8])
    if culprits:
        return text + f" from layer(s) {', '.join(culprits)}"
    return text + " (no layer of the model is known to emit it: look for the op's layer in the model summary)"


def all_layers(model) -> list:
    """Every layer of ``model``, nested models' layers included (depth first)."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out += all_layers(layer) if hasattr(layer, "layers") else []
    return out
