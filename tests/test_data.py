"""Fetching, verification, safe extraction and preparation, against a real HTTP server on
127.0.0.1 serving generated IDX and CIFAR-binary files."""

from __future__ import annotations

import gzip
import lzma
import tarfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from archives import cifar_archive, register_generated_cifar, sha, tar_bytes
from httpserver import Route, Server
from landmarks.cli import main
from landmarks.data.registry import DatasetSpec, register_dataset
from landmarks.data.content import iter_members, read_content, safe_extract
from landmarks.data.fetch import FetchOptions, RemoteFile, fetch_file
from landmarks.data.formats import read_cifar_binary, read_idx, write_cifar_binary, write_idx
from landmarks.data.mnist import PARTS, decode_idx
from landmarks.data.prepare import fetch_dataset, load_prepared, prepare_dataset
from landmarks.errors import DataError

QUIET = FetchOptions(retries=3, backoff=0.01, timeout=5)


def fake_idx(seed: int = 0, n_train: int = 50, n_test: int = 20) -> dict[str, bytes]:
    """Uncompressed IDX files of a tiny MNIST-like dataset, keyed by MNIST's file stems."""
    rng = np.random.default_rng(seed)
    return {
        PARTS["train_x"]: write_idx(rng.integers(0, 256, (n_train, 28, 28))),
        PARTS["train_y"]: write_idx(np.arange(n_train) % 10),
        PARTS["test_x"]: write_idx(rng.integers(0, 256, (n_test, 28, 28))),
        PARTS["test_y"]: write_idx(np.arange(n_test) % 10),
    }


def register_idx(raw: dict[str, bytes], urls: str = "") -> str:
    """A dataset in the registry whose content hashes are those of the generated files."""
    name = f"gen-idx-{uuid.uuid4().hex[:8]}"
    files = tuple(
        RemoteFile(name=f"{stem}.gz", urls=(f"{urls}/{stem}.gz",) if urls else (), content={"": sha(data)})
        for stem, data in raw.items()
    )
    register_dataset(DatasetSpec(name, "generated IDX", 10, 255, "download", files, decode_idx, (1, 28, 28)))
    return name


def serve_idx(server: Server, prefix: str, raw: dict[str, bytes]) -> None:
    for stem, data in raw.items():
        server.routes[f"{prefix}/{stem}.gz"] = Route(gzip.compress(data))


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_idx_roundtrip_and_bad_magic():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert (read_idx(write_idx(arr)) == arr).all()
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(b"<html>oops</html>")
    with pytest.raises(DataError, match="IDX body"):
        read_idx(write_idx(arr)[:-1])


def test_cifar_binary_roundtrip():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 32, 32, 3)).astype(np.uint8)
    y = rng.integers(0, 10, 7)
    x2, y2 = read_cifar_binary(write_cifar_binary(x, y))
    assert (x2 == x).all() and (y2 == y).all()
    with pytest.raises(DataError, match="records"):
        read_cifar_binary(write_cifar_binary(x, y)[:-5])


def test_fetch_prepare_load_over_http(tmp_path, monkeypatch):
    raw = fake_idx()
    name = register_idx(raw)
    with Server() as server:
        serve_idx(server, f"/m/{name}", raw)
        monkeypatch.setenv("LANDMARKS_DATA_MIRROR", f"{server.url}/m")
        files = fetch_dataset(name, tmp_path, opts=QUIET)
    assert len(files) == 4 and all(p.parent == tmp_path / "raw" / name for p in files.values())
    manifest = prepare_dataset(name, tmp_path)
    splits = load_prepared(name, tmp_path)
    assert splits.train_x.shape == (50, 28, 28, 1) and splits.train_x.dtype == np.uint8
    assert splits.test_y.dtype == np.int64 and list(splits.train_y[:12]) == [*range(10), 0, 1]
    assert (splits.train_x[..., 0] == read_idx(raw[PARTS["train_x"]])).all()
    assert manifest["class_counts"]["train"] == [5] * 10
    assert isinstance(splits.train_x, np.memmap)  # memory-mapped, loaded without pickle


