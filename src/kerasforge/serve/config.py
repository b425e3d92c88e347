"""A model config file serving several models: TF Serving's ``--model_config_file`` (protobuf text) or YAML.

TF Serving's form (read with the ``tensorflow-serving-api`` package's protos)::

    model_config_list {
      config { name: "fashion" base_path: "/models/fashion" model_platform: "tensorflow"
               model_version_policy { latest { num_versions: 2 } }
               version_labels { key: "stable" value: 1 } }
      config { name: "reviews" base_path: "/models/reviews" }
    }

The same in YAML (``.yaml``/``.yml``; base paths relative to the file)::

    models:
      - {name: fashion, base_path: models/fashion, model_version_policy: "latest:2", version_labels: {stable: 1}}
      - {name: reviews, base_path: runs/reviews-20261129-081500}

Example:
    >>> specs = read_model_config(Path("models.config"))   # doctest: +SKIP
    >>> [s.name for s in specs]                              # doctest: +SKIP
    ['fashion', 'reviews']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import KerasforgeError
from .policy import VersionPolicy


@dataclass(frozen=True)
class ModelConfig:
    """One served model of a config file."""

    name: str
    base_path: Path
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    labels: dict[str, int] = field(default_factory=dict)


def read_model_config(path: Path) -> list[ModelConfig]:
    """The models of ``path`` (TF Serving's text format, or YAML by extension)."""
    path = Path(path)
    if not path.is_file():
        raise KerasforgeError(f"no model config file {path}", where="--model-config-file", fix="Check the path.")
    text = path.read_text(encoding="utf-8")
    configs = _from_yaml(text, path) if path.suffix in (".yaml", ".yml") else _from_text_proto(text, path)
    if not configs:
        raise KerasforgeError("the model config file names no model", where=str(path),
                              fix="Add model_config_list { config { name: ... base_path: ... } }.")
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise KerasforgeError(f"model names repeat in the config file: {names}", where=str(path),
                              fix="Give each model its own name.")
    return configs


def _from_text_proto(text: str, path: Path) -> list[ModelConfig]:
    try:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError:
        raise KerasforgeError("reading TF Serving's config format needs the tensorflow-serving-api package",
                              where=str(path), fix="pip install --no-deps tensorflow-serving-api, or write the "
                                                   "config as YAML (models.yaml).") from None
    try:
        parsed = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as exc:
        raise KerasforgeError(f"not a valid TF Serving model config: {exc}", where=str(path),
                              fix="Follow TF Serving's model_config_list format.") from None
    configs = []
    for item in parsed.model_config_list.config:
        choice = item.model_version_policy.WhichOneof("policy_choice")
        if choice == "latest":
            policy = VersionPolicy("latest", latest=max(1, item.model_version_policy.latest.num_versions or 1))
        elif choice == "specific":
            policy = VersionPolicy("specific", specific=tuple(sorted(item.model_version_policy.specific.versions)))
        else:
            policy = VersionPolicy("all")
        configs.append(ModelConfig(item.name, _resolve(item.base_path, path), policy, dict(item.version_labels)))
    return configs


def _from_yaml(text: str, path: Path) -> list[ModelConfig]:
    import yaml

    data = yaml.safe_load(text) or {}
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise KerasforgeError("the YAML config needs a 'models' list", where=str(path),
                              fix="models: [{name: NAME, base_path: PATH}]")
    configs = []
    for i, item in enumerate(models):
        if not isinstance(item, dict) or not item.get("name") or not item.get("base_path"):
            raise KerasforgeError(f"models[{i}] needs a name and a base_path", where=f"{path}: models[{i}]",
                                  fix="models: [{name: NAME, base_path: PATH}]")
        labels = item.get("version_labels") or {}
        try:
            labels = {str(k): int(v) for k, v in labels.items()}
        except (TypeError, ValueError, AttributeError):
            raise KerasforgeError(f"models[{i}].version_labels must map labels to version numbers",
                                  where=f"{path}: models[{i}]", fix="version_labels: {stable: 1}") from None
        configs.append(ModelConfig(str(item["name"]), _resolve(str(item["base_path"]), path),
                                   VersionPolicy.parse(str(item.get("model_version_policy") or "all")), labels))
    return configs


def _resolve(base: str, config: Path) -> Path:
    path = Path(base)
    return path if path.is_absolute() else (config.parent / path)
