"""tracklayer.fs: user-chosen paths stay inside the operator's folder (no Django needed)."""

import os

import pytest

from tracklayer import fs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("audit", "audit"),
        ("audit/weekly", "audit/weekly"),
        ("./audit//weekly/", "audit/weekly"),
        ("a b/ünïcode", "a b/ünïcode"),
        ("...", "..."),
        ("audit..2026", "audit..2026"),
    ],
)
def test_plain_relative_paths_are_normalised(value, expected):
    assert fs.relative_path(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("/etc", "absolute"),
        ("//server/share", "absolute"),
        ("..", ".."),
        ("a/../b", ".."),
        ("a/..", ".."),
        ("a\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("a\nb", "control"),
        ("a\x7f", "control"),
        ("a\u200bb", "control"),  # zero-width space: a name that looks like another
        ("a\ud800", "control"),  # lone surrogate
        ("x" * 256, "255"),
    ],
)
def test_escapes_are_refused_with_the_reason(value, reason):
    with pytest.raises(fs.PathRefusedError, match=reason):
        fs.relative_path(value)


def test_write_creates_folders_and_replaces_a_link_rather_than_following_it(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"theirs")
    fs.confined_write(root, "a/b/f", b"one")
    (root / "a/b/f").unlink()
    (root / "a/b/f").symlink_to(outside / "f")

    fs.confined_write(root, "a/b/f", b"two")

    assert (root / "a/b/f").read_bytes() == b"two" and not (root / "a/b/f").is_symlink()
    assert (outside / "f").read_bytes() == b"theirs"
    assert sorted(os.listdir(root / "a/b")) == ["f"]  # no temporary file left behind


def test_a_linked_folder_is_refused_by_name_relative_to_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "a").symlink_to(outside, target_is_directory=True)

    with pytest.raises(fs.PathRefusedError) as refused:
        fs.confined_write(root, "a/f", b"x")
    with pytest.raises(fs.PathRefusedError):
        fs.confined_unlink(root, "a/f")

    assert "“a”" in str(refused.value) and str(tmp_path) not in str(refused.value)
    assert list(outside.iterdir()) == []


def test_the_root_itself_may_be_the_operators_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "root").symlink_to(real, target_is_directory=True)

    fs.confined_write(tmp_path / "root", "a/f", b"x")

    assert (real / "a/f").read_bytes() == b"x"


def test_unlink_removes_only_regular_files(tmp_path):
    fs.confined_write(tmp_path, "a/f", b"x")
    (tmp_path / "a/d").mkdir()

    assert fs.confined_unlink(tmp_path, "a/f") is True
    assert fs.confined_unlink(tmp_path, "a/f") is False
    assert fs.confined_unlink(tmp_path, "missing/f") is False
    with pytest.raises(fs.PathRefusedError):
        fs.confined_unlink(tmp_path, "a/d")
    with pytest.raises(fs.PathRefusedError):
        fs.confined_unlink(tmp_path, "../a/f")
