"""Choosing formats: names, comma lists, per-format quantization, and errors that name the fix."""

from __future__ import annotations

import pytest

from kerasforge.export import ExportError, parse_formats


def test_names_comma_lists_and_quantized_names():
    assert parse_formats(["keras,onnx", "tflite-dynamic", "onnx"]) == [
        ("keras", None), ("onnx", None), ("tflite", "dynamic")]
    assert parse_formats(["TFLite"], quantize="float16") == [("tflite", "float16")]


def test_unknown_format_suggests_the_right_one():
    with pytest.raises(ExportError, match="unknown export format 'tflit'. Did you mean 'tflite'"):
        parse_formats(["tflit"])


def test_quantizing_a_format_that_cannot_be_quantized_says_which_can():
    with pytest.raises(ExportError) as caught:
        parse_formats(["keras,tflite"], quantize="float16")
    assert "the keras format cannot be quantized" in caught.value.message
    assert "tflite (dynamic/float16/int8)" in caught.value.message
    with pytest.raises(ExportError, match="cannot be quantized as 'float16'"):
        parse_formats(["onnx-float16"])


def test_int8_is_a_tflite_quantization_only():
    assert parse_formats(["tflite"], quantize="int8") == [("tflite", "int8")]
    assert parse_formats(["tflite,tflite-int8"]) == [("tflite", None), ("tflite", "int8")]
    with pytest.raises(ExportError, match="the onnx format cannot be quantized as 'int8'"):
        parse_formats(["onnx-int8"])
    with pytest.raises(ExportError, match="unknown quantization 'int4'"):
        parse_formats(["tflite"], quantize="int4")


def test_no_format_is_an_error():
    with pytest.raises(ExportError, match="no export format"):
        parse_formats([" , "])
