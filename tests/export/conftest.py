"""Export fixtures: small real runs (Fashion-MNIST CNN, IMDB word ids, IMDB raw text), trained once per session,
and their exports to every format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from export_cases import ALL_FORMATS, FASHION, IMDB_FORMATS, SHARED_DATA


def _train(recipe: dict, root: Path) -> Path:
    import kerasforge
    from kerasforge.console import set_quiet

    set_quiet(True)
    return kerasforge.train(recipe, output_dir=root, show_summary=False).path


@pytest.fixture(scope="session")
def fashion_run(tmp_path_factory) -> Path:
    """A two-epoch CNN on 1000 Fashion-MNIST images (scaled by 1/255 in training)."""
    if not Path(FASHION).is_dir():
        pytest.skip(f"{FASHION} is not here (apt-get install dataset-fashion-mnist)")
    return _train({
        "name": "fashion_cnn", "seed": 1,
        "data": {"dataset": "fashion_mnist", "subset": 1000},
        "model": {"layers": [{"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"},
                             {"type": "MaxPooling2D", "pool_size": 2}, "Flatten",
                             {"type": "Dense", "units": 10, "activation": "softmax"}]},
        "train": {"epochs": 2, "loss": "sparse_categorical_crossentropy", "batch_size": 32},
    }, tmp_path_factory.mktemp("fashion"))


@pytest.fixture(scope="session")
def imdb_run(tmp_path_factory) -> Path:
    """Embedding -> GlobalAveragePooling1D -> Dense(1, sigmoid) on 500 IMDB reviews as word ids."""
    if not (SHARED_DATA / "aclImdb.tar.gz").is_file():
        pytest.skip(f"{SHARED_DATA}/aclImdb.tar.gz is not here")
    os.environ["KFORGE_DATA_DIR"] = str(SHARED_DATA)
    return _train({
        "name": "imdb_ids", "seed": 1,
        "data": {"dataset": "imdb", "subset": 500, "num_words": 2000, "maxlen": 64},
        "model": {"layers": [{"type": "Embedding", "input_dim": 2000, "output_dim": 16}, "GlobalAveragePooling1D",
                             {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
        # confident enough that quantization (a few 1e-5 on each probability) flips no borderline review
        "train": {"epochs": 5, "loss": "binary_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01}},
    }, tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="session")
def text_run(tmp_path_factory) -> Path:
    """A model that takes raw review text: TextVectorization inside, on 200 IMDB reviews."""
    if not (SHARED_DATA / "aclImdb.tar.gz").is_file():
        pytest.skip(f"{SHARED_DATA}/aclImdb.tar.gz is not here")
    os.environ["KFORGE_DATA_DIR"] = str(SHARED_DATA)
    return _train({
        "name": "imdb_text", "seed": 1,
        "data": {"dataset": "text_folder", "path": "aclImdb.tar.gz", "subset": 200},
        "model": {"layers": [{"type": "TextVectorization", "max_tokens": 2000, "output_sequence_length": 64},
                             {"type": "Embedding", "input_dim": 2000, "output_dim": 8}, "GlobalAveragePooling1D",
                             {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
        "train": {"epochs": 1, "loss": "binary_crossentropy"},
    }, tmp_path_factory.mktemp("text"))


@pytest.fixture(scope="session")
def fashion_exports(fashion_run):
    from kerasforge.export import export_run

    return export_run(fashion_run, ALL_FORMATS)


@pytest.fixture(scope="session")
def imdb_exports(imdb_run):
    from kerasforge.export import export_run

    return export_run(imdb_run, IMDB_FORMATS)
