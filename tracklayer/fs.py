"""The filesystem policy: a path a user chooses stays inside the folder the operator chose.

Guarantees:

- ``relative_path`` accepts only a relative path of plain names and returns it normalised
  (``"a//./b/"`` → ``"a/b"``). It refuses, naming the reason: absolute paths, ``..``
  anywhere, backslashes, NUL and every other control, format, surrogate or unassigned
  character, and names longer than the kernel's 255 bytes. It never "repairs" an escape.
- ``confined_write`` and ``confined_unlink`` reach ``root/relative`` one folder at a time from a
  descriptor of ``root``, opening each folder with ``O_NOFOLLOW | O_DIRECTORY`` and the file
  itself without following links either: no symbolic link below ``root`` is ever followed —
  not one planted in advance, nor one swapped in between a check and a use, since nothing is
  checked by name and then used by name. So nothing outside ``root`` is written or removed.
  ``root`` itself is the operator's choice and may be a link (to a mount, say).
- ``confined_write`` writes a temporary file next to the target and renames it into place, so a
  reader never sees half a file; ``confined_unlink`` removes only a regular file.
- Error messages name paths relative to ``root`` only, so they can be shown to the user who
  chose the path without telling them where the operator keeps things.

No Django here: this module is the whole policy, tested on its own (tests/test_fs.py).
"""

import errno
import os
import secrets
import shutil
import stat
import unicodedata
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

NAME_MAX = 255  # bytes per name on Linux file systems
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRefusedError(ValueError):
    """A path that is not a plain relative path, or that leads through a link; says why."""


def relative_path(value: str) -> str:
    """``value`` as a normalised relative path (``""`` when it names no folder at all)."""
    if "\x00" in value:
        raise PathRefusedError("contains a NUL character")
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise PathRefusedError("contains a control or invisible formatting character")
    if "\\" in value:
        raise PathRefusedError("contains a backslash (separate folders with “/”)")
    if value.startswith("/"):
        raise PathRefusedError("is an absolute path (it starts with “/”)")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PathRefusedError("contains “..”")
    if any(len(part.encode()) > NAME_MAX for part in parts):
        raise PathRefusedError(f"has a name longer than {NAME_MAX} bytes")
    return "/".join(parts)


def _without_filename(error: OSError) -> OSError:
    # OSError's text carries the absolute path it failed on; the user gets only the reason
    return OSError(error.errno, error.strerror)


def _open_folders(root: Path, folders: list[str], *, create: bool) -> int:
    """A descriptor of ``root/folders…``, reached without following any link below ``root``."""
    try:
        if create:
            root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise _without_filename(error) from None
    try:
        for depth, name in enumerate(folders, start=1):
            if create:
                with suppress(FileExistsError):  # whatever stands there is checked just below
                    os.mkdir(name, 0o750, dir_fd=fd)
            try:
                child = os.open(name, _FOLDER, dir_fd=fd)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise PathRefusedError(
                        f"“{'/'.join(folders[:depth])}” is a symbolic link or not a folder "
                        "(links are never followed)"
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _split(relative: str) -> tuple[list[str], str]:
    normalised = relative_path(relative)
    if not normalised:
        raise PathRefusedError("names no file")
    *folders, name = normalised.split("/")
    return folders, name


def confined_write(root: Path, relative: str, data: bytes | BinaryIO) -> None:
    """Write ``data`` — bytes, or a binary file read from where it stands, in chunks — to
    ``root/relative`` (creating folders), never through a link."""
    folders, name = _split(relative)
    fd = _open_folders(root, folders, create=True)
    temporary = f".{secrets.token_hex(8)}.partial"
    try:
        out = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o640,
            dir_fd=fd,
        )
        try:
            with os.fdopen(out, "wb") as file:
                if isinstance(data, bytes | bytearray | memoryview):
                    file.write(data)
                else:
                    shutil.copyfileobj(data, file)
                file.flush()
                os.fsync(file.fileno())
            # rename replaces a link standing at ``name`` itself; it never writes through it
            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=fd)
            raise
    except OSError as error:
        raise _without_filename(error) from None
    finally:
        os.close(fd)


def confined_unlink(root: Path, relative: str) -> bool:
    """Remove the regular file ``root/relative``; False when nothing is there.

    Refuses (``PathRefusedError``) when a link, a folder or anything but a regular file stands
    at that path or on the way to it: that is not the file that was written there."""
    folders, name = _split(relative)
    try:
        fd = _open_folders(root, folders, create=False)
    except FileNotFoundError:
        return False
    try:
        try:
            found = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(found.st_mode):
            raise PathRefusedError(f"“{relative_path(relative)}” is not a regular file")
        os.unlink(name, dir_fd=fd)
        return True
    finally:
        os.close(fd)
