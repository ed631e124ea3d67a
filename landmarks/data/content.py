"""What a downloaded file holds: its container (by magic bytes, not by name), the sha256 of its
content after decompression, and archive members that are safe to read or extract.

Content hashes, not container hashes, decide whether a file is right, so a mirror's re-packed
copy (xz instead of gzip) is accepted when what it holds is byte-identical to the release.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import lzma
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Iterator, Mapping

from landmarks.errors import DataError

CHUNK = 1 << 20


def container(path: Path) -> str:
    """'gzip', 'xz', 'bz2', 'tar', 'html' or 'raw', from the first bytes of the file."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:3] == b"BZh":
        return "bz2"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    start = head.lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in start[:200]:
        return "html"
    return "raw"


def _refuse_html(path: Path, kind: str) -> None:
    if kind == "html":
        raise DataError(
            f"{path}: the server sent an HTML page instead of the file (an error, login or "
            "rate-limit page). Nothing was kept; try another mirror or set LANDMARKS_DATA_MIRROR."
        )


def open_decompressed(path: Path) -> IO[bytes]:
    kind = container(path)
    _refuse_html(path, kind)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


@contextlib.contextmanager
def _stream_errors(path: Path) -> Iterator[None]:
    """Turn the decompressors' errors into DataErrors that say what to do."""
    try:
        yield
    except DataError:
        raise
    except EOFError:
        raise DataError(
            f"{path}: the compressed file is truncated (it ends before its end marker); "
            "the download was cut off. Delete it and fetch again."
        ) from None
    except (OSError, zlib.error, lzma.LZMAError, tarfile.TarError) as exc:
        raise DataError(f"{path}: corrupt or unreadable file ({exc}). Delete it and fetch again.") from None


# where a streamed member would land: only for the data filter's path arithmetic, never written
_NOWHERE = "/landmarks-archive-root"


def check_member(member: tarfile.TarInfo, archive: Path, dest: str = _NOWHERE) -> tarfile.TarInfo:
    """The member as tarfile's "data" extraction filter passes it; a DataError saying why the
    archive is refused otherwise (a path that leaves `dest`, a link out of it, a device or pipe).

    Absolute names, '..' anywhere in a name and links whose target climbs with '..' are refused
    too, although the filter would strip a leading "/" and accept a '..' that stays inside: a
    dataset archive never has them, so one that does is not the publisher's, and the checks hold
    even on a Python whose filter has known bypasses through chains of links.
    """
    where = f"{archive}: archive member {member.name!r}"
    name = PurePosixPath(member.name)
    if member.name.startswith(("/", "\\")) or (name.parts[:1] and ":" in name.parts[0]):
        raise DataError(f"{where} has an absolute path; refusing the archive (it may be malicious)")
    if ".." in name.parts:
        raise DataError(f"{where} climbs out with '..'; refusing the archive (it may be malicious)")
    if (member.issym() or member.islnk()) and (member.linkname.startswith("/")
                                               or ".." in PurePosixPath(member.linkname).parts):
        raise DataError(f"{where} is a link to {member.linkname!r}, outside the archive; refusing the archive")
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.OutsideDestinationError:
        raise DataError(f"{where} climbs out with '..'; refusing the archive (it may be malicious)") from None
    except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
        raise DataError(f"{where} is a link to {member.linkname!r}, outside the archive; refusing the archive") from None
    except tarfile.SpecialFileError:
        raise DataError(f"{where} is a device or pipe; refusing the archive") from None
    except tarfile.FilterError as exc:
        raise DataError(f"{where}: {exc}; refusing the archive") from None


