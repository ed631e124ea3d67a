"""Runs that survive: SIGKILL and resume, atomic checkpoints, refusals, divergence."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

from landmarks.catalog import load_catalog, resolve_recipe
from landmarks.cli import main
from landmarks.data.loaders import to_device
from landmarks.data.prepare import load_prepared
from landmarks.models import create_model
from landmarks.run_files import read_outputs
from landmarks.train.checkpoint import Checkpointer
from landmarks.train.seeding import seed_everything
from landmarks.train.losses import compute_loss
from landmarks.train.steps.sgd import make_optimizer

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


def train_cmd(*extra: str) -> list[str]:
    return [str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking", "--checkpoint-every-steps", "9", *extra]


def run(ws: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(train_cmd(*extra), cwd=ws, capture_output=True, text=True, timeout=300)


def outcome(ws: Path) -> tuple[list, list, dict]:
    doc = json.loads((ws / "models" / "quick" / LANDMARK / "metrics.json").read_text())
    runs = [(r["claim"], r["seed"], r["value"], r["metric.top5_error"]) for r in doc["runs"]]
    # the whole file: its epoch times are in run-info.json, not here
    history = (ws / "models" / "quick" / LANDMARK / "history.csv").read_text().splitlines()
    weights = torch.load(ws / "models" / "quick" / LANDMARK / "weights" / "mlp_64x100-seed7.pt", weights_only=True)
    return runs, history, weights


def kill_when_checkpointed(ws: Path, delay: float, sig: int = signal.SIGKILL) -> str:
    proc = subprocess.Popen(train_cmd(), cwd=ws, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = ws / "checkpoints" / "quick" / LANDMARK / "mlp_64x100-seed7.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate()
    expected = -sig if sig == signal.SIGKILL else 128 + sig  # SIGTERM: a clean exit after a checkpoint
    assert proc.returncode == expected, f"the run finished before it could be killed: {err}"
    assert ckpt.exists()
    return err


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, digits_workspace):
    base = digits_workspace(tmp_path / "base")
    assert run(base).returncode == 0
    expected = outcome(base)
    rng = random.Random(1234)
    for trial in range(3):
        ws = digits_workspace(tmp_path / f"killed{trial}")
        kill_when_checkpointed(ws, delay=rng.uniform(0.0, 1.5))
        resumed = run(ws)
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming from step" in resumed.stderr
        runs, history, weights = outcome(ws)
        assert runs == expected[0]
        assert history == expected[1]  # every epoch's losses and errors, bit for bit
        assert weights.keys() == expected[2].keys()
        assert all(torch.equal(weights[k], expected[2][k]) for k in weights)
        assert not (ws / "checkpoints" / "quick" / LANDMARK).exists()  # cleaned up once complete

    # SIGTERM (a cluster's preemption notice) writes a checkpoint at once and exits 143
    ws = digits_workspace(tmp_path / "terminated")
    err = kill_when_checkpointed(ws, delay=0.5, sig=signal.SIGTERM)
    assert "stopped by signal 15" in err and "checkpoint saved" in err
    ckpt = ws / "checkpoints" / "quick" / LANDMARK / "mlp_64x100-seed7.pt"
    before = torch.load(ckpt, weights_only=True)["extra"]["seconds"]
    assert before > 0.5  # at least the delay it trained for before the signal
    assert run(ws).returncode == 0
    assert outcome(ws)[:2] == expected[:2]
    # the run's time counts the part before the signal too, not only the resumed process's
    (row,) = [r for r in read_outputs(ws / "models" / "quick" / LANDMARK)["runs"] if r["model"] == "mlp"]
    assert row["seconds"] > before


def test_half_written_checkpoint_leaves_the_previous_one_usable(tmp_path):
    path = tmp_path / "run.pt"
    script = textwrap.dedent(f"""
        import torch, sys
        from landmarks.train.checkpoint import Checkpointer
        c = Checkpointer(__import__("pathlib").Path({str(path)!r}), {{"recipe.lr": 0.1}})
        c.save({{"state": {{"step": 1}}, "model": {{"w": torch.ones(3)}}}}, step=1)
        print("first", flush=True)
        c.save({{"state": {{"step": 2}}, "model": {{"w": torch.zeros(400_000_000, dtype=torch.uint8)}}}}, step=2)
        print("second", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "first"
    deadline = time.time() + 60
    while not list(tmp_path.glob(".run.pt.tmp-*")) and time.time() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)  # killed while the second checkpoint is being written
    proc.wait()
    assert list(tmp_path.glob(".run.pt.tmp-*")), "the kill must land during the write"
    payload = Checkpointer(path, {"recipe.lr": 0.1}).load(strict=True)
    assert payload["state"]["step"] == 1 and torch.equal(payload["model"]["w"], torch.ones(3))


