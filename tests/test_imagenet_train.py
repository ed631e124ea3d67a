"""The ImageNet path end to end on a generated tree of real JPEG files: a ResNet-18 trained for an
epoch through the real pipeline, published-weights evaluation against a direct computation, ten
crops, and evaluation over two gloo ranks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import yaml

from imagenet_tree import make_tree
from landmarks.data.imagenet import read_tree
from landmarks.metrics import topk_correct
from landmarks.train.sources.image_pipeline import eval_transform
from landmarks.train.sources.images import _logits, evaluate_images
from landmarks.train.image_recipe import ImageRecipe
from ranks import evaluate_images_on_rank, image_model

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def workspace(ws: Path, landmark: str, claims: list[dict], recipe: dict, classes: int = 10, train: int = 12,
              val: int = 4) -> Path:
    """A project folder with one ImageNet landmark cut down to `claims`, its imagenet profile
    running one seed with `recipe`, and a generated tree (10 classes unless said) as the user's ImageNet."""
    make_tree(ws / "tree", layout="official", classes=classes, train=train, val=val)
    (ws / "benchmarks").mkdir()
    data = yaml.safe_load((ROOT / "benchmarks" / f"{landmark}.yaml").read_text())
    data.update(claims=claims, orderings=[])
    data["profiles"] = {"imagenet": {"seeds": [0], "recipe": recipe}}
    (ws / "benchmarks" / f"{landmark}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (ws / "params.yaml").write_text(yaml.safe_dump(
        {"data": {"dir": str(ws / "data"), "imagenet": str(ws / "tree"), "imagenet_subset": True}}))
    return ws


def landmarks(ws: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([str(BIN / "landmarks"), *args], cwd=ws, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "2", **(env or {})})