def test_first_mirror_404_then_next_used(tmp_path, monkeypatch):
    raw = fake_idx(1)
    name = register_idx(raw)
    with Server() as server:
        serve_idx(server, f"/good/{name}", raw)
        monkeypatch.setenv("LANDMARKS_DATA_MIRROR", f"{server.url}/missing, {server.url}/good")
        fetch_dataset(name, tmp_path, opts=QUIET)
        assert all(r.requests for p, r in server.routes.items() if p.startswith("/good"))
    assert sorted(p.name for p in (tmp_path / "raw" / name).iterdir()) == sorted(f"{s}.gz" for s in raw)


def test_corrupted_bytes_refused_and_cache_untouched(tmp_path):
    good = gzip.compress(b"payload" * 1000)
    rf = RemoteFile("a.gz", (), {"": sha(b"payload" * 1000)})
    raw_dir = tmp_path / "raw" / "x"
    raw_dir.mkdir(parents=True)
    (raw_dir / "other.gz").write_bytes(b"kept as it was")
    before = listing(raw_dir)
    bad = bytearray(gzip.compress(b"payload" * 999 + b"PAYLOAD"))
    with Server() as server:
        server.routes["/x/a.gz"] = Route(bytes(bad))
        with pytest.raises(DataError) as err:
            fetch_file("x", rf, raw_dir, [server.url], QUIET)
    msg = str(err.value)
    assert sha(b"payload" * 1000) in msg and "expected" in msg and "sha256" in msg
    assert listing(raw_dir) == before  # nothing new, nothing half-written
    with Server() as server:  # the same file, intact, is then accepted
        server.routes["/x/a.gz"] = Route(good)
        assert fetch_file("x", rf, raw_dir, [server.url], QUIET).read_bytes() == good


@pytest.mark.parametrize("ranges", [True, False])
def test_download_cut_midway_is_resumed_or_retried(tmp_path, ranges):
    data = gzip.compress(np.random.default_rng(0).integers(0, 256, 300_000).astype(np.uint8).tobytes())
    rf = RemoteFile("big.gz", (), {"": sha(gzip.decompress(data))})
    with Server() as server:
        route = Route(data, cut_first=len(data) // 3, cuts_left=1, ranges=ranges)
        server.routes["/x/big.gz"] = route
        path = fetch_file("x", rf, tmp_path, [server.url], QUIET)
    assert path.read_bytes() == data
    assert len(route.requests) == 2
    if ranges:  # the second request asked only for what was missing
        assert route.requests[1]["range"].startswith("bytes=") and route.requests[1]["range"] != "bytes=0-"
    assert not list(tmp_path.glob(".*.part"))


def test_html_page_instead_of_gzip_refused(tmp_path):
    rf = RemoteFile("a.gz", (), {"": sha(b"x")})
    page = b"<!DOCTYPE html><html><body>403 Forbidden: rate limit</body></html>"
    with Server() as server:
        server.routes["/x/a.gz"] = Route(page, content_type="text/html")
        with pytest.raises(DataError, match="HTML page instead of a.gz"):
            fetch_file("x", rf, tmp_path, [server.url], QUIET)
    assert listing(tmp_path) == {}


def test_truncated_gzip_says_so(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(b"0123456789" * 10_000)[:-200])
    with pytest.raises(DataError, match="truncated"):
        read_content(path)


@pytest.mark.parametrize(
    "info,words",
    [
        (tarfile.TarInfo("../evil.txt"), "climbs out"),
        (tarfile.TarInfo("/etc/evil.txt"), "absolute path"),
        (lambda: (i := tarfile.TarInfo("link"), setattr(i, "type", tarfile.SYMTYPE), setattr(i, "linkname", "../../etc/passwd"), i)[-1], "outside the archive"),
        (tarfile.TarInfo("a/../b.txt"), "climbs out"),  # stays inside, but no release has it
        (lambda: (i := tarfile.TarInfo("a/l"), setattr(i, "type", tarfile.SYMTYPE), setattr(i, "linkname", "../c"), i)[-1], "outside the archive"),
        (lambda: (i := tarfile.TarInfo("dev"), setattr(i, "type", tarfile.CHRTYPE), i)[-1], "device or pipe"),
    ],
)
def test_unsafe_archive_members_refused(tmp_path, info, words):
    info = info() if callable(info) else info
    data = None if info.issym() else b"owned"
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_bytes([(tarfile.TarInfo("ok.txt"), b"fine"), (info, data)]))
    # tar.addfile needs sizes set; ok.txt got its size from tar_bytes
    with pytest.raises(DataError, match=words):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()
    with pytest.raises(DataError, match=words):
        list(iter_members(archive))


