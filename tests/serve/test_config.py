"""Several models from one config file: TF Serving's model_config_list text format, or YAML."""

from __future__ import annotations

import pytest

from kerasforge.errors import KerasforgeError
from kerasforge.serve.registry import ModelRegistry


def test_tf_serving_text_config(base_path, runs, tmp_path):
    pytest.importorskip("tensorflow_serving.config")
    config = tmp_path / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{ name: "clothes" base_path: "{base_path}" model_platform: "tensorflow"
           model_version_policy {{ specific {{ versions: 1 }} }}
           version_labels {{ key: "stable" value: 1 }} }}
  config {{ name: "words" base_path: "{runs['reviews']}" }}
}}""")
    registry = ModelRegistry.from_config(config)
    assert registry.names() == ["clothes", "words"]
    clothes = registry.entry("clothes")
    assert sorted(clothes.versions) == [1] and clothes.labels == {"stable": 1}
    assert registry.get("clothes", label="stable").engine.name == "onnxruntime"
    config.write_text("model_config_list { config { name: 'x' base_path: 5 } }")
    with pytest.raises(KerasforgeError, match="not a valid TF Serving model config"):
        ModelRegistry.from_config(config)


def test_yaml_config_with_relative_paths_and_errors(base_path, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fashion").symlink_to(base_path)
    config = tmp_path / "models.yaml"
    config.write_text("models:\n  - {name: fashion, base_path: models/fashion, model_version_policy: 'latest:1',"
                      " version_labels: {canary: 2}}\n")
    registry = ModelRegistry.from_config(config)
    assert sorted(registry.entry("fashion").versions) == [2] and registry.get("fashion", label="canary").version == 2
    for text, message in (("models: [{name: a}]", "base_path"), ("other: 1", "'models' list"),
                          ("models:\n  - {name: a, base_path: models/fashion, version_labels: {x: y}}", "labels"),
                          ("models: []", "names no model")):
        config.write_text(text)
        with pytest.raises(KerasforgeError, match=message):
            ModelRegistry.from_config(config)
