"""Named inputs of a views model put back into its raw example (TF Serving's named row and columnar forms)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serve.errors import ServeError
from kerasforge.serve.named_views import assemble, assemble_columns, layout_of, names_views
from kerasforge.serve.tfserving import predict_items

# A 2x3 raw example; "left" takes features 0, 3 (column 0), "rest" takes 1, 2, 4, 5 — runs out of order
INFO = {"preprocessing": {"views": {"kind": "image", "shape": [2, 3, 1],
                                    "runs": {"left": [[0, 1], [3, 4]], "rest": [[4, 6], [1, 3]]}}}}
LAYOUT = layout_of(INFO)


def test_named_views_go_back_where_they_were_cut_from():
    raw = assemble({"rest": [40, 50, 10, 20], "left": [0, 30]}, LAYOUT, "instances[0]")
    assert raw.shape == (2, 3, 1) and raw.reshape(-1).tolist() == [0, 10, 20, 30, 40, 50]


def test_row_and_columnar_forms_give_the_same_raw_examples():
    rows, key = predict_items({"instances": [{"left": [1, 2], "rest": [3, 4, 5, 6]}] * 2}, ("pixels",), views=LAYOUT)
    columns, key2 = predict_items({"inputs": {"left": [[1, 2]] * 2, "rest": [[3, 4, 5, 6]] * 2}}, ("pixels",),
                                  views=LAYOUT)
    assert (key, key2) == ("instances", "inputs")
    np.testing.assert_array_equal(np.stack(rows), np.stack(columns))
    assert np.stack(rows)[0].reshape(-1).tolist() == [1, 5, 6, 2, 3, 4]
    # the raw input by its own name is not mistaken for views
    raw, _ = predict_items({"instances": [{"pixels": [[[0]] * 3] * 2}]}, ("pixels",), views=LAYOUT)
    assert np.asarray(raw).shape == (1, 2, 3, 1)
    assert not names_views({"pixels": 1}, LAYOUT, ("pixels",)) and not names_views({"left": 1}, None, ())


@pytest.mark.parametrize(("named", "words"), [
    ({"left": [1, 2]}, "lacks the input(s) 'rest'"),
    ({"left": [1, 2], "rest": [1, 2, 3, 4], "other": [1]}, "names 'other', which is not an input"),
    ({"left": [1, 2, 3], "rest": [1, 2, 3, 4]}, "has 3 values; this input takes 2"),
    ({"left": ["a", "b"], "rest": [1, 2, 3, 4]}, "is not an array of numbers"),
])
def test_wrong_named_inputs_are_a_400_naming_the_input(named, words):
    with pytest.raises(ServeError) as info:
        assemble(named, LAYOUT, "instances[0]")
    assert info.value.status == 400 and words in str(info.value)


def test_columns_of_unequal_length_are_refused():
    with pytest.raises(ServeError, match="equal lengths"):
        assemble_columns({"left": [[1, 2]], "rest": [[1, 2, 3, 4]] * 2}, LAYOUT, "inputs")


def test_views_that_share_a_feature_must_agree():
    layout = layout_of({"preprocessing": {"views": {"shape": [3], "runs": {"a": [[0, 2]], "b": [[1, 3]]}}}})
    assert assemble({"a": [1, 2], "b": [2, 3]}, layout, "x").tolist() == [1, 2, 3]
    with pytest.raises(ServeError, match="disagrees"):
        assemble({"a": [1, 2], "b": [9, 3]}, layout, "x")
