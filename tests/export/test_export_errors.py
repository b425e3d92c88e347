"""Naming the op and the layer behind a converter's failure."""

from __future__ import annotations

from kerasforge.export.errors import converter_problem, unsupported_ops


class Layer:
    def __init__(self, name):
        self.name = name


class TextVectorization(Layer):
    pass


class Dense(Layer):
    pass


def test_ops_from_tflite_and_tf2onnx_messages():
    tflite = ("error: 'tf.StringLower' op is neither a custom op nor a flex op\n"
              "Some ops are not supported by the native TFLite runtime: Flex ops: FlexStringSplitV2")
    assert unsupported_ops(tflite) == ["StringLower", "StringSplitV2"]
    assert unsupported_ops("Unsupported ops: Counter({'StaticRegexReplace': 1, 'StringSplitV2': 1})") == [
        "StaticRegexReplace", "StringSplitV2"]
    assert unsupported_ops("No Op registered for StaticRegexReplace with domain_version of 17") == [
        "StaticRegexReplace"]


def test_the_layer_behind_the_op_is_named():
    layers = [TextVectorization("text_vectorization"), Dense("dense")]
    text = converter_problem(RuntimeError("'tf.StringLower' op is neither a custom op nor a flex op"), layers)
    assert text == "unsupported op(s) StringLower from layer(s) text_vectorization (TextVectorization)"


def test_an_unrecognised_message_keeps_its_last_line():
    assert converter_problem(ValueError("first\nthe real reason"), []) == "the real reason"