@pytest.mark.slow
def test_resume_against_changed_recipe_is_refused_naming_the_field(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", lr=0.05)
    kill_when_checkpointed(ws, delay=0.0)
    digits_workspace(ws, lr=0.01)  # the recipe changes under the checkpoint
    refused = run(ws, "--resume")
    assert refused.returncode == 2
    assert "recipe.lr" in refused.stderr and "0.05" in refused.stderr and "0.01" in refused.stderr
    started_over = run(ws)  # the default (auto) sets the old checkpoint aside and starts over
    assert started_over.returncode == 0
    assert "starting over" in started_over.stderr and "recipe.lr" in started_over.stderr


def reference_first_nan_step(recipe, data, seed: int, model_args: dict) -> int:
    """A plain training loop, independent of the engine: the step whose loss is first NaN/inf."""
    gen = seed_everything(seed)
    model = create_model("mlp", data.in_shape, data.num_classes, **model_args)
    opt = make_optimizer(model, recipe)
    step = 0
    for _ in range(recipe.epochs):
        order = torch.randperm(len(data.y_train), generator=gen)
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            loss = compute_loss(model(data.x_train[idx]), data.y_train[idx], recipe.loss)
            step += 1
            if not torch.isfinite(loss):
                return step
            opt.zero_grad()
            loss.backward()
            opt.step()
    raise AssertionError("the reference run never diverged")


def test_divergence_ends_failed_with_the_first_nan_step(tmp_path, digits_dir, digits_workspace, mlflow_runs, capsys,
                                                        monkeypatch):
    ws = digits_workspace(tmp_path / "ws", lr=1e5)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (ws / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(digits_dir)}, "tracking": {"uri": uri}}))
    monkeypatch.chdir(ws)
    code = main(["train", LANDMARK])
    err = capsys.readouterr().err
    assert code == 4 and "NaN or infinite at step" in err and "learning rate" in err

    lm = load_catalog(ws / "benchmarks")[LANDMARK]
    claim = lm.claim("mlp 64x100")
    recipe = resolve_recipe(lm, claim, "quick")
    data = to_device(load_prepared("digits", digits_dir), recipe.val_fraction, recipe.normalize, torch.device("cpu"))
    expected = reference_first_nan_step(recipe, data, seed=7, model_args=dict(claim.model_args))

    _, parent, child = mlflow_runs(uri, LANDMARK)
    assert child.info.status == "FAILED" and parent.info.status == "FAILED"
    assert int(child.data.tags["failed_at_step"]) == expected
    assert f"at step {expected}" in err and "learning rate" in child.data.tags["failure"]


def test_a_run_resumed_after_a_new_commit_continues_and_names_both_commits(tmp_path, digits_workspace):
    """The commit is provenance, not identity: a run interrupted under one commit continues under
    the next (a long run outlives a sitting in which the code moves on) and its row says where it
    began."""
    ws = digits_workspace(tmp_path / "ws", epochs=20)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(ws)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    first = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    kill_when_checkpointed(ws, delay=0.0)
    (ws / "NOTES").write_text("a later commit\n")
    subprocess.run([*git, "add", "NOTES"], check=True)
    subprocess.run([*git, "commit", "-qm", "second"], check=True)
    resumed = run(ws)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stderr and f"begun at commit {first[:12]}" in resumed.stderr
    doc = read_outputs(ws / "models" / "quick" / LANDMARK)  # HEAD when it ran: in run-info.json
    (row,) = [r for r in doc["runs"] if r["seed"] == 7 and r["claim"] == "mlp 64x100"]
    assert row["git_commit_started"] == first and row["git_commit"] != first


def test_a_run_into_another_output_folder_neither_takes_nor_spoils_the_first_ones_checkpoint(
        tmp_path, digits_workspace):
    """Checkpoints belong to the output they were made for: a run written to another --models
    folder trains from the start, and the interrupted run for models/ still resumes afterwards."""
    ws = digits_workspace(tmp_path / "ws", epochs=20)
    kill_when_checkpointed(ws, delay=0.0)
    ckpt = ws / "checkpoints" / "quick" / LANDMARK / "mlp_64x100-seed7.pt"
    other = run(ws, "--models", "elsewhere")
    assert other.returncode == 0, other.stderr
    assert "resuming from step" not in other.stderr
    assert (ws / "elsewhere" / "quick" / LANDMARK / "metrics.json").exists() and ckpt.exists()
    resumed = run(ws)
    assert resumed.returncode == 0 and "resuming from step" in resumed.stderr, resumed.stderr


