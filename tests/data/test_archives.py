"""Archives: extracted once, atomically, refusing members that escape their folder."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from kerasforge.data.archives import MARKER, extract_once, extracted_folder
from kerasforge.errors import DataError


@pytest.fixture(autouse=True)
def _cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KFORGE_CACHE_DIR", str(tmp_path / "cache"))


def test_zip_extracts_once_and_again_when_changed(tmp_path: Path) -> None:
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("set/a/1.txt", "one")
    first = extract_once(archive)
    assert first.parent == tmp_path / "cache" / "extracted" and first.name.startswith("set-")
    assert (first / "set" / "a" / "1.txt").read_text() == "one" and (first / MARKER).is_file()
    (first / "set" / "a" / "1.txt").write_text("touched")
    assert extract_once(archive) == first and (first / "set" / "a" / "1.txt").read_text() == "touched"
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("set/a/2.txt", "two")
    second = extract_once(archive)
    assert second != first and (second / "set" / "a" / "2.txt").is_file()
    assert not [p for p in second.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "ok/../../evil.txt"])
def test_zip_path_traversal_is_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(name, "pwned")
    with pytest.raises(DataError, match="outside its folder"):
        extract_once(archive)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()
    assert not extracted_folder(archive).exists()


def test_tar_traversal_is_refused_and_links_skipped(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DataError, match="outside its folder"):
        extract_once(archive)
    good = tmp_path / "links.tgz"
    with tarfile.open(good, "w:gz") as tf:
        link = tarfile.TarInfo("d/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    assert not (extract_once(good) / "d" / "passwd").exists()


def test_truncated_tar_gz(tmp_path: Path) -> None:
    src = tmp_path / "src.tar.gz"
    with tarfile.open(src, "w:gz") as tf:
        info = tarfile.TarInfo("a/x.txt")
        data = bytes(range(256)) * 400
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 2])
    with pytest.raises(DataError, match="not a valid zip or tar archive") as info:
        extract_once(cut)
    assert str(cut) in str(info.value)
