"""Recipe smoke tests read the real datasets beside the repository (``$KFORGE_DATA_DIR``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _data_dir(shared_data, monkeypatch):
    monkeypatch.setenv("KFORGE_DATA_DIR", str(shared_data))
    monkeypatch.delenv("KFORGE_REHEARSAL", raising=False)  # every built-in recipe passes its rehearsal


@pytest.fixture(autouse=True)
def _not_quiet():
    """`kforge ... -q` in one test must not silence the messages that later tests look for."""
    from kerasforge.console import set_quiet

    set_quiet(False)
    yield
    set_quiet(False)


# One trained run per (recipe, overrides) for the whole session: the smoke tests and the end-to-end test
# (train -> reload -> predict -> export -> serve) share it instead of training each recipe twice.
_TRAINED: dict[tuple, object] = {}


@pytest.fixture(scope="session")
def trained_recipe(tmp_path_factory):
    """``trained_recipe(name, overrides)`` -> the finished :class:`kerasforge.Run`, trained once a session."""
    import time

    import kerasforge

    def train(name: str, overrides: list[str]):
        key = (name, tuple(overrides))
        if key not in _TRAINED:
            start = time.perf_counter()
            run = kerasforge.train(name, output_dir=tmp_path_factory.mktemp(name), show_summary=False,
                                   overrides=[*overrides, "train.verbose=0"], track=False)
            run.info["smoke_s"] = time.perf_counter() - start
            _TRAINED[key] = run
        return _TRAINED[key]

    return train