def test_cifar_generated_archive_repacked_as_xz_fetched_and_prepared(tmp_path, monkeypatch):
    members, arrays = cifar_archive(0)
    xz = tar_bytes([(tarfile.TarInfo(k), v) for k, v in members.items()], compress=lzma.compress)
    name, rf = register_generated_cifar(members)
    with Server() as server:  # the mirror has only the re-packed .tar.xz; its content verifies
        server.routes[f"/m/{name}/cifar-10-binary.tar.xz"] = Route(xz)
        monkeypatch.setenv("LANDMARKS_DATA_MIRROR", f"{server.url}/m")
        files = fetch_dataset(name, tmp_path, opts=QUIET)
    assert files[rf.name].name == "cifar-10-binary.tar.xz"
    prepare_dataset(name, tmp_path)
    s = load_prepared(name, tmp_path)
    assert s.train_x.shape == (150, 32, 32, 3) and s.test_x.shape == (30, 32, 32, 3)
    assert (s.train_x[:30] == arrays["x"][0]).all() and (s.test_y == arrays["y"][5]).all()
    assert (s.train_x[30:60] == arrays["x"][1]).all()


def test_a_mirror_without_the_file_is_told_the_repacked_names_it_may_hold(tmp_path, monkeypatch):
    """The offline copies are re-packed (.tar.xz): the advice names those, not only the .tar.gz."""
    members, _ = cifar_archive(0)
    name, rf = register_generated_cifar(members)
    with Server() as server:
        monkeypatch.setenv("LANDMARKS_DATA_MIRROR", f"{server.url}/empty")
        with pytest.raises(DataError) as info:
            fetch_dataset(name, tmp_path, opts=QUIET)
    msg = str(info.value)
    assert f"has no {name}/{rf.name} (or cifar-10-binary.tar.xz: the same content re-packed)" in msg
    assert f"{server.url}/empty" in msg


