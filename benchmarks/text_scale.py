"""Text folders at scale: a generated folder of reviews trained one epoch streamed from the decoded cache and in memory.

Writes ``--reviews`` learnable reviews (``train/{pos,neg}`` and a tenth as many in ``test/``, about
``--words`` words each from a Zipf-distributed vocabulary of 5,000 made-up words, plus a few words that
give the class away), then runs ``kerasforge.train`` (TextVectorization TF-IDF of 5,000 words -> Dense) in
child processes: streamed (``data.stream: true``; the first run reads the files into the cache), in
memory (``false``) and streamed again, each with the cache warm except the first. Reports per run the
peak RSS (``ru_maxrss``), the peak of anonymous memory (``RssAnon``, sampled every 50 ms: heap and
arrays without file-backed pages), the data preparation, the epoch time and test accuracy; prints a
table and writes JSON.

Example:
    python benchmarks/text_scale.py --reviews 200000 --json benchmarks/results/text_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from data_scale import run_child  # noqa: E402 - the image benchmark's child runner
from table_scale import CHILD  # noqa: E402 - a child that also samples RssAnon

VOCABULARY = 5000
CUES = {"pos": ["wonderful", "superb", "moving", "brilliant"], "neg": ["awful", "boring", "dull", "wasted"]}


def _write_chunk(folder: str, split: str, label: str, start: int, stop: int, words: int) -> None:
    import numpy as np

    rng = np.random.default_rng([start, len(label), len(split)])
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(np.random.default_rng(i).choice(letters, 3 + i % 6)) for i in range(VOCABULARY)]
    out = Path(folder) / split / label
    for i in range(start, stop):
        ids = np.minimum(rng.zipf(1.3, words) - 1, VOCABULARY - 1)
        text = [vocab[j] for j in ids]
        for k in rng.choice(words, 3, replace=False):
            text[k] = str(rng.choice(CUES[label]))
        (out / f"{i}.txt").write_text(" ".join(text), "utf-8")


def generate(folder: Path, reviews: int, words: int) -> float:
    """``reviews`` training and ``reviews // 10`` test reviews, half of each class; returns seconds."""
    start = time.perf_counter()
    jobs = []
    for split, n in (("train", reviews), ("test", reviews // 10)):
        for label in CUES:
            (folder / split / label).mkdir(parents=True, exist_ok=True)
            per = n // 2
            jobs += [(str(folder), split, label, i, min(i + 5000, per), words) for i in range(0, per, 5000)]
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_write_chunk, *zip(*jobs, strict=True)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=200_000)
    parser.add_argument("--words", type=int, default=250)
    parser.add_argument("--workdir", default="/tmp/kforge-text-scale")
    parser.add_argument("--json", default="benchmarks/results/text_scale.json")
    args = parser.parse_args()

    work = Path(args.workdir)
    folder = work / f"reviews-{args.reviews}"
    gen_s = 0.0
    if not (folder / "test").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        gen_s = generate(folder, args.reviews, args.words)
    text_bytes = sum(f.stat().st_size for f in folder.rglob("*.txt"))
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # the first run reads the files, the later ones reuse the cache
    env = {**os.environ, "KFORGE_CACHE_DIR": str(cache), "KFORGE_NO_TRACK": "1"}

    def recipe(stream: bool) -> dict:
        return {"name": "text_scale", "seed": 1, "data": {"dataset": "text_folder", "path": str(folder),
                                                          "stream": stream},
                "model": {"layers": [{"type": "TextVectorization", "max_tokens": VOCABULARY, "output_mode": "tf_idf",
                                      "pad_to_max_tokens": True},
                                     {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
                "train": {"epochs": 1, "batch_size": 256, "validation_split": 0.0, "rehearsal": False,
                          "optimizer": {"type": "adam", "learning_rate": 0.01}},
                "output": {"dir": str(work / "runs"), "formats": ["keras"]}}

    runs = {}
    for name, stream in (("stream (cold cache)", True), ("in memory", False), ("stream", True)):
        runs[name] = run_child(recipe(stream), None, env, child=CHILD)
    print(f"{'run':>20} {'peak RSS MiB':>13} {'anon MiB':>9} {'path':>7} {'test acc':>9} {'data s':>7} "
          f"{'epoch s':>8} {'fit s':>7}")
    for name, r in runs.items():
        if "error" in r:
            print(f"{name:>20} {r['error']}")
            continue
        path = "stream" if (r.get("data_path") or {}).get("stream") else "memory"
        t = r["timings"] or {}
        print(f"{name:>20} {r['peak_rss_mib']:>13.0f} {r['peak_anon_mib']:>9.0f} {path:>7} "
              f"{r['metrics']['test_accuracy']:>9.4f} {t.get('data_s', float('nan')):>7.1f} "
              f"{t.get('first_epoch_s', t.get('fit_s', float('nan'))):>8.1f} {t.get('fit_s', float('nan')):>7.1f}")
    warm, memory = runs.get("stream", {}), runs.get("in memory", {})
    ratios = {}
    if "error" not in warm and "error" not in memory:
        ratios = {"peak_rss_stream_over_memory": warm["peak_rss_mib"] / memory["peak_rss_mib"],
                  "peak_anon_stream_over_memory": warm["peak_anon_mib"] / memory["peak_anon_mib"],
                  "epoch_s_stream_over_memory": warm["timings"]["first_epoch_s"] / memory["timings"]["first_epoch_s"],
                  "fit_s_stream_over_memory": warm["timings"]["fit_s"] / memory["timings"]["fit_s"]}
        print("stream / in memory: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"machine": "shared 2-core machine", "date": time.strftime("%Y-%m-%d"),
                                           "reviews": args.reviews, "test_reviews": args.reviews // 10,
                                           "text_bytes": text_bytes, "generate_s": round(gen_s, 1), "runs": runs,
                                           "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
