"""Fetch, prepare, load and verify datasets under data/.

    data/raw/<dataset>/<file>               verified downloads (content sha256)
    data/prepared/<dataset>/{train_x,train_y,test_x,test_y}.npy + manifest.json

    landmarks fetch mnist && landmarks prepare mnist && landmarks verify

Prepared arrays are written to a temporary folder that replaces the old one only when complete,
and are read with `allow_pickle=False` and memory-mapped.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import tokenize
from pathlib import Path
import numpy as np

from landmarks.data.registry import DATASETS, Arrays, DatasetSpec, Splits, arrays_hash
from landmarks.data.content import safe_extract
from landmarks.data.fetch import FetchOptions, cached_file, fetch_file, mirrors, verify
from landmarks.data.image_index import FORMAT as IMAGE_FORMAT, ImageIndex, read_index, write_index
from landmarks.data.imagenet import imagenet_root, read_tree
from landmarks.errors import DataError

log = logging.getLogger(__name__)

ARRAYS = ("train_x", "train_y", "test_x", "test_y")
MANIFEST = "manifest.json"


def raw_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "raw" / name


def prepared_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "prepared" / name


def fetch_dataset(name: str, data_dir: Path, mirror_setting: str = "", opts: FetchOptions | None = None) -> dict[str, Path]:
    """Every file of a dataset, verified, in data/raw/<name>/ ({publisher's name: local path})."""
    spec = DATASETS.get(name)
    opts = opts or FetchOptions()
    if spec.source != "download":
        # nothing to download; the raw folder records where the data comes from instead
        folder = raw_dir(data_dir, name)
        folder.mkdir(parents=True, exist_ok=True)
        source = "bundled with scikit-learn " + _version("scikit-learn") if spec.source == "bundled" else "supplied by you"
        (folder / "SOURCE.txt").write_text(f"{name}: {spec.description}\nsource: {source}\n")
        log.info("  %s: nothing to fetch (%s)", name, source)
        return {}
    mirror_list = mirrors(mirror_setting)
    return {rf.name: fetch_file(name, rf, raw_dir(data_dir, name), mirror_list, opts) for rf in spec.files}


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "(not installed)"


def _verified_files(spec: DatasetSpec, data_dir: Path) -> dict[str, Path]:
    files = {}
    for rf in spec.files:
        path = cached_file(raw_dir(data_dir, spec.name), rf)
        if path is None:
            raise DataError(f"{raw_dir(data_dir, spec.name)}: {rf.name} not fetched; run `landmarks fetch {spec.name}` first")
        verify(path, rf)
        files[rf.name] = path
    return files


def _check_arrays(spec: DatasetSpec, arrays: Arrays) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.dtype != np.uint8 or x.ndim != 4 or y.dtype != np.int64 or len(x) != len(y):
            raise DataError(f"{spec.name}: decoded {split} split has the wrong form ({x.dtype} {x.shape}, {y.dtype} {y.shape})")
        if y.min() < 0 or y.max() >= spec.num_classes:
            raise DataError(f"{spec.name}: {split} labels outside 0..{spec.num_classes - 1}")


def _replace_dir(tmp: Path, final: Path) -> None:
    old = final.with_name(final.name + ".old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def prepare_dataset(name: str, data_dir: Path, configured_imagenet: str = "", imagenet_subset: bool = False) -> dict:
    """Decode a fetched dataset into the prepared format; returns the manifest."""
    spec = DATASETS.get(name)
    t0 = time.perf_counter()
    final = prepared_dir(data_dir, name)
    tmp = final.with_name(f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if spec.decode is None:
            manifest = _prepare_image_folders(spec, data_dir, tmp, configured_imagenet, imagenet_subset)
        else:
            files = _verified_files(spec, data_dir)
            arrays = spec.decode(files)
            _check_arrays(spec, arrays)
            for key in ARRAYS:
                np.save(tmp / f"{key}.npy", np.ascontiguousarray(arrays[key]), allow_pickle=False)
            manifest = {
                "dataset": name,
                "format": "npy: uint8 images (N, H, W, C), int64 labels",
                "num_classes": spec.num_classes,
                "max_value": spec.max_value,
                "content_hash": arrays_hash(*(arrays[k] for k in ARRAYS)),
                "arrays": {k: {"shape": list(arrays[k].shape), "dtype": str(arrays[k].dtype),
                               "sha256": arrays_hash(arrays[k])} for k in ARRAYS},
                "class_counts": {s: np.bincount(arrays[f"{s}_y"], minlength=spec.num_classes).tolist()
                                 for s in ("train", "test")},
                "raw": {rf.name: {"file": files[rf.name].name, "content_sha256": dict(rf.content)} for rf in spec.files},
            }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("  %s: prepared in %.1f s -> %s", name, time.perf_counter() - t0, final)
    return manifest


def _prepare_image_folders(spec: DatasetSpec, data_dir: Path, out: Path, configured_imagenet: str,
                           allow_subset: bool) -> dict:
    if spec.source == "user":
        root = imagenet_root(configured_imagenet)
    else:
        (archive,) = _verified_files(spec, data_dir).values()
        extracted = raw_dir(data_dir, spec.name) / "extracted"
        if not extracted.exists():
            tmp = extracted.with_name(".extracted.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            safe_extract(archive, tmp)
            os.replace(tmp, extracted)
        tops = [p for p in extracted.iterdir() if p.is_dir()]
        root = tops[0] if len(tops) == 1 and not (extracted / "train").exists() else extracted
    return write_index(spec.name, read_tree(root.resolve()), out, allow_subset)


def load_images(name: str, data_dir: Path, check: bool = True) -> ImageIndex:
    """The prepared index of an image-folder dataset, checked against the images it lists (unless
    `check` is false: another process of the same job checks them)."""
    folder = prepared_dir(data_dir, name)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise DataError(f"{folder}: {name} is not prepared; run `landmarks prepare {name}`"
                        + ("" if DATASETS.get(name).source == "user" else f" (after `landmarks fetch {name}`)"))
    manifest = read_manifest(manifest_path, name)
    if manifest.get("format") != IMAGE_FORMAT:
        raise DataError(f"{manifest_path}: not an image-folder index (prepared by an older version?); "
                        f"run `landmarks prepare {name}` again")
    return read_index(name, folder, manifest, check)


def load_prepared(name: str, data_dir: Path) -> Splits:
    folder = prepared_dir(data_dir, name)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise DataError(f"{folder}: {name} is not prepared; run `landmarks fetch {name} && landmarks prepare {name}`")
    manifest = read_manifest(manifest_path, name)
    if str(manifest.get("format", "")).startswith("image folders"):
        raise DataError(f"{name} is an image-folder dataset: its landmarks use the task classify-images, "
                        "which reads it per batch, not as arrays")
    arrays = {k: read_array(folder / f"{k}.npy", name) for k in ARRAYS}
    try:
        expected = {k: manifest["arrays"][k]["sha256"] for k in ARRAYS}
        fields = {k: manifest[k] for k in ("num_classes", "max_value", "content_hash")}
    except (KeyError, TypeError) as exc:
        raise DataError(f"{manifest_path}: damaged (no {exc}); {_restore(name, folder)}") from None
    # re-hash what is read (a fraction of a second next to an epoch): a run must train on the data
    # its provenance names, not on arrays changed after `prepare`
    for key in ARRAYS:
        if arrays_hash(arrays[key]) != expected[key]:
            raise DataError(f"{folder / f'{key}.npy'}: does not match {manifest_path} (changed after `landmarks "
                            f"prepare {name}`); {_restore(name, folder)}; nothing was trained")
    return Splits(name=name, **fields, **arrays)  # verified above, array by array


def _restore(name: str, folder: Path) -> str:
    return f"run `landmarks prepare {name}` (or `dvc checkout {folder}`) to restore it"


def read_array(path: Path, name: str) -> np.ndarray:
    """A prepared array, memory-mapped; a DataError naming the file when it is damaged (cut short,
    emptied, its header overwritten) or missing, as for one whose content changed."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: missing from the prepared data; {_restore(name, path.parent)}") from None
    except (ValueError, EOFError, OSError, SyntaxError, tokenize.TokenError) as exc:
        # what numpy raises on a file cut short or emptied, or on a header it cannot parse
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: damaged, not a whole .npy array ({why}); {_restore(name, path.parent)}") from None


def read_manifest(path: Path, name: str) -> dict:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: damaged ({exc}); {_restore(name, path.parent)}") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: damaged (not a JSON object); {_restore(name, path.parent)}")
    return manifest


def ensure_prepared(name: str, data_dir: Path, mirror_setting: str = "") -> Splits:
    """Load the prepared dataset, fetching and preparing it first when it is not there yet."""
    if not (prepared_dir(data_dir, name) / MANIFEST).exists():
        log.info("%s: not prepared yet under %s; fetching and preparing", name, data_dir)
        fetch_dataset(name, data_dir, mirror_setting)
        prepare_dataset(name, data_dir)
    return load_prepared(name, data_dir)


def verify_cache(names: list[str], data_dir: Path) -> list[str]:
    """Re-hash every cached file (and prepared arrays) of the datasets; one line per problem."""
    problems = []
    for name in names:
        spec = DATASETS.get(name)
        for rf in spec.files:
            path = cached_file(raw_dir(data_dir, name), rf)
            if path is None:
                problems.append(f"{name}/{rf.name}: not fetched (run `landmarks fetch {name}`)")
                continue
            try:
                verify(path, rf)
            except DataError as exc:
                problems.append(f"{name}/{path.name}: {exc} (delete it and run `landmarks fetch {name}`)")
        problems += _verify_prepared(name, prepared_dir(data_dir, name))
    return problems


def _verify_prepared(name: str, folder: Path) -> list[str]:
    """The prepared arrays (or image index) of one dataset against its manifest; one line per problem."""
    try:
        manifest = read_manifest(folder / MANIFEST, name) if (folder / MANIFEST).exists() else {}
        if manifest.get("format") == IMAGE_FORMAT:  # an image-folder index: the images it lists, with their sizes
            read_index(name, folder, manifest)
            return []
        arrays = manifest.get("arrays", {})
    except DataError as exc:
        return [f"{name}: {exc}"]
    problems = []
    for key, meta in (arrays.items() if isinstance(arrays, dict) else ()):
        expected = meta.get("sha256") if isinstance(meta, dict) else None
        try:
            if arrays_hash(read_array(folder / f"{key}.npy", name)) != expected:
                problems.append(f"{name}: prepared {key}.npy does not match its manifest (run `landmarks prepare {name}`)")
        except DataError as exc:
            problems.append(f"{name}: {exc}")
    return problems
