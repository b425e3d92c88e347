"""A recipe as MLflow parameters: flat dotted keys, values within MLflow's limits.

Example:
    >>> flatten_params({"train": {"optimizer": {"learning_rate": 0.001}, "metrics": ["accuracy"]}})
    {'train.optimizer.learning_rate': '0.001', 'train.metrics': '["accuracy"]'}
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_KEY = 250
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /:]")


def flatten_params(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists of mappings are indexed (``model.layers.0.units``),
    lists of plain values become one JSON value. Keys and values are cut to MLflow's limits.

    >>> flatten_params({"model": {"layers": [{"type": "Dense", "units": 10}]}})
    {'model.layers.0.type': 'Dense', 'model.layers.0.units': '10'}
    """
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_params(value, name + "."))
        elif isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    flat.update(flatten_params(item, f"{name}.{i}."))
                else:
                    flat[_key(f"{name}.{i}")] = _value(item)
        else:
            flat[_key(name)] = _value(value)
    return flat


def _key(name: str) -> str:
    return _BAD_KEY_CHARS.sub("_", name)[:MAX_KEY]


def _value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list | tuple | dict) or value is None or isinstance(value, bool):
        text = json.dumps(value)
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."