def test_offline_without_mirror_fails_fast_with_advice(tmp_path, monkeypatch, capsys):
    """No network (every connection refused) and no mirror: a clear error, well within 60 s."""
    monkeypatch.delenv("LANDMARKS_DATA_MIRROR", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # port 9: nothing listens; a closed network
    monkeypatch.setenv("no_proxy", "")
    params = tmp_path / "params.yaml"
    params.write_text(f"data: {{dir: {tmp_path / 'data'}}}\n")
    t0 = time.perf_counter()
    code = main(["--params", str(params), "fetch", "mnist", "--retries", "2"])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code != 0 and elapsed < 60
    assert "yann.lecun.com" in err and "ossci-datasets" in err  # each URL tried, with its error
    assert "LANDMARKS_DATA_MIRROR" in err
    assert not list((tmp_path / "data" / "raw" / "mnist").glob("*.gz"))


def test_verify_reports_a_corrupted_cache(tmp_path, monkeypatch, capsys):
    raw = fake_idx(2)
    name = register_idx(raw)
    with Server() as server:
        serve_idx(server, f"/m/{name}", raw)
        monkeypatch.setenv("LANDMARKS_DATA_MIRROR", f"{server.url}/m")
        fetch_dataset(name, tmp_path, opts=QUIET)
    params = tmp_path / "params.yaml"
    params.write_text(f"data: {{dir: {tmp_path}}}\n")
    assert main(["--params", str(params), "verify", name]) == 0
    victim = tmp_path / "raw" / name / f"{PARTS['test_y']}.gz"
    victim.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(20)))
    assert main(["--params", str(params), "verify", name]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and victim.name in out and "expected" in out


def _mirror_with(tmp_path: Path, name: str, raw: dict[str, bytes], victim: str, content: bytes) -> Path:
    """A mirror folder holding a generated dataset, one file of it replaced by `content`."""
    mirror = tmp_path / "mirror"
    (mirror / name).mkdir(parents=True)
    for stem, data in raw.items():
        (mirror / name / f"{stem}.gz").write_bytes(gzip.compress(data))
    (mirror / name / victim).write_bytes(content)
    return mirror


@pytest.mark.parametrize("kind", ["empty", "other dataset", "corrupt"])
def test_a_bad_mirror_file_is_named_with_the_fix_that_applies(tmp_path, monkeypatch, kind):
    """Before: the message named the deleted temporary `.part`, said "Delete it and fetch again",
    and told the user to set LANDMARKS_DATA_MIRROR although it was set; an empty file or another
    dataset's file was a bare hash mismatch."""
    raw, other = fake_idx(31), fake_idx(41)
    name = register_idx(raw)
    register_idx(other)  # a dataset whose training images end up in the wrong place
    victim = f"{PARTS['test_y']}.gz"
    content = {"empty": b"", "other dataset": gzip.compress(other[PARTS["train_x"]]),
               "corrupt": gzip.compress(raw[PARTS["test_y"]])[:-20]}[kind]
    mirror = _mirror_with(tmp_path, name, raw, victim, content)
    monkeypatch.setenv("LANDMARKS_DATA_MIRROR", str(mirror))
    with pytest.raises(DataError) as err:
        fetch_dataset(name, tmp_path / "data", opts=QUIET)
    msg = str(err.value)
    bad = str(mirror / name / victim)
    assert f"{bad}: " in msg and ".part" not in msg and "Delete it" not in msg, msg
    assert f"replace the bad copy ({bad})" in msg and "set LANDMARKS_DATA_MIRROR" not in msg, msg
    words = {"empty": "empty file (0 bytes)", "other dataset": f"/{PARTS['train_x']}.gz, not {victim} (a file of another dataset",
             "corrupt": "truncated"}[kind]
    assert words in msg, msg
    assert not list((tmp_path / "data" / "raw" / name).glob(f"*{PARTS['test_y']}*"))  # nothing of it kept


def test_a_missing_file_with_the_mirror_set_says_the_mirror_lacks_it(tmp_path, monkeypatch):
    raw = fake_idx(51)
    name = register_idx(raw)
    mirror = tmp_path / "mirror"
    (mirror / name).mkdir(parents=True)
    monkeypatch.setenv("LANDMARKS_DATA_MIRROR", str(mirror))
    with pytest.raises(DataError) as err:
        fetch_dataset(name, tmp_path / "data", opts=QUIET)
    msg = str(err.value)
    assert f"the mirror ({mirror}) has no {name}/" in msg and "set LANDMARKS_DATA_MIRROR" not in msg, msg


def test_a_cached_file_that_fails_verification_is_quarantined_outside_the_dvc_output(tmp_path, monkeypatch):
    raw = fake_idx(61)
    name = register_idx(raw)
    mirror = _mirror_with(tmp_path, name, raw, f"{PARTS['test_y']}.gz", gzip.compress(raw[PARTS["test_y"]]))
    monkeypatch.setenv("LANDMARKS_DATA_MIRROR", str(mirror))
    data = tmp_path / "data"
    fetch_dataset(name, data, opts=QUIET)
    cached = data / "raw" / name / f"{PARTS['test_y']}.gz"
    cached.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(20)))  # damaged in the cache
    fetch_dataset(name, data, opts=QUIET)  # fetched again from the mirror
    assert cached.read_bytes() == gzip.compress(raw[PARTS["test_y"]]) or read_content(cached) == raw[PARTS["test_y"]]
    assert not [p.name for p in (data / "raw" / name).iterdir() if "corrupt" in p.name]  # the DVC output: good files only
    (kept,) = (data / "quarantine" / name).iterdir()
    assert kept.name.startswith(f"{PARTS['test_y']}.gz.") and kept.name.endswith(".corrupt")
