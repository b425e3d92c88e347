"""``kforge data RECIPE`` builds (or reuses) the decoded cache of a recipe's image folder, text folder or
table (CSV, Parquet) and shows it.

Example:
    $ kforge data recipes/my_photos.yaml            # decode on all cores, with a progress bar
    $ kforge data recipes/big_table.yaml            # read a large CSV in chunks into the cache
    $ kforge data recipes/my_photos.yaml --verify   # check every block's checksum (rebuilds when damaged)
"""

from __future__ import annotations

import argparse


def register(command) -> None:
    """Add ``data`` to ``kforge``."""
    p = command("data", _data, "build or inspect the decoded cache of a recipe's data: examples per class "
                               "per split, bytes, decode rate")
    p.add_argument("recipe", help="a recipe YAML file or the name of a built-in recipe")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a recipe field, e.g. --set data.image_size=[64,64] (repeatable)")
    p.add_argument("--verify", action="store_true", help="check every checksum of the cache entry")
    p.add_argument("--rebuild", action="store_true", help="decode again even when the cache is valid")
    p.add_argument("--json", action="store_true", help="print the description as JSON")


def _data(args: argparse.Namespace) -> None:
    import json
    import shutil
    import time
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from ..console import console, is_quiet, say
    from ..data.cache import describe_entry, open_entry
    from ..errors import DataError
    from ..recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    spec = recipe.data
    units = {"image_folder": "images", "text_folder": "files", "csv": "rows", "parquet": "rows"}
    if spec.dataset not in units:
        raise DataError(f"dataset '{spec.dataset}' is read as it is stored; only image folders, text folders and "
                        "tables (csv, parquet) are decoded into the cache", where="data.dataset",
                        fix="Run `kforge data` on a recipe with `dataset: image_folder`, `text_folder`, `csv` or "
                            "`parquet`.")
    from ..data import folders
    from ..data.split import Picker

    unit = units[spec.dataset]
    picker = Picker(spec.subset, recipe.seed, spec.stratify)
    validation_split = 0.0 if spec.imbalance or spec.validation else recipe.train.validation_split
    say(f"[bold]kerasforge[/bold] data: {spec.path}")
    with Progress(TextColumn("  decoding"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                  TimeRemainingColumn(), console=console(), disable=is_quiet(), transient=False) as bar:
        task = bar.add_task("decode", total=None, rate="")
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total or None, rate=f"{rate:.0f} {unit}/s")

        if spec.dataset == "image_folder":
            loaded = folders.load_image_folder(
                spec.path, spec.image_size, spec.color_mode, spec.test_split,  # type: ignore[arg-type]
                picker, progress=progress, rebuild=args.rebuild, validation_split=validation_split,
                stratify=spec.stratify)
        elif spec.dataset == "text_folder":
            loaded = folders.load_text_folder(spec.path, spec.test_split, picker, progress=progress,  # type: ignore[arg-type]
                                              rebuild=args.rebuild, validation_split=validation_split,
                                              stratify=spec.stratify)
        else:
            from ..data.table_cache import load_table, use_cache
            from ..data.validation_source import table_validation

            loaded = load_table(spec.path, spec.target, spec.test_split, picker,  # type: ignore[arg-type]
                                validation_split=validation_split, progress=progress, rebuild=args.rebuild,
                                validation=table_validation(spec))
            if spec.dataset == "csv" and not use_cache(spec.path, spec.stream):  # type: ignore[arg-type]
                say("  note: this CSV is small enough that training reads it in memory, not from this cache "
                    "(set data.stream: true, or $KFORGE_TABLE_CACHE_FROM, to use the cache)", style="yellow")
    if spec.validation and spec.dataset in ("image_folder", "text_folder"):  # data.validation: its own entry
        from ..data.validation_source import attach_validation

        attach_validation(spec, loaded, seed=recipe.seed)
        val = loaded.dataset.validation_source or {}
        val_note = next((n for n in loaded.dataset.notes if n.startswith("validation: ")), "")
        print(f"validation: {val.get('examples')} examples from {val.get('source')} ({val_note[12:]})")
    path = Path(loaded.dataset.cache["path"])  # type: ignore[index]
    if args.verify:
        try:
            entry = open_entry(path, full_check=True)
        except ValueError as why:
            say(f"  damaged ({why}): decoding again", style="yellow")
            shutil.rmtree(path, ignore_errors=True)
            return _data(args)
    else:
        entry = open_entry(path)
    assert entry is not None
    info = describe_entry(entry)
    info["reused"] = bool(loaded.dataset.cache["reused"])  # type: ignore[index]
    if args.json:
        print(json.dumps(info, indent=2))
        return
    table = Table(title=f"decoded cache {info['path']}")
    classes = list(next(iter(info["splits"].values())).keys())
    table.add_column("split")
    for name in classes:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    for split, counts in info["splits"].items():
        table.add_row(split, *[str(counts.get(c, 0)) for c in classes], str(sum(counts.values())))
    console().print(table)
    verified = "every checksum verified" if args.verify else "sampled checksums verified"
    print(f"cache: {info['path']} ({'reused' if info['reused'] else 'built now'}; {verified})")
    print(f"bytes: {info['bytes']} ({info['bytes'] / (1 << 20):.1f} MiB)")
    if "rows" in info:
        print(f"table: {info['rows']} rows read ({info['source_bytes'] / (1 << 20):.1f} MiB), {info['features']} "
              f"features, {info['task']}")
    print(f"decode: {info['decode_seconds']} s, {info['decode_rate']} {unit}/s (when built)")
    if (info.get("not_utf8") or {}).get("count"):  # text files whose undecodable bytes were replaced
        print(f"not UTF-8: {info['not_utf8']['count']} file(s), bytes replaced by U+FFFD: "
              f"{', '.join(info['not_utf8']['files'])}")