def iter_members(path: Path, limit: int | None = None, what: str = ""
                 ) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Every member of a tar archive (any compression), checked for safety, in archive order;
    with `limit`, no more than that many bytes of the decompressed archive are read."""
    with _stream_errors(path), open_decompressed(path) as raw, tarfile.open(
            fileobj=raw if limit is None else _Capped(raw, limit, path, what or path.name), mode="r|") as tar:
        for member in tar:
            check_member(member, path)
            yield member, (tar.extractfile(member) if member.isfile() else None)


class ContentTooLarge(DataError):
    """The decompressed content passed the size it should have; `read`: the bytes read when cut off."""

    def __init__(self, msg: str, read: int) -> None:
        super().__init__(msg)
        self.read = read


class _Capped:
    """A decompressed stream that gives at most `limit` bytes and raises ContentTooLarge on the
    next one: a decompression bomb (20 MB of gzip holding 20 GiB of zeros) is cut off once it passes
    the size the file should have, instead of being decompressed and hashed whole. The
    decompressors inflate only what is asked for, so memory stays at one chunk."""

    def __init__(self, stream: IO[bytes], limit: int, path: Path, what: str) -> None:
        self.stream, self.limit, self.path, self.what, self.count = stream, limit, path, what, 0

    def read(self, n: int = -1) -> bytes:
        room = self.limit + 1 - self.count  # one byte past the limit is enough to know
        chunk = self.stream.read(room if n is None or n < 0 else min(n, room))
        self.count += len(chunk)
        if self.count > self.limit:
            raise ContentTooLarge(f"{self.path}: holds more than the {self.limit:,} bytes {self.what} has once "
                                  f"decompressed (reading stopped after {self.count:,} bytes): another file, or a "
                                  "decompression bomb", self.count)
        return chunk


def _sha256(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


# what an archive may hold besides the members whose sizes are known: tar headers and padding, a
# readme (CIFAR-10's binary release: about 12 kB)
ARCHIVE_SLACK = 1 << 20


def content_hashes(path: Path, archive: bool, wanted: set[str] | None = None,
                   sizes: Mapping[str, int] | None = None, what: str = "") -> dict[str, str]:
    """sha256 of the decompressed content: {"": digest} for a single file, {member: digest} for
    the regular members of an archive (only those in `wanted`, when given). With `sizes` (bytes,
    keyed like the result), reading stops once content passes them (ContentTooLarge): a single
    file at its size, an archive at the sum of its members' plus ARCHIVE_SLACK, and a member whose
    header declares another size is refused before it is read."""
    sizes, what = sizes or {}, what or path.name
    if not archive:
        with _stream_errors(path), open_decompressed(path) as f:
            return {"": _sha256(_Capped(f, sizes[""], path, what) if "" in sizes else f)}
    out = {}
    with _stream_errors(path):
        for member, stream in iter_members(path, sum(sizes.values()) + ARCHIVE_SLACK if sizes else None, what):
            if member.name in sizes and member.size != sizes[member.name]:
                raise DataError(f"{path}: archive member {member.name!r} holds {member.size:,} bytes, "
                                f"{sizes[member.name]:,} in the release; not {what}")
            if stream is not None and (wanted is None or member.name in wanted):
                out[member.name] = _sha256(stream)
    return out


def read_content(path: Path, member: str | None = None) -> bytes:
    """The decompressed bytes of a single-file download, or of one archive member."""
    if member is None:
        with _stream_errors(path), open_decompressed(path) as f:
            return f.read()
    with _stream_errors(path):
        for m, stream in iter_members(path):
            if m.name == member and stream is not None:
                return stream.read()
    raise DataError(f"{path}: no member {member!r} in the archive")


def safe_extract(path: Path, dest: Path) -> list[Path]:
    """Extract a tar archive into `dest`, a folder this call creates, with tarfile's "data" filter
    and the refusals of `check_member`; on a refusal `dest` is removed again, nothing is left."""
    if dest.exists():
        raise ValueError(f"{dest} exists: extract into a new folder")
    dest.mkdir(parents=True)
    names: list[str] = []

    def keep(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
        checked = check_member(member, path, dest_path)
        if checked.isfile():
            names.append(checked.name)
        return checked

    try:
        with _stream_errors(path), open_decompressed(path) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            tar.extractall(dest, filter=keep)
    except DataError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return [dest / n for n in names]


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes as stored (md5 of a download, sha256 of published weights)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()