@pytest.mark.slow
def test_a_resnet18_trains_an_epoch_through_the_image_pipeline_and_is_evaluated(tmp_path):
    small = {"epochs": 1, "batch_size": 16, "lr": 0.05, "val_fraction": 0.1,
             "images": {"train_crop": "random", "size": 32, "resize": [36, 44], "eval_resize": 36,
                        "eval_crops": 10, "crop_average": "softmax", "pca_lighting": 0.1, "workers": 2}}
    ws = workspace(tmp_path, "he2016-resnet-imagenet",
                   [{"name": "ResNet-18", "model": "resnet18", "paper": 27.88, "source": "Table 2"}], small)
    assert landmarks(ws, "prepare", "imagenet").returncode == 0
    done = landmarks(ws, "train", "he2016-resnet-imagenet", "--profile", "imagenet", "--no-tracking")
    assert done.returncode == 0, done.stderr
    doc = json.loads((ws / "models" / "imagenet" / "he2016-resnet-imagenet" / "metrics.json").read_text())
    (run,) = doc["runs"]
    # 40 validation images: errors are multiples of 2.5%, top-5 no worse than top-1
    for key in ("metric.top1_error", "metric.top5_error"):
        assert 0 <= run[key] <= 100 and (run[key] / 2.5) == pytest.approx(round(run[key] / 2.5))
    assert run["metric.top5_error"] <= run["metric.top1_error"]
    assert run["info.eval_crops"] == 10 and run["info.data_subset"] is True
    assert run["info.parameters"] == 11_181_642  # torchvision's ResNet-18 with 10 classes
    history = (ws / "models" / "imagenet" / "he2016-resnet-imagenet" / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_error" in history[0]  # one epoch, 12 of 120 images held out
    assert landmarks(ws, "report", "--profile", "imagenet").returncode == 0
    table = (ws / "reports" / "imagenet" / "README.md").read_text()
    assert "reduced budget" in table and "ResNet-101" in table  # a subset claims nothing; cited rows shown


@pytest.mark.slow
def test_published_weights_path_matches_a_direct_computation(tmp_path):
    """A randomly initialised torchvision ResNet-18 saved as a weights file, evaluated through the
    torchvision-weights task, gives the top-1/top-5 errors computed image by image with
    torchvision's own transform for those weights."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.models import ResNet18_Weights, resnet18

    torch.manual_seed(0)
    net = resnet18()
    torch.save(net.state_dict(), tmp_path / "random-resnet18.pth")
    claim = {"name": "ResNet-18 (random)", "model": "resnet18", "paper": 30.24, "also": {"top5_error": 10.92},
             "seed_independent": True, "source": "test",
             "data_args": {"weights": "ResNet18_Weights.IMAGENET1K_V1", "weights_file": str(tmp_path / "random-resnet18.pth")}}
    # 1,000 classes (the weights' labels are ImageNet-1K's); 60 validation images, the first 60 of
    # the flat folder with their lines of the ground truth
    ws = workspace(tmp_path / "ws", "torchvision-weights", [claim], {"images": {"workers": 2}}, classes=1000,
                   train=1, val=1)
    truth = ws / "tree" / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt"
    for f in sorted((ws / "tree" / "val").iterdir())[60:]:
        f.unlink()
    truth.write_text("".join(truth.read_text().splitlines(True)[:60]))
    assert landmarks(ws, "prepare", "imagenet").returncode == 0
    done = landmarks(ws, "train", "torchvision-weights", "--profile", "imagenet", "--no-tracking")
    assert done.returncode == 0, done.stderr
    (run,) = json.loads((ws / "models" / "imagenet" / "torchvision-weights" / "metrics.json").read_text())["runs"]

    tree = read_tree(ws / "tree")
    transform, correct = ResNet18_Weights.IMAGENET1K_V1.transforms(), {1: 0, 5: 0}
    net.eval()
    with torch.no_grad():
        for i in range(0, len(tree.val.files), 100):  # each image transformed on its own, scored 100 at a time
            x = torch.stack([transform(decode_image(str(tree.root / f), mode=ImageReadMode.RGB))
                             for f in tree.val.files[i:i + 100]])
            for k, c in topk_correct(net(x), torch.tensor(tree.val.labels[i:i + 100]), (1, 5)).items():
                correct[k] += c
    n = len(tree.val.files)
    assert run["metric.top1_error"] == pytest.approx(100 * (n - correct[1]) / n)
    assert run["metric.top5_error"] == pytest.approx(100 * (n - correct[5]) / n)
    assert run["info.weights_sha256"] and run["info.weights"] == "ResNet18_Weights.IMAGENET1K_V1"


def test_published_weights_are_found_by_name_and_checked_against_it(tmp_path):
    claim = {"name": "ResNet-18", "model": "resnet18", "paper": 30.24, "seed_independent": True, "source": "test",
             "data_args": {"weights": "ResNet18_Weights.IMAGENET1K_V1"}}
    ws = workspace(tmp_path / "ws", "torchvision-weights", [claim], {"images": {"workers": 0}})
    assert landmarks(ws, "prepare", "imagenet").returncode == 0
    folder = tmp_path / "weights"
    folder.mkdir()
    env = {"LANDMARKS_WEIGHTS": str(folder), "TORCH_HOME": str(tmp_path / "torch-home")}
    missing = landmarks(ws, "train", "torchvision-weights", "--profile", "imagenet", "--no-tracking", env=env)
    assert missing.returncode == 3
    assert "resnet18-f37072fd.pth: not found in" in missing.stderr and "download.pytorch.org" in missing.stderr
    torch.save(image_model().state_dict(), folder / "resnet18-f37072fd.pth")  # the right name, other bytes
    wrong = landmarks(ws, "train", "torchvision-weights", "--profile", "imagenet", "--no-tracking", env=env)
    assert wrong.returncode == 3 and "not f37072fd as its published name says" in wrong.stderr


def test_ten_crops_are_the_corners_and_centre_and_their_mirrors_and_their_outputs_averaged():
    img = torch.randint(0, 256, (3, 256, 320), dtype=torch.uint8)  # short side 256: the resize keeps it
    crops = eval_transform(ImageRecipe(eval_crops=10))(img)
    assert crops.shape == (10, 3, 224, 224)
    h, w = 256, 320
    five = [img[:, :224, :224], img[:, :224, w - 224:], img[:, h - 224:, :224], img[:, h - 224:, w - 224:],
            img[:, 16:240, 48:272]]
    expected = five + [c.flip(-1) for c in five]
    as_set = lambda ts: sorted(t.flatten().tolist() for t in ts)  # noqa: E731
    assert as_set(crops) == as_set(expected)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 5))
    batch = torch.stack([crops, crops.flip(0)]).float()  # (B=2, 10, 3, 224, 224)
    per_crop = torch.stack([model(b) for b in batch])  # (2, 10, 5)
    torch.testing.assert_close(_logits(model, batch, "logits"), per_crop.mean(1))
    torch.testing.assert_close(_logits(model, batch, "softmax"), per_crop.softmax(-1).mean(1))


def test_ten_crop_evaluation_counts_what_the_averaged_crops_decide(tmp_path):
    make_tree(tmp_path / "tree", classes=7, train=1, val=3)
    tree = read_tree(tmp_path / "tree")
    images = ImageRecipe(size=32, eval_resize=36, eval_crops=10, workers=0)
    model = image_model()
    got = evaluate_images(model, tree.root, tree.val, images, torch.device("cpu"))
    from landmarks.train.sources.image_pipeline import to_input
    from torchvision.io import ImageReadMode, decode_image

    correct = {1: 0, 5: 0}
    with torch.no_grad():
        for f, y in zip(tree.val.files, tree.val.labels):
            crops = eval_transform(images)(decode_image(str(tree.root / f), mode=ImageReadMode.RGB))
            logits = model(to_input(crops, torch.device("cpu"), images)).mean(0, keepdim=True)
            for k, c in topk_correct(logits, torch.tensor([y]), (1, 5)).items():
                correct[k] += c
    assert got == {f"top{k}_error": pytest.approx(100 * (21 - c) / 21) for k, c in correct.items()}


def test_image_evaluation_over_two_ranks_counts_every_image_once(tmp_path):
    """21 validation images over 2 gloo ranks (11 and 10), ten crops each: exactly the one-process errors."""
    make_tree(tmp_path / "tree", classes=7, train=1, val=3)
    tree = read_tree(tmp_path / "tree")
    single = evaluate_images(image_model(), tree.root, tree.val, ImageRecipe(size=32, eval_resize=36, eval_crops=10,
                                                                            workers=0), torch.device("cpu"))
    assert 0 < single["top5_error"] < 100  # partly right: a count that could be off
    mp.start_processes(evaluate_images_on_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path),
                                                      str(tmp_path / "tree")), nprocs=2, start_method="spawn")
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == single


def test_a_resumed_epoch_goes_on_with_the_images_it_had_not_seen():
    from landmarks.train.sources.image_pipeline import EpochBatches

    whole = list(EpochBatches(103, 10, seed=3, epoch=2, drop_last=False))
    assert sorted(i for b in whole for i in b) == list(range(103))  # each image once, the last batch short
    assert list(EpochBatches(103, 10, seed=3, epoch=2, drop_last=False, start=4)) == whole[4:]
    assert list(EpochBatches(103, 10, seed=3, epoch=3, drop_last=False)) != whole  # a new order each epoch


def fit_images(model, sets, recipe, checkpoint=None, stop=None, resume=None):
    """The loop fed by images decoded per batch, on the CPU with seed 0."""
    from landmarks.train.loop import fit
    from landmarks.train.sources.images import ImageBatches
    from landmarks.train.trainer import Trainer

    source = ImageBatches(sets, recipe, 0, torch.device("cpu"))
    return fit(Trainer(model, source, recipe, checkpoint, stop), resume=resume)


def tiny_image_run(tmp_path: Path):
    """(sets, recipe, model factory): 24 training images of 4 classes in batches of 8, a small conv net."""
    from landmarks.train.sources.images import ImageSets
    from landmarks.train.recipe import Recipe

    make_tree(tmp_path / "tree", classes=4, train=6, val=2)
    tree = read_tree(tmp_path / "tree")
    sets = ImageSets(tree.root, tree.train, tree.val, tree.val, 4)
    recipe = Recipe(epochs=2, batch_size=8, lr=0.01, momentum=0.9,
                    images=ImageRecipe(size=32, resize=(36, 36), eval_resize=36, workers=0))
    model = lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1),  # noqa: E731
                                        torch.nn.Flatten(), torch.nn.Linear(8, 4))
    return sets, recipe, model


def test_an_interrupted_image_run_resumes_from_its_checkpoint_to_the_end(tmp_path):
    """Stopped by a signal at its first step, the run saves a checkpoint; resumed from it, it runs
    the remaining steps only and ends with one history row per epoch."""
    from landmarks.train.checkpoint import Checkpointer
    from landmarks.train.signals import Interrupted, StopFlag

    sets, recipe, model = tiny_image_run(tmp_path)
    checkpoint = Checkpointer(tmp_path / "run.pt", {"test": 1}, every_steps=100)
    stop = StopFlag()
    stop.signum = 15  # as if SIGTERM had arrived
    with pytest.raises(Interrupted, match="checkpoint saved to"):
        fit_images(model(), sets, recipe, checkpoint=checkpoint, stop=stop)
    payload = checkpoint.load(strict=True)
    assert payload["state"]["step"] == 1 and payload["state"]["batch"] == 1
    resumed = fit_images(model(), sets, recipe, checkpoint=checkpoint, resume=payload)
    assert resumed.steps == 6 and [h["epoch"] for h in resumed.history] == [1, 2]  # 24 images, batches of 8
    assert all(0 <= h["train_error"] <= 100 and h["train_loss"] > 0 for h in resumed.history)


def test_a_long_epoch_says_where_it_is(tmp_path, monkeypatch, caplog):
    import logging

    import landmarks.train.loop as loop

    sets, recipe, model = tiny_image_run(tmp_path)
    monkeypatch.setattr(loop, "LINE_EVERY_S", 0.0)  # as if each batch took a minute
    with caplog.at_level(logging.INFO, logger="landmarks"):
        fit_images(model(), sets, recipe.model_copy(update={"epochs": 1}))
    lines = [r.getMessage() for r in caplog.records if "examples/s" in r.getMessage()]
    assert [line.split(",")[0].strip() for line in lines] == ["epoch 1: batch 1/3", "epoch 1: batch 2/3",
                                                             "epoch 1: batch 3/3"]


@pytest.mark.slow
def test_torchrun_trains_an_image_run_data_parallel_over_two_processes(tmp_path):
    # a rate too small to learn anything: the run ends at chance, which both ranks see and one says
    small = {"epochs": 1, "batch_size": 16, "lr": 1e-9, "val_fraction": 0.1,
             "images": {"size": 32, "eval_resize": 36, "workers": 1}}
    ws = workspace(tmp_path, "he2016-resnet-imagenet",
                   [{"name": "ResNet-18", "model": "resnet18", "paper": 27.88, "source": "Table 2"}], small)
    assert landmarks(ws, "prepare", "imagenet").returncode == 0
    done = landmarks(ws, "train", "he2016-resnet-imagenet", "--profile", "imagenet", "--no-tracking",
                     "--nproc-per-node", "2", env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    (run,) = json.loads((ws / "models" / "imagenet" / "he2016-resnet-imagenet" / "metrics.json").read_text())["runs"]
    assert run["info.world_size"] == 2 and run["info.steps"] == 7  # 108 images in global batches of 16
    assert run["info.at_chance"] and done.stderr.count("did not learn") == 1  # one run on two processes, told once
    assert (run["metric.top1_error"] / 2.5) == pytest.approx(round(run["metric.top1_error"] / 2.5))


def test_engine_only_recipe_fields_are_refused_by_the_image_task(tmp_path):
    ws = workspace(tmp_path, "he2016-resnet-imagenet",
                   [{"name": "ResNet-18", "model": "resnet18", "paper": 27.88, "source": "Table 2"}],
                   {"epochs": 1, "augment": ["crop", "flip"], "images": {"size": 32, "eval_resize": 36, "workers": 0}})
    assert landmarks(ws, "prepare", "imagenet").returncode == 0
    done = landmarks(ws, "train", "he2016-resnet-imagenet", "--profile", "imagenet", "--no-tracking")
    assert done.returncode == 2, done.stderr
    assert "field 'recipe.augment': the task classify-images does not use augment" in done.stderr
    assert "as resolved for profile 'imagenet'" in done.stderr
    assert not list((ws / "models").rglob("metrics.json"))


def test_published_weights_are_not_checked_on_a_subset_of_the_classes(tmp_path):
    torch.save(image_model().state_dict(), tmp_path / "any.pth")
    claim = {"name": "ResNet-18", "model": "resnet18", "paper": 30.24, "seed_independent": True, "source": "test",
             "data_args": {"weights": "ResNet18_Weights.IMAGENET1K_V1", "weights_file": str(tmp_path / "any.pth")}}
    ws = workspace(tmp_path / "ws", "torchvision-weights", [claim], {"images": {"workers": 0}})
    assert landmarks(ws, "prepare", "imagenet").returncode == 0
    done = landmarks(ws, "train", "torchvision-weights", "--profile", "imagenet", "--no-tracking")
    assert done.returncode == 3 and "10 classes, but ResNet18_Weights.IMAGENET1K_V1 predicts 1000" in done.stderr


def test_no_rank_gets_an_empty_share_of_a_batch():
    """131 images in batches of 128 over 4 ranks: the tail of 3 would leave one rank nothing, so
    it is skipped; a tail of 4 or more is kept, split over the ranks."""
    from landmarks.train.distributed import World
    from landmarks.train.sources.image_pipeline import EpochBatches

    for n, batches in ((131, 1), (132, 2)):
        for rank in range(4):
            shares = list(EpochBatches(n, 128, 0, 0, drop_last=False, world=World(rank=rank, size=4)))
            assert len(shares) == batches and all(shares)
    assert len(list(EpochBatches(131, 128, 0, 0, drop_last=False))) == 2  # one process keeps its tail


def test_a_gpu_decode_batch_travels_as_one_tensor_and_decodes_file_by_file(tmp_path):
    """The loader packs a batch's files into one tensor (one file descriptor, not one per file);
    unpacked and decoded, it gives exactly what decoding each file gives."""
    from torchvision.io import ImageReadMode, decode_image

    from landmarks.train.sources.image_pipeline import ImageFiles, _bytes_batch, decode_on_device

    make_tree(tmp_path / "tree", classes=3, train=1, val=2)
    tree = read_tree(tmp_path / "tree")
    files = ImageFiles(tree.root, tree.val, None)
    (packed, lengths), labels = _bytes_batch([files[i] for i in range(len(files))])
    assert packed.dim() == 1 and len(lengths) == 6 and labels.tolist() == list(tree.val.labels)
    crop = eval_transform(ImageRecipe(size=32, eval_resize=36))
    got = decode_on_device((packed, lengths), crop, torch.device("cpu"))
    expected = torch.stack([crop(decode_image(str(tree.root / f), mode=ImageReadMode.RGB)) for f in tree.val.files])
    assert torch.equal(got, expected)


def test_the_papers_input_scale_is_pixel_values_minus_the_mean():
    from landmarks.train.sources.image_pipeline import MEAN, STD, to_input

    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    paper = to_input(x, torch.device("cpu"), ImageRecipe(normalize="mean_rgb_255"))
    torch.testing.assert_close(paper, x.float() - 255 * mean)
    torch.testing.assert_close(to_input(x, torch.device("cpu"), ImageRecipe()), (x.float() / 255 - mean) / std)


def test_the_image_task_refuses_only_what_needs_device_resident_data():
    """The loop serves both batch sources: early stopping, thresholds, the rate search, compile,
    max-norm and momentum ramps pass; augment, normalize and fast are refused, each saying why."""
    from landmarks.tasks.images import device_only
    from landmarks.train.recipe import LrSearch, Recipe

    shared = Recipe(early_stopping_patience=3, threshold=5.0, stop_at_threshold=True, compile=True, max_norm=3.0,
                    momentum_start=0.5, momentum_ramp_epochs=2, dampened=True, optimizer="sgd",
                    lr_search=LrSearch(grid=(0.1, 0.01)))
    assert device_only(shared) is None
    for field, value, why in (("augment", ("crop",), "recipe.images"), ("normalize", "standard", "recipe.images"),
                              ("fast", True, "held whole on the device")):
        name, message = device_only(Recipe(**{field: value}))
        assert name == field and why in message and message.endswith("remove it")