def kept_workspace(ws: Path) -> tuple[Path, Path, dict]:
    """The workspace with the quick profile keeping finished runs' records, at seeds 7 and 8:
    (workspace, its catalog file, that file's data)."""
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["train"]["checkpoint"] = {"keep_profiles": ["quick"]}
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    catalog = ws / "benchmarks" / f"{LANDMARK}.yaml"
    data = yaml.safe_load(catalog.read_text())
    data["profiles"]["quick"]["seeds"] = [7, 8]
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    return ws, catalog, data


def test_a_fresh_clone_takes_the_kept_records_of_finished_runs_and_trains_only_the_rest(tmp_path, digits_workspace):
    """A long profile's finished runs survive the loss of the machine: each leaves a small record
    under runs/ that is committed with the code. A new checkout holding only the code and runs/
    (no checkpoints, no models, no MLflow store) takes them and trains only what is missing; a
    record whose recipe no longer matches is not taken."""
    ws, catalog, data = kept_workspace(digits_workspace(tmp_path / "ws", epochs=4))
    first = run(ws, "--seeds", "7")
    assert first.returncode == 0, first.stderr
    kept = ws / "runs" / "quick" / LANDMARK / "mlp_64x100-seed7.json"
    assert json.loads(kept.read_text())["row"]["seed"] == 7
    value = json.loads((ws / "models" / "quick" / LANDMARK / "metrics.json").read_text())["runs"][0]["value"]

    clone = tmp_path / "clone"
    for part in ("benchmarks", "runs"):
        shutil.copytree(ws / part, clone / part)
    shutil.copy(ws / "params.yaml", clone / "params.yaml")
    second = run(clone)
    assert second.returncode == 0, second.stderr
    assert f"seed 7: finished earlier, taken from runs/quick/{LANDMARK}/mlp_64x100-seed7.json" in second.stderr
    assert "seed 8: finished earlier" not in second.stderr
    doc = json.loads((clone / "models" / "quick" / LANDMARK / "metrics.json").read_text())
    assert {r["seed"]: r["value"] for r in doc["runs"]}[7] == value and len(doc["runs"]) == 2
    assert (clone / "runs" / "quick" / LANDMARK / "mlp_64x100-seed8.json").exists()
    assert not (clone / "checkpoints" / "quick" / LANDMARK).exists()  # complete: only runs/ stays

    data["recipe"]["lr"] = 0.04  # another recipe: the kept record is not this run's
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    third = run(ws, "--seeds", "7")
    assert third.returncode == 0 and "finished earlier" not in third.stderr, third.stderr


def test_the_report_shows_a_landmark_in_progress_from_its_kept_records(tmp_path, digits_workspace):
    """Before a long profile's landmark is complete, its report shows the runs that have finished
    (from runs/), marked in progress with how many of how many."""
    ws, catalog, _ = kept_workspace(digits_workspace(tmp_path / "ws", epochs=3))
    assert run(ws, "--seeds", "7").returncode == 0
    shutil.rmtree(ws / "models")  # the landmark is not complete anywhere: only its kept record
    out = subprocess.run([str(BIN / "landmarks"), "report", "--profile", "quick"], cwd=ws, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    readme = (ws / "reports" / "quick" / "README.md").read_text()
    assert "(in progress: 1 of 2 runs finished)" in readme
    results = (ws / "reports" / "quick" / "results.csv").read_text().splitlines()
    assert len(results) == 2 and ",7," in results[1]  # the header and seed 7's row

    # one more seed finishes; rebuilt from the committed results.csv (which knows seed 7 only),
    # the report takes the kept records over the file's rows
    assert run(ws, "--seeds", "8").returncode == 0
    shutil.rmtree(ws / "models")
    shutil.copy(ws / "reports" / "quick" / "results.csv", ws / "committed.csv")
    out = subprocess.run([str(BIN / "landmarks"), "report", "--profile", "quick", "--from-results", "committed.csv"],
                         cwd=ws, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    readme = (ws / "reports" / "quick" / "README.md").read_text()
    assert "(all 2 runs, from their kept records)" in readme
    assert f"torch {torch.__version__}." in readme  # the records' torch, kept in their identity
    assert len((ws / "reports" / "quick" / "results.csv").read_text().splitlines()) == 3
