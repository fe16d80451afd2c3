"""Atomic writes: the old file survives a failed write and no temporary file is left."""

import pytest
from optiscope.engine.files import atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_content(tmp_path):
    target = tmp_path / "metrics.csv"
    atomic_write_text(target, "a,b\n1,2\n")
    atomic_write_text(target, "a,b\n3,4\n")
    assert target.read_text(encoding="utf-8") == "a,b\n3,4\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    atomic_write_text(target, "{}")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("optiscope.engine.files.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b'{"runs": []}')
    assert target.read_text(encoding="utf-8") == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_write_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "nope" / "x.txt", "x")
    assert list(tmp_path.iterdir()) == []
