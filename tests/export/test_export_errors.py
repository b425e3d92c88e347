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


class RandomFlip(Layer):
    pass


class LSTM(Layer):
    pass


def test_random_and_tensor_list_ops_name_their_layers():
    """The messages of ONNX's checker on augmentation, and of TFLite on an LSTM, name the layer to replace."""
    layers = [RandomFlip("random_flip"), Dense("dense"), LSTM("lstm")]
    onnx = ("Bad node spec for node. Name: sequential_1/random_flip_1/stateless_random_uniform/"
            "StatelessRandomUniformV2 OpType: StatelessRandomUniformV2")
    assert converter_problem(RuntimeError(onnx), layers) == (
        "unsupported op(s) StatelessRandomUniformV2 from layer(s) random_flip (RandomFlip)")
    tflite = "error: 'tf.TensorListReserve' op requires element_shape to be static during TF Lite transformation"
    assert converter_problem(RuntimeError(tflite), layers).endswith("from layer(s) lstm (LSTM)")


def test_an_op_no_layer_is_known_for_says_so_instead_of_naming_none():
    text = converter_problem(RuntimeError("No Op registered for MysteryOp with domain_version of 17"),
                             [Dense("dense")])
    assert "MysteryOp" in text and "no layer of the model is known to emit it" in text


def test_a_layer_is_found_by_its_scope_in_the_node_path():
    layers = [Dense("dense_head"), Layer("my_block")]
    text = converter_problem(RuntimeError("OpType: Weird\nName: model/my_block_2/inner/Weird"), layers)
    assert text == "unsupported op(s) Weird from layer(s) my_block (Layer)"
