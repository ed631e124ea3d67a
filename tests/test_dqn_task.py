"""DQN as a landmark: the task run by `landmarks train` on the real emulator (a few thousand agent
steps of Pong), its learning curve in MLflow and the metrics file, and a run killed with SIGKILL
that the same command continues to the numbers of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from waiting import wait_for

BIN = Path(sys.executable).parent
LANDMARK = "mnih2015-dqn-atari"
KEY = "DQN_Pong-seed0"
# a short run: the curve's evaluations at 1,000 and 2,000 steps, two final games
TINY = {"steps": 2200, "memory": 3000, "learn_start": 300, "epsilon_steps": 2000, "target_every": 100, "batch": 8,
        "eval_every": 1000, "curve_games": 1, "eval_games": 2, "eval_max_steps": 300}
pytestmark = pytest.mark.slow


def workspace(ws: Path, catalog_dir: Path) -> Path:
    (ws / "benchmarks").mkdir(parents=True)
    data = yaml.safe_load((catalog_dir / f"{LANDMARK}.yaml").read_text())
    data["profiles"]["quick"] = {"seeds": [0], "claims": ["DQN, Pong"], "reduced_budget": True,
                                 "recipe": {"dqn": TINY}}
    (ws / "benchmarks" / f"{LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (ws / "params.yaml").write_text(yaml.safe_dump({"train": {"deterministic": True}}))
    return ws


def env(ws: Path) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}


def train(ws: Path) -> list[str]:
    return [str(BIN / "landmarks"), "train", LANDMARK, "--profile", "quick", "--checkpoint-every-steps", "1"]


def test_a_short_pong_run_resumes_after_sigkill_to_the_uninterrupted_numbers(tmp_path, catalog_dir):
    whole, killed = workspace(tmp_path / "whole", catalog_dir), workspace(tmp_path / "killed", catalog_dir)
    done = subprocess.run(train(whole), cwd=whole, env=env(whole), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((whole / "models" / "quick" / LANDMARK / "metrics.json").read_text())
    (row,) = doc["runs"]
    assert row["metric"] == "score" and -21 <= row["value"] <= 21 and row["info.agent_steps"] == TINY["steps"]
    assert row["info.frames"] >= 4 * TINY["steps"] and row["info.data_hash"]
    # the learning curve: one evaluation per 1,000 steps, in MLflow as per-epoch metrics
    client = MlflowClient(f"sqlite:///{whole / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"landmarks/{LANDMARK}")
    child = next(r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags)
    assert sorted(m.step for m in client.get_metric_history(child.info.run_id, "eval_score")) == [1, 2]
    assert child.data.metrics["score"] == pytest.approx(row["value"])
    # the report: the score against frames beside the paper's DQN, human and random lines
    report = subprocess.run([str(BIN / "landmarks"), "report", "--profile", "quick"], cwd=whole, env=env(whole),
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    reports = whole / "reports" / "quick"
    assert (reports / "figures" / f"{LANDMARK}.png").stat().st_size > 10_000
    table = (reports / "tables" / f"{LANDMARK}.md").read_text()
    assert "human, Pong" in table and "random, Pong" in table and "reduced budget" in table
    # a game not run here: its human and random rows are not listed
    assert "human, Breakout" not in table and "random, Breakout" not in table
    assert "DQN, Pong: eval score" in (reports / "curves" / f"{LANDMARK}.csv").read_text().splitlines()[0]

    checkpoint = killed / "checkpoints" / "quick" / LANDMARK / f"{KEY}.pt"
    proc = subprocess.Popen(train(killed), cwd=killed, env=env(killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(checkpoint.exists, proc, "the first game's checkpoint", timeout=600)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    again = subprocess.run(train(killed), cwd=killed, env=env(killed), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from step" in again.stderr
    (resumed,) = json.loads((killed / "models" / "quick" / LANDMARK / "metrics.json").read_text())["runs"]
    for k in ("value", "info.games", "info.updates", "info.eval_std", "info.frames"):
        assert resumed[k] == row[k], k
    a = torch.load(whole / "models" / "quick" / LANDMARK / "weights" / f"{KEY}.pt")
    b = torch.load(killed / "models" / "quick" / LANDMARK / "weights" / f"{KEY}.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_landmarks_plan_times_agent_steps_and_bounds_the_evaluations(tmp_path, catalog_dir, monkeypatch):
    """A DQN claim's plan: its agent steps at a timed step, plus at most every evaluation game
    played to its 5-minute cut (an upper bound), from a real timing of the emulator and updates."""
    import pandas as pd

    from landmarks.catalog import load_catalog, resolve_recipe
    from landmarks.cli.plan import make_timer
    from landmarks.plan.estimate import plan_profile

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lm = load_catalog(catalog_dir)[LANDMARK]
    timer = make_timer(torch.device("cpu"), retime=False, steps=5)
    (plan,) = plan_profile({LANDMARK: lm}, "atari-cpu", tmp_path, timer, pd.DataFrame())
    d = lm.profile("atari-cpu").recipe["dqn"]
    assert plan.steps == d["steps"] == 1_000_000 and plan.upper_bound and plan.seeds == 3
    claim = lm.claim_in("DQN, Pong", "atari-cpu")
    t = timer(claim, resolve_recipe(lm, claim, "atari-cpu"), (4, 84, 84), 0, task="dqn")  # from the cache now
    played = (d["steps"] // d["eval_every"] * d["curve_games"] + 30) * 4_500
    assert plan.seconds == pytest.approx((d["steps"] * t.ms_per_step + played * t.ms_per_eval_image) / 1000)
    assert 0 < t.ms_per_eval_image < t.ms_per_step  # playing costs less than playing and learning


def test_a_report_gives_a_dqn_landmark_not_run_yet_its_planned_time(tmp_path, catalog_dir, monkeypatch):
    """The report's "not run yet" line reads the plan cache, DQN timings included (keyed by the
    game and how often the agent learns): a cached timing gives the landmark its time."""
    from landmarks.catalog import load_catalog, resolve_recipe
    from landmarks.plan.timing import StepTime, TimingCache, machine_key, step_key
    from landmarks.report.in_progress import planned
    from landmarks.train.seeding import resolve_device

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lm = load_catalog(catalog_dir)[LANDMARK]
    claim = lm.claim_in("DQN, Pong", "atari-cpu")
    key = step_key(claim, resolve_recipe(lm, claim, "atari-cpu"), (4, 84, 84), "dqn")
    TimingCache().put(machine_key(resolve_device("auto")), key, StepTime(12.0, 2.0))
    # 3 seeds x (1,000,000 steps x 12 ms + (10 x 5 + 30) games x 4,500 steps x 2 ms) = 3 x 12,720 s
    assert planned({LANDMARK: lm}, "atari-cpu", [LANDMARK], tmp_path) == {LANDMARK: "10.6 h"}


def test_landmarks_use_atari_cpu_lists_the_dqn_landmark_and_its_planned_time(tmp_path, catalog_dir, monkeypatch):
    """`landmarks use atari-cpu`: the DQN landmark in the generated list (no dataset to fetch) and
    the planned total read from the plan cache, DQN timings included."""
    from landmarks.catalog import load_catalog, resolve_recipe
    from landmarks.plan.timing import StepTime, TimingCache, machine_key, step_key
    from landmarks.train.seeding import resolve_device

    root = Path(__file__).resolve().parents[1]
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "params.yaml").write_text((root / "params.yaml").read_text())
    (ws / "benchmarks").symlink_to(catalog_dir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the plan cache, here and in the command
    lm = load_catalog(catalog_dir)[LANDMARK]
    claim = lm.claim_in("DQN, Pong", "atari-cpu")
    key = step_key(claim, resolve_recipe(lm, claim, "atari-cpu"), (4, 84, 84), "dqn")
    TimingCache().put(machine_key(resolve_device("auto")), key, StepTime(12.0, 2.0))
    done = subprocess.run([str(BIN / "landmarks"), "use", "atari-cpu"], cwd=ws, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    params = yaml.safe_load((ws / "params.yaml").read_text())
    assert params["profile"] == "atari-cpu" and params["generated"] == [LANDMARK] and not params["landmarks"]
    assert "planned on this machine: 10.6 h" in done.stdout + done.stderr
