"""Recipe smoke tests read the real datasets beside the repository (``$KFORGE_DATA_DIR``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _data_dir(shared_data, monkeypatch):
    monkeypatch.setenv("KFORGE_DATA_DIR", str(shared_data))


@pytest.fixture(autouse=True)
def _not_quiet():
    """`kforge ... -q` in one test must not silence the messages that later tests look for."""
    from kerasforge.console import set_quiet

    set_quiet(False)
    yield
    set_quiet(False)
