"""Plots of a run as PNG files (matplotlib, Agg): curves, confusion matrix, prediction and top-loss grids, ROC.

Every function takes plain data (history dict, evaluation dict, arrays) and a file path, writes one
PNG and returns the path.

Example:
    >>> training_curves(run.history, run.path / "plots" / "curves.png")   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RIGHT, WRONG = "#1a7f37", "#cf222e"
TRAIN, VALID = "#0969da", "#e8590c"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _values(history: dict[str, list], key: str) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in history.get(key, [])], dtype=np.float64)


def training_curves(history: dict[str, list], path: Path, *, metric: str = "accuracy") -> Path:
    """Loss and ``metric`` per epoch, train vs validation; the best epoch (lowest validation loss) and
    learning-rate changes are marked."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = np.asarray(history.get("epoch") or range(1, len(history.get("loss", [])) + 1))
    panels = [k for k in ("loss", metric) if k in history]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.2 * max(1, len(panels)), 3.4), squeeze=False)
    watched = "val_loss" if "val_loss" in history else "loss"
    watched_values = _values(history, watched)
    best = int(np.nanargmin(watched_values)) if np.isfinite(watched_values).any() else None
    lr = _values(history, "learning_rate")
    changes = [i for i in range(1, len(lr)) if np.isfinite(lr[i]) and not np.isclose(lr[i], lr[i - 1])]
    for ax, key in zip(axes[0], panels, strict=False):
        ax.plot(epochs, _values(history, key), "o-", color=TRAIN, ms=3, label=f"train {key}")
        if f"val_{key}" in history:
            ax.plot(epochs, _values(history, f"val_{key}"), "o-", color=VALID, ms=3, label=f"validation {key}")
        if best is not None:
            ax.axvline(epochs[best], color="#57606a", ls="--", lw=1,
                       label=f"best epoch {epochs[best]} ({watched})")
        for i in changes:
            ax.axvline(epochs[i] - 0.5, color="#8250df", ls=":", lw=1)
            ax.annotate(f"lr {lr[i]:.1e}", (epochs[i] - 0.5, 1), xycoords=("data", "axes fraction"),
                        fontsize=7, color="#8250df", rotation=90, va="top", ha="right")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no history", ha="center", va="center")
    fig.tight_layout()
    return _save(fig, path)


def confusion_heatmap(evaluation: dict[str, Any], path: Path) -> Path:
    """The row-normalised confusion matrix as a heatmap with class names (counts written in the cells)."""
    plt = _pyplot()
    cm = evaluation["confusion_matrix"]
    counts, norm, names = np.asarray(cm["counts"]), np.asarray(cm["normalized"]), cm["labels"]
    n = len(names)
    size = min(12.0, max(3.5, 0.55 * n + 2))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= 30:
        ax.set_xticks(range(n), [str(x)[:14] for x in names], rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), [str(x)[:14] for x in names], fontsize=8)
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({evaluation.get('examples', counts.sum())} examples)")
    fig.tight_layout()
    return _save(fig, path)


def _show(ax, image: np.ndarray) -> None:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    low, high = float(np.nanmin(image)), float(np.nanmax(image))
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images: np.ndarray, rows: Sequence[dict[str, Any]], path: Path, *, title: str,
               columns: int = 6) -> Path:
    """A grid of images, each titled with its predicted and true label: green when right, red when wrong.

    ``rows[i]`` describes ``images[i]``: ``{"true": ..., "predicted": ..., "probability": ..., "loss": ...}``.
    """
    plt = _pyplot()
    n = len(rows)
    columns = max(1, min(columns, n))
    lines = max(1, -(-n // columns))
    fig, axes = plt.subplots(lines, columns, figsize=(2.1 * columns, 2.4 * lines), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, row in zip(axes.flat, images, rows, strict=False):
        ax.axis("on")
        _show(ax, image)
        right = str(row["true"]) == str(row["predicted"])
        text = f"pred {str(row['predicted'])[:12]} {row.get('probability', 0):.2f}\ntrue {str(row['true'])[:12]}"
        if "loss" in row:
            text += f"  loss {row['loss']:.2f}"
        ax.set_title(text, fontsize=8, color=RIGHT if right else WRONG)
        for spine in ax.spines.values():
            spine.set_edgecolor(RIGHT if right else WRONG)
            spine.set_linewidth(2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def roc_curve_plot(roc: dict[str, Any], path: Path) -> Path:
    """The ROC curve of a binary classifier with its AUC."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(roc["fpr"], roc["tpr"], color=TRAIN, lw=2, label=f"AUC {roc['auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="#8c959f", ls="--", lw=1, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def overlaid_curves(histories: dict[str, dict[str, list]], keys: Sequence[str], path: Path) -> Path:
    """One panel per history key (e.g. ``val_loss``), one line per run (for comparisons)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    keys = [k for k in keys if any(k in h for h in histories.values())] or ["loss"]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for label, history in histories.items():
            if key in history:
                epochs = history.get("epoch") or list(range(1, len(history[key]) + 1))
                ax.plot(epochs, _values(history, key), "o-", ms=3, label=label[:40])
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
