"""Fetch dataset files: the verified cache, then the mirrors, then each URL in turn.

    landmarks fetch mnist fashion-mnist
    LANDMARKS_DATA_MIRROR=/path/to/mirror landmarks fetch cifar10

A mirror is a folder or an http(s) URL laid out as `<mirror>/<dataset>/<file>`; several may be
given, separated by commas or spaces, and are tried in order. A download goes to a temporary
name, resumes with an HTTP Range request after a cut, is verified by the sha256 of its content,
and only then is renamed into `data/raw/<dataset>/`. Nothing unverified is ever left there.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from landmarks.data.content import ContentTooLarge, container, content_hashes, file_digest
from landmarks.errors import DataError

log = logging.getLogger(__name__)

MIRROR_ENV = "LANDMARKS_DATA_MIRROR"
USER_AGENT = "landmarks-fetch/1 (+reproducible benchmark suite)"


@dataclass(frozen=True)
class RemoteFile:
    name: str  # the publisher's file name
    urls: tuple[str, ...]  # the canonical URL first, then known mirrors
    # sha256 of the content after decompression: {"": digest} for a single compressed file,
    # {member path: digest} for a tar archive (members not named are not checked)
    content: Mapping[str, str]
    archive: bool = False
    md5: str = ""  # the publisher's checksum of the container, where there is one
    alternates: tuple[str, ...] = ()  # names under which mirrors keep re-packed copies
    # bytes of content after decompression, keyed like `content`: reading stops past them (a bomb)
    sizes: Mapping[str, int] = field(default_factory=dict)


@dataclass
class FetchOptions:
    timeout: float = 20.0  # seconds to connect and between bytes
    retries: int = 3  # tries per URL for transient failures (cut transfers, timeouts, 5xx)
    backoff: float = 1.0  # seconds before the second try, doubled each time
    dead_hosts: set[str] = field(default_factory=set)  # hosts that refused or did not resolve


class TransferError(Exception):
    """A download failed; `permanent` ones (404, unreachable host) are not retried."""

    def __init__(self, msg: str, permanent: bool = False) -> None:
        super().__init__(msg)
        self.permanent = permanent


def mirrors(configured: str = "") -> list[str]:
    value = os.environ.get(MIRROR_ENV) or configured
    return [m for m in value.replace(",", " ").split() if m]


def candidates(dataset: str, rf: RemoteFile, mirror_list: list[str]) -> list[str]:
    out = []
    for m in mirror_list:
        for name in (rf.name, *rf.alternates):
            if "://" in m:
                out.append(f"{m.rstrip('/')}/{dataset}/{name}")
            else:
                out.append(str(Path(m).expanduser() / dataset / name))
    return out + list(rf.urls)


# every registered dataset's files, as (dataset, file): the dataset registry adds them, so a
# refusal can say which other file a mirror holds in place of the right one
KNOWN_FILES: list[tuple[str, RemoteFile]] = []


def _identify(path: Path, exclude: RemoteFile, digest: str | None = None, seen: int = 0) -> str | None:
    """"<dataset>/<file>" when `path` is another registered file (a mix-up in a mirror), else None.
    `digest`: its content's sha256 if known; `seen`: the bytes read before a cut. Content is read at
    most to the largest registered file's size."""
    largest = max((rf.sizes[""] for _, rf in KNOWN_FILES if "" in rf.sizes), default=None)
    try:
        md5, got = file_digest(path, "md5"), digest
        for dataset, rf in KNOWN_FILES:
            if rf == exclude:
                continue
            if rf.md5 and rf.md5 == md5:
                return f"{dataset}/{rf.name}"
            if not rf.archive and "" in rf.content and not (largest is not None and seen > largest):
                got = got or content_hashes(path, False, sizes={"": largest} if largest else None)[""]
                if got == rf.content[""]:
                    return f"{dataset}/{rf.name}"
    except DataError:  # larger than any registered file, or unreadable: none of them
        return None
    return None


