"""Reading recipe YAML safely: any encoding mistake, duplicate key, alias bomb or absurd nesting becomes one
clear :class:`~kerasforge.errors.RecipeError`, never a traceback or a hang.

- Text: UTF-8 (a BOM is fine), or UTF-16/32 with their BOM; anything else is refused with the byte offset.
- Numbers: YAML 1.2's rules, so ``1e-3`` is a number (PyYAML's YAML 1.1 reads it as a string).
- Duplicate keys in one mapping are refused (YAML forbids them; PyYAML silently keeps the last).
- Anchors and aliases work, but a document that expands to more than :data:`MAX_NODES` values (a
  "billion laughs" bomb) or nests deeper than :data:`MAX_DEPTH` is refused before it is built.

Example:
    >>> load_yaml_text("train: {optimizer: {learning_rate: 1e-3}}", where="r.yaml")
    {'train': {'optimizer': {'learning_rate': 0.001}}}
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import RecipeError

MAX_BYTES = 2_000_000
MAX_DEPTH = 64
MAX_NODES = 200_000

_FLOAT_12 = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 floats and duplicate keys refused."""


RecipeLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in list("-+0123456789."):
    RecipeLoader.yaml_implicit_resolvers[_first] = [
        (tag, regexp) for tag, regexp in RecipeLoader.yaml_implicit_resolvers.get(_first, [])
        if tag != "tag:yaml.org,2002:float"]
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))
for _first in list("-+0123456789."):  # ints win over floats for plain whole numbers
    resolvers = RecipeLoader.yaml_implicit_resolvers[_first]
    resolvers.sort(key=lambda pair: pair[0] != "tag:yaml.org,2002:int")


def _construct_mapping(loader: RecipeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:  # the mapping's own keys (keys merged in with `<<:` may be overridden)
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in seen:
                mark = key_node.start_mark
                raise RecipeError(f"the key {key!r} appears twice in one mapping (line {seen[key]} and line "
                                  f"{mark.line + 1})", where=mark.name,
                                  fix="Keep one of them: YAML does not allow a key twice.")
            seen[key] = key_node.start_mark.line + 1
        except TypeError:
            mark = key_node.start_mark
            raise RecipeError(f"a key at line {mark.line + 1} is a {type(key).__name__}, not a name",
                              where=mark.name, fix="Write keys as plain names, e.g. `epochs:`.") from None
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


RecipeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def decode_recipe_bytes(data: bytes, where: str) -> str:
    """The text of a recipe file: UTF-8 (BOM allowed) or UTF-16/UTF-32 with a BOM."""
    if len(data) > MAX_BYTES:
        raise RecipeError(f"is {len(data):,} bytes, far larger than any recipe", where=where,
                          fix=f"A recipe is a short YAML file (at most {MAX_BYTES:,} bytes); check the path.")
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise RecipeError(f"starts with a {codec} byte-order mark but is not valid {codec} "
                                  f"(byte {exc.start})", where=where, fix="Save the file as UTF-8.") from None
    if b"\x00" in data:
        raise RecipeError("is a binary file, not YAML text", where=where,
                          fix="Give a YAML recipe file (UTF-8 text).")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RecipeError(f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line} (offset {exc.start}) "
                          "cannot be decoded", where=where,
                          fix="Save the file as UTF-8 (e.g. in your editor's 'Save with encoding').") from None


