"""ImageNet as users have it: class folders, or the official flat validation folder sorted by the
devkit's ground truth; checked, indexed, and refused with a message saying what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from imagenet_tree import WNIDS, make_tree
from landmarks.cli import main
from landmarks.data.imagenet import FULL, read_tree
from landmarks.data.prepare import load_images
from landmarks.errors import DataError


def prepare(tmp_path: Path, root: Path, monkeypatch, subset: bool = True) -> int:
    monkeypatch.setenv("LANDMARKS_IMAGENET", str(root))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"dir": str(tmp_path / "data"), "imagenet_subset": subset}}))
    return main(["--params", str(params), "prepare", "imagenet"])


def test_the_flat_validation_folder_is_labelled_by_the_devkit_ground_truth(tmp_path, monkeypatch, capsys):
    tree = make_tree(tmp_path / "official", layout="official")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "official").rglob("*"))
    assert prepare(tmp_path, tmp_path / "official", monkeypatch) == 0
    assert "10 classes, train 60 images, val 30 images (official (flat val + devkit), a subset)" in capsys.readouterr().out
    index = load_images("imagenet", tmp_path / "data")
    # label i is the i-th WordNet id in sorted order, whatever the devkit's own numbering (reversed here)
    assert index.classes == tuple(sorted(WNIDS[:10]))
    assert [(Path(f).name, index.classes[y]) for f, y in zip(index.val.files, index.val.labels)] == tree["val"]
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "official").rglob("*")) == before  # nothing moved
    manifest = json.loads((tmp_path / "data" / "prepared" / "imagenet" / "manifest.json").read_text())
    assert manifest["subset"] and manifest["splits"]["val"]["class_counts"] == [3] * 10


def test_the_devkit_archive_and_class_folders_give_the_same_labels(tmp_path):
    make_tree(tmp_path / "a", layout="official", devkit="archive")
    make_tree(tmp_path / "b", layout="folders")
    archive, folders = read_tree(tmp_path / "a"), read_tree(tmp_path / "b")
    assert archive.layout.startswith("official") and folders.layout == "class folders"
    assert archive.train == folders.train
    by_name = lambda split: sorted((Path(f).name, y) for f, y in zip(split.files, split.labels))  # noqa: E731
    assert by_name(archive.val) == by_name(folders.val)


def test_a_subset_is_refused_unless_asked_for_and_says_what_is_short(tmp_path, monkeypatch, capsys):
    make_tree(tmp_path / "tree")
    assert prepare(tmp_path, tmp_path / "tree", monkeypatch, subset=False) == 3
    err = capsys.readouterr().err
    assert f"classes: 10 (the full release has {FULL['classes']:,})" in err
    assert "train: 60 (the full release has 1,281,167)" in err and "val: 30 (the full release has 50,000)" in err
    assert "imagenet_subset: true" in err
    assert not (tmp_path / "data" / "prepared" / "imagenet").exists()


@pytest.mark.parametrize("damage, message", [
    ("no_devkit", "no devkit says their classes: put ILSVRC2012_devkit_t12/ or ILSVRC2012_devkit_t12.tar.gz"),
    ("short_truth", "6 validation images but"),
    ("unknown_class", "which is no class of the devkit"),
    ("empty_class", "an empty class folder"),
    ("mixed_val", "holds both images and class folders"),
    ("not_wnid", "is not a WordNet id"),
    ("archives", "could not unpack the official archives"),
])
def test_a_broken_tree_is_refused_with_what_is_wrong(tmp_path, monkeypatch, capsys, damage, message):
    root = tmp_path / "tree"
    make_tree(root, layout="official", classes=3, train=2, val=2)
    truth = root / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt"
    if damage == "no_devkit":
        shutil.rmtree(root / "ILSVRC2012_devkit_t12")
    elif damage == "short_truth":
        truth.write_text(truth.read_text() * 5)
    elif damage == "unknown_class":
        truth.write_text("77\n" + "".join(truth.read_text().splitlines(True)[1:]))
    elif damage == "empty_class":
        for f in (root / "train" / WNIDS[1]).iterdir():
            f.unlink()
    elif damage == "mixed_val":
        (root / "val" / WNIDS[0]).mkdir()
    elif damage == "not_wnid":
        (root / "train" / WNIDS[0]).rename(root / "train" / "tench")
    elif damage == "archives":  # the three official archive names, not the official files
        shutil.rmtree(root)
        root.mkdir()
        for name in ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz"):
            (root / name).write_bytes(b"not an archive")
    assert prepare(tmp_path, root, monkeypatch) == 3
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_a_run_refuses_images_changed_after_prepare(tmp_path, monkeypatch):
    root = tmp_path / "tree"
    make_tree(root, classes=3, train=2, val=2)
    assert prepare(tmp_path, root, monkeypatch) == 0
    assert load_images("imagenet", tmp_path / "data").num_classes == 3
    victim = next((root / "val" / WNIDS[2]).iterdir())
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(DataError, match="differ from those indexed"):
        load_images("imagenet", tmp_path / "data")
    victim.unlink()
    with pytest.raises(DataError, match="the image tree changed after"):
        load_images("imagenet", tmp_path / "data")


def test_verify_checks_an_image_index_against_the_tree(tmp_path, monkeypatch, capsys):
    root = tmp_path / "tree"
    make_tree(root, classes=3, train=2, val=2)
    assert prepare(tmp_path, root, monkeypatch) == 0
    params = str(tmp_path / "params.yaml")
    assert main(["--params", params, "verify", "imagenet"]) == 0
    assert "verified imagenet: all good" in capsys.readouterr().out
    next((root / "train" / WNIDS[0]).iterdir()).unlink()
    assert main(["--params", params, "verify", "imagenet"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM imagenet:" in out and "the image tree changed after" in out and "1 problem" in out


def test_hidden_files_and_folders_are_neither_images_nor_classes(tmp_path):
    root = tmp_path / "tree"
    make_tree(root, classes=3, train=2, val=2)
    (root / "train" / WNIDS[0] / "._n0_0.JPEG").write_bytes(b"\0\5\26\7")  # macOS's AppleDouble file
    (root / "train" / ".ipynb_checkpoints").mkdir()
    (root / "val" / "lost+found").mkdir()
    tree = read_tree(root)
    assert tree.classes == WNIDS[:3] and len(tree.train.files) == 6 and len(tree.val.files) == 6
