"""Fixtures for the data tests: environments that point the loaders at real data or at nothing."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def extraction_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One archive-extraction cache for the whole session (aclImdb is extracted once, not per test)."""
    return tmp_path_factory.mktemp("kforge-cache")


@pytest.fixture
def shared_env(monkeypatch: pytest.MonkeyPatch, shared_data: Path, extraction_cache: Path) -> Path:
    """KFORGE_DATA_DIR at ../shared/data, offline, a session-wide extraction cache."""
    monkeypatch.setenv("KFORGE_DATA_DIR", str(shared_data))
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(extraction_cache))
    monkeypatch.setenv("KFORGE_OFFLINE", "1")
    return shared_data


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No data anywhere: KFORGE_DATA_DIR unset, empty system datasets, an empty Keras home; returns
    the Keras datasets folder (``$KERAS_HOME/datasets``) for tests to fill."""
    monkeypatch.delenv("KFORGE_DATA_DIR", raising=False)
    monkeypatch.setenv("KFORGE_OFFLINE", "1")
    monkeypatch.setenv("KFORGE_SYSTEM_DATASETS", str(tmp_path / "system"))
    (tmp_path / "system").mkdir()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    datasets = tmp_path / "keras" / "datasets"
    datasets.mkdir(parents=True)
    return datasets


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh decoded-data cache for one test (``$KFORGE_CACHE_DIR``); returns its ``data`` folder."""
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "data"