def _check_size(root: yaml.Node, where: str) -> None:
    """Refuse documents nested deeper than MAX_DEPTH or expanding (aliases included) to over MAX_NODES nodes."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise RecipeError(f"nests more than {MAX_DEPTH} levels deep (line {node.start_mark.line + 1})",
                              where=where, fix="A recipe is a few levels deep; check the brackets and indentation.")
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_NODES:
                raise RecipeError(f"expands to more than {MAX_NODES:,} values through its anchors and aliases "
                                  "(an alias bomb)", where=where,
                                  fix="Use anchors (&name / *name) only to repeat small pieces.")
            continue
        if id(node) in sizes:
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)


def load_yaml_text(text: str, *, where: str) -> Any:
    """Parse recipe YAML text (see the module docstring); errors name ``where`` and the line."""
    loader = RecipeLoader(text)
    loader.name = where
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise RecipeError(f"nests too deeply to read (more than {MAX_DEPTH} levels)", where=where,
                              fix="A recipe is a few levels deep; check the brackets and indentation.") from None
        if node is None:
            return None
        _check_size(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"is not valid YAML{at}: {problem}", where=where,
                          fix="Check the indentation and the ':' after each key on that line.") from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> Any:
    """Read and parse a recipe file (see :func:`load_yaml_text`)."""
    where = str(path)
    try:
        if not path.is_file():
            raise RecipeError("is not a regular file", where=where, fix="Give the path of a YAML recipe file.")
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"cannot be read ({exc.strerror})", where=where,
                          fix="Check the file exists and is readable.") from None
    return load_yaml_text(decode_recipe_bytes(data, where), where=where)


def load_yaml_value(text: str, *, where: str) -> Any:
    """One ``--set`` value parsed as YAML, with a clear error when it is not valid YAML.

    >>> load_yaml_value("[1, 2]", where="--set x")
    [1, 2]
    """
    try:
        return load_yaml_text(text, where=where)
    except RecipeError as exc:
        raise RecipeError(f"the value {text!r} {exc.what}", where=where,
                          fix="Quote text that is not meant as YAML, e.g. --set 'name=\"my run\"'; lists are "
                              "written [1, 2].") from None


def check_extends(parent: Any, *, where: str) -> None:
    """``extends`` names one recipe: a file path or a built-in recipe name (a string)."""
    if not isinstance(parent, str) or not parent.strip():
        raise RecipeError(f"'extends' must name one recipe (a file path or a built-in recipe name), got "
                          f"{type(parent).__name__} {parent!r}"[:300], where=f"{where}: extends",
                          fix="Write e.g. `extends: fashion_mnist_cnn` or `extends: base.yaml`.")


_STEP = re.compile(r"\[(-?\d+)\]|\.?([A-Za-z_][\w-]*)")


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a recipe path such as ``train.epochs`` or ``model.layers[1].units`` (the paths
    ``search.params`` uses); a clear error for a path that does not fit the recipe.

    >>> d = {"model": {"layers": ["Flatten", {"type": "Dense", "units": 10}]}}
    >>> set_path(d, "model.layers[1].units", 32); d["model"]["layers"][1]["units"]
    32
    """
    steps: list[str | int] = []
    pos = 0
    for match in _STEP.finditer(path):
        if match.start() != pos or (match.group(2) and pos and path[match.start()] != "."):
            break
        steps.append(int(match.group(1)) if match.group(1) is not None else match.group(2))
        pos = match.end()
    if pos != len(path) or not steps or not isinstance(steps[0], str):
        raise RecipeError(f"{path!r} is not a recipe path", where=f"--set {path}",
                          fix="Write keys joined by dots and list items as [index], e.g. train.epochs=3 or "
                              "model.layers[1].units=64.")
    node: Any = data
    for i, step in enumerate(steps[:-1]):
        here = _shown_path(steps[:i + 1])
        following = steps[i + 1]
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                size = f"a list of {len(node)}" if isinstance(node, list) else f"a {type(node).__name__}"
                raise RecipeError(f"cannot set {path!r}: {here} is out of range ({_shown_path(steps[:i])} is "
                                  f"{size})", where=f"--set {path}", fix="Count list items from 0.")
        else:
            if not isinstance(node, dict):
                raise RecipeError(f"cannot set {path!r}: {_shown_path(steps[:i])} is not a section",
                                  where=f"--set {path}", fix="Point the override at a key inside a section, "
                                  "e.g. train.epochs=3.")
            if step not in node:
                if isinstance(following, int):
                    raise RecipeError(f"cannot set {path!r}: the recipe has no list {here}",
                                      where=f"--set {path}", fix="Index only lists the recipe has, e.g. "
                                      "model.layers[0].")
                node[step] = {}
        if isinstance(node[step], str) and isinstance(following, str):
            node[step] = {"type": node[step]}  # a bare name (`Flatten`, `adam`) gains kwargs
        if not isinstance(node[step], dict | list):
            raise RecipeError(f"cannot set {path!r}: {here} is not a section", where=f"--set {path}",
                              fix="Point the override at a key inside a section, e.g. train.epochs=3.")
        node = node[step]
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or not -len(node) <= last < len(node):
            raise RecipeError(f"cannot set {path!r}: no such list item", where=f"--set {path}",
                              fix="Count list items from 0; replace a whole list with path=[...].")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise RecipeError(f"cannot set {path!r}: {_shown_path(steps[:-1])} is a list", where=f"--set {path}",
                          fix="Index it, e.g. model.layers[0].units=64.")


def _shown_path(steps: list[str | int]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else (f".{s}" if i else s) for i, s in enumerate(steps))
