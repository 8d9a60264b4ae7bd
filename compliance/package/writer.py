"""Writing a package's files into its zip, each one's size and SHA-256 kept for the manifest.

Files are written as they are produced: a large one (the audit export) through ``stream``, in
chunks, so that no file — and not the zip, which goes to a spooled temporary file — is ever
held whole in memory.
"""

import datetime as dt
import hashlib
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass

from compliance.package.offline import UNLISTED, unsafe_name

#: Bytes gathered before they are handed to the compressor.
BUFFER = 2**20


@dataclass(frozen=True)
class PackageFile:
    path: str
    size: int
    sha256: str

    def as_dict(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


class PackageWriter:
    def __init__(self, archive: zipfile.ZipFile, *, moment: dt.datetime) -> None:
        self.archive = archive
        self.files: list[PackageFile] = []
        self._date_time = moment.astimezone(dt.UTC).timetuple()[:6]

    def _info(self, path: str) -> zipfile.ZipInfo:
        if unsafe_name(path) or any(f.path == path for f in self.files):
            raise ValueError(f"not a package path, or written twice: {path!r}")
        info = zipfile.ZipInfo(path, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def add(self, path: str, data: bytes, *, listed: bool = True) -> PackageFile:
        """Write one file whole (the small ones). ``listed=False`` only for the manifest and
        its signature, which the manifest cannot list."""
        if listed == (path in UNLISTED):
            raise ValueError(f"{path!r} is {'not ' if listed else ''}listed in no manifest")
        self.archive.writestr(self._info(path), data)
        written = PackageFile(path, len(data), hashlib.sha256(data).hexdigest())
        if listed:
            self.files.append(written)
        return written

    @contextmanager
    def stream(self, path: str):
        """A file written in pieces: ``with writer.stream(path) as out: out.write(b"…")``."""
        info = self._info(path)
        with self.archive.open(info, "w", force_zip64=True) as raw:
            out = _HashingBuffer(raw)
            yield out
            out.flush()
        self.files.append(PackageFile(path, out.size, out.digest.hexdigest()))


class _HashingBuffer:
    def __init__(self, raw) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= BUFFER:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        chunk = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self.digest.update(chunk)
        self.size += len(chunk)
        self.raw.write(chunk)
