"""Shared test setup: real data from ../shared/data and Debian's Fashion-MNIST, offline, quiet Keras."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("KFORGE_OFFLINE", "1")  # never try to download in tests
os.environ.setdefault("KFORGE_NO_TRACK", "1")  # tracking tests log runs themselves
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KFORGE_WAIT", "1")  # `kforge train` makes its report before returning (no stray processes)
# The rehearsal before training costs about a second per run; it is on in the tests of the rehearsal and in
# every recipe's smoke and end-to-end tests (tests/recipes), off in the others, which train hundreds of runs.
os.environ.setdefault("KFORGE_REHEARSAL", "0")


def _pin_in_process_backend() -> None:
    """Keras picks its backend once per process. Tests that train in-process would otherwise get whichever
    backend the first of them happened to choose (JAX for a dense recipe, TensorFlow for a convnet), so the
    suite's own process imports Keras on TensorFlow up front; the `kforge` processes tests start still
    choose for themselves (the variable is not left set for them)."""
    if "KERAS_BACKEND" in os.environ:
        return
    os.environ["KERAS_BACKEND"] = "tensorflow"
    try:
        import keras  # noqa: F401
    finally:
        del os.environ["KERAS_BACKEND"]


_pin_in_process_backend()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets that sits beside the repository (skip when it is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not here")
    return SHARED_DATA