def verify(path: Path, rf: RemoteFile) -> dict[str, str]:
    """Check the file's content against the registry; return the hashes. Raises DataError."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes) where {rf.name} should be")
    if container(path) == "html":
        raise DataError(
            f"{path}: the server sent an HTML page instead of {rf.name} (an error, login or "
            "rate-limit page)"
        )
    if not rf.content:
        # no published content hash (Imagenette): only the publisher's archive md5 can vouch
        actual = file_digest(path, "md5")
        if actual != rf.md5:
            raise DataError(f"{path}: md5 {actual}, expected {rf.md5} (the publisher's archive checksum)")
        return {"md5": actual}
    try:
        got = content_hashes(path, rf.archive, set(rf.content) if rf.archive else None, rf.sizes, rf.name)
    except DataError as exc:
        other = _identify(path, rf, seen=exc.read if isinstance(exc, ContentTooLarge) else 0)
        if other:
            raise DataError(f"{path}: this is {other}, not {rf.name} (a file of another dataset or split)") from None
        raise
    for member, expected in rf.content.items():
        actual = got.get(member)
        label = f"{rf.name}:{member}" if member else rf.name
        if actual is None or actual != expected:
            other = _identify(path, rf, None if rf.archive else actual)
            if other:
                raise DataError(f"{path}: this is {other}, not {rf.name} (a file of another dataset or split)")
        if actual is None:
            raise DataError(f"{path}: member {member!r} missing from the archive")
        if actual != expected:
            raise DataError(f"{path}: content of {label} has sha256 {actual}, expected {expected}")
    return got


def _download_url(url: str, tmp: Path, opts: FetchOptions) -> None:
    host = urllib.parse.urlsplit(url).netloc
    if host and host in opts.dead_hosts:
        raise TransferError(f"host {host} was unreachable earlier; skipped", permanent=True)
    delay = opts.backoff
    for attempt in range(1, opts.retries + 1):
        have = tmp.stat().st_size if tmp.exists() else 0
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=opts.timeout) as resp:
                status = getattr(resp, "status", 200)
                resume = status == 206
                length = resp.headers.get("Content-Length")
                expected = int(length) if length is not None else None
                total = (have if resume else 0) + (expected or 0)
                if have and not resume:
                    log.info(f"    {host} ignores Range: starting {Path(url).name} again")
                got = _copy(resp, tmp, "ab" if resume else "wb", total, have if resume else 0, Path(url).name)
                if expected is not None and got < expected:
                    raise TransferError(f"connection closed after {got} of {expected} bytes")
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # our partial file is longer than the resource: start over
                tmp.unlink()
                continue
            permanent = exc.code < 500 and exc.code != 429
            err = TransferError(f"HTTP {exc.code} {exc.reason}", permanent=permanent)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, ConnectionResetError)):
                err = TransferError(f"{reason}")
            else:
                if host:
                    opts.dead_hosts.add(host)
                err = TransferError(f"cannot connect: {reason}", permanent=True)
        except (TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
            err = TransferError(f"transfer failed: {exc}" if str(exc) else type(exc).__name__)
        except TransferError as exc:
            err = exc
        if err.permanent or attempt == opts.retries:
            raise err
        log.info(f"    {err}; retrying in {delay:g} s (try {attempt + 1} of {opts.retries})")
        time.sleep(delay)
        delay *= 2


def _copy(resp, tmp: Path, mode: str, total: int, start: int, name: str) -> int:
    """Copy the response body to tmp; returns the bytes read in this request."""
    bar = None
    if total > (1 << 20) and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=name, leave=False)
    got = 0
    try:
        with open(tmp, mode) as f:
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                f.write(chunk)
                got += len(chunk)
                if bar:
                    bar.update(len(chunk))
    finally:
        if bar:
            bar.close()
    return got


def _fetch_one(source: str, tmp: Path, opts: FetchOptions) -> None:
    if "://" not in source:
        path = Path(source)
        if not path.is_file():
            raise TransferError("no such file in the mirror folder", permanent=True)
        shutil.copyfile(path, tmp)
        return
    if source.startswith("file://"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(source).path))
        if not path.is_file():
            raise TransferError("no such file", permanent=True)
        shutil.copyfile(path, tmp)
        return
    _download_url(source, tmp, opts)


def cached_file(raw_dir: Path, rf: RemoteFile) -> Path | None:
    for name in (rf.name, *rf.alternates):
        if (raw_dir / name).is_file():
            return raw_dir / name
    return None


def fetch_file(dataset: str, rf: RemoteFile, raw_dir: Path, mirror_list: list[str], opts: FetchOptions) -> Path:
    """Return the verified local copy of one file, fetching it when the cache lacks it."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    cached = cached_file(raw_dir, rf)
    if cached is not None:
        try:
            verify(cached, rf)
            log.info(f"  {dataset}/{cached.name}: cached, verified")
            return cached
        except DataError as exc:
            # kept for a look, outside data/raw/<dataset> (a DVC output, which must hold good files only)
            bad = quarantine_dir(raw_dir, dataset) / f"{cached.name}.{time.strftime('%Y%m%dT%H%M%S')}.corrupt"
            bad.parent.mkdir(parents=True, exist_ok=True)
            os.replace(cached, bad)
            log.warning(f"  {dataset}/{cached.name}: cached copy fails verification ({exc}); moved to {bad}")
    tried: list[str] = []
    bad_sources: list[str] = []
    for source in candidates(dataset, rf, mirror_list):
        name = source.rstrip("/").rsplit("/", 1)[-1] if "://" in source else Path(source).name
        tmp = raw_dir / f".{name}.part"
        t0 = time.perf_counter()
        try:
            _fetch_one(source, tmp, opts)
            verify(tmp, rf)
        except TransferError as exc:
            tried.append(f"{source}: {exc}")
            if exc.permanent:
                tmp.unlink(missing_ok=True)
            continue
        except DataError as exc:
            tmp.unlink(missing_ok=True)  # never keep bytes that failed verification
            # the message names the source's file, not the temporary copy just deleted, and the
            # fix is the source's, not "delete it"
            why = str(exc).replace(str(tmp), "").lstrip(": ").replace(" Delete it and fetch again.", "")
            tried.append(f"{source}: {why}")
            bad_sources.append(source)
            log.info(f"  {dataset}/{name}: refused {source}: {why}")
            continue
        final = raw_dir / name
        os.replace(tmp, final)
        size = final.stat().st_size / 1e6
        log.info(f"  {dataset}/{name}: fetched from {source}, verified ({size:.1f} MB, {time.perf_counter() - t0:.1f} s)")
        return final
    lines = "\n".join(f"    - {t}" for t in tried)
    alts = f" (or {' / '.join(rf.alternates)}: the same content re-packed)" if rf.alternates else ""
    if bad_sources:
        fix = (f"replace the bad copy ({', '.join(bad_sources)}) with the released file, or point "
               f"{MIRROR_ENV} at a mirror that has it")
    elif mirror_list:
        fix = (f"the mirror ({', '.join(mirror_list)}) has no {dataset}/{rf.name}{alts}: add it there, "
               f"laid out as <mirror>/{dataset}/{rf.name}, or point {MIRROR_ENV} elsewhere")
    else:
        fix = (f"set {MIRROR_ENV} to a folder or URL laid out as <mirror>/{dataset}/{rf.name}{alts} "
               "(for example the project's offline copies)")
    raise DataError(f"could not fetch {dataset}/{rf.name}; tried:\n{lines}\n"
                    f"  To fix: {fix}; or place the file in {raw_dir}/ and run `landmarks verify`.")


def quarantine_dir(raw_dir: Path, dataset: str) -> Path:
    """data/quarantine/<dataset>: files that failed verification, beside data/raw, not in it."""
    return raw_dir.parent.parent / "quarantine" / dataset
