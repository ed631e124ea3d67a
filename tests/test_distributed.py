"""Several processes (torchrun, gloo on the CPU): one run split over them takes the steps of one
process, every test image is counted once, a profile's runs dealt out over them give the rows of
one process, nodes meet at a rendezvous, and a killed worker is restarted where it stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
import yaml

from landmarks.train.sources.device import evaluate
from ranks import evaluate_on_rank, fixed_problem

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


def workspace(ws: Path, catalog_dir: Path, digits_dir: Path, recipe: dict, claims: str = "data") -> Path:
    """The digits landmark with an MLP and a small CNN with BatchNorm, batch 31 (so shares of 16 and
    15 images, and a last batch of 3 split 2 and 1), one seed, deterministic."""
    (ws / "benchmarks").mkdir(parents=True)
    data = yaml.safe_load((catalog_dir / f"{LANDMARK}.yaml").read_text())
    data["claims"] = [data["claims"][1], {"name": "small cnn bn", "model": "cnn_small",
                                          "model_args": {"batchnorm": True}, "source": "test"}]
    data["orderings"] = []
    data["recipe"].update(batch_size=31, **({"parallel": "data", "sync_bn": True} if claims == "data" else {}), **recipe)
    data["profiles"] = {"quick": {"seeds": [0]}}
    (ws / "benchmarks" / f"{LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (ws / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(digits_dir)}, "train": {"deterministic": True}}))
    return ws


def train(ws: Path, models: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking", "--models", models, *extra],
                          cwd=ws, env=env, capture_output=True, text=True, timeout=600)


def weights(ws: Path, models: str, key: str) -> dict:
    return torch.load(ws / models / "quick" / LANDMARK / "weights" / f"{key}.pt", weights_only=True)


def test_the_ranks_of_a_run_go_on_in_rank_0s_precision(tmp_path):
    """precision auto: each rank times its own CPU, so ranks on unlike CPUs resolve it differently;
    they all go on in rank 0's choice (a resumed run: its checkpoint's)."""
    from ranks import settle_precision_on_rank

    mp.start_processes(settle_precision_on_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2,
                       start_method="spawn")
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (r0["alone"], r1["alone"]) == ("fp32", "bf16")  # the ranks disagree when each decides
    assert r0["settled"] == r1["settled"] == "fp32"
    assert r0["resumed"] == r1["resumed"] == "bf16"


@pytest.mark.slow
def test_two_processes_take_the_steps_of_one(tmp_path, catalog_dir, digits_dir):
    """Same seed, same global batch: after one step the weights agree to float rounding (the two
    sum the batch in a different order: measured 3e-8 at most), BatchNorm over the global batch
    included. Over epochs those rounding differences grow with training (1.6e-6 of the largest
    weight after 40 steps, more at lr 0.05 and momentum 0.9), so the curves are compared where
    they must agree to 1e-5: all epochs of the MLP, the first epoch of the BatchNorm CNN."""
    one_step = workspace(tmp_path / "step", catalog_dir, digits_dir, {"epochs": 1, "max_steps": 1})
    for models, extra in (("one", ()), ("two", ("--nproc-per-node", "2"))):
        out = train(one_step, models, *extra)
        assert out.returncode == 0, out.stderr
    for key in ("mlp_64x100-seed0", "small_cnn_bn-seed0"):
        a, b = weights(one_step, "one", key), weights(one_step, "two", key)
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6, msg=f"{key} {name}")

    ws = workspace(tmp_path / "epochs", catalog_dir, digits_dir, {"epochs": 3})
    assert train(ws, "one").returncode == 0
    two = train(ws, "two", "--nproc-per-node", "2")
    assert two.returncode == 0, two.stderr
    assert two.stderr.count("top1_error =") == 2  # rank 0 alone reports
    h1 = pd.read_csv(ws / "one" / "quick" / LANDMARK / "history.csv")
    h2 = pd.read_csv(ws / "two" / "quick" / LANDMARK / "history.csv")
    mlp1, mlp2 = h1[h1.claim == "mlp 64x100"], h2[h2.claim == "mlp 64x100"]
    for col in ("train_loss", "train_error", "val_error", "test_error"):
        assert mlp2[col].tolist() == pytest.approx(mlp1[col].tolist(), rel=1e-5), col
    cnn1, cnn2 = h1[(h1.claim == "small cnn bn") & (h1.epoch == 1)], h2[(h2.claim == "small cnn bn") & (h2.epoch == 1)]
    for col in ("train_loss", "train_error", "val_error"):
        assert cnn2[col].tolist() == pytest.approx(cnn1[col].tolist(), rel=1e-5), col
    doc = json.loads((ws / "two" / "quick" / LANDMARK / "metrics.json").read_text())
    assert {r["info.world_size"] for r in doc["runs"]} == {2}
    assert not (ws / "checkpoints").exists() or not any((ws / "checkpoints").rglob("*.pt"))


def test_evaluation_over_two_ranks_counts_every_image_once(tmp_path):
    """1,001 test images over 2 ranks (501 and 500): exactly the one-process top-1 and top-5 errors,
    with no image padded in twice as DistributedSampler would."""
    model, x, y = fixed_problem()
    single = evaluate(model, x, y, ks=(1, 5))
    assert 0 < single["top1_error"] < 100
    mp.start_processes(evaluate_on_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2,
                       start_method="spawn")
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == single


def test_ranks_evaluate_rank_0s_batchnorm_statistics(tmp_path):
    """parallel: data without sync_bn: each rank's BatchNorm statistics follow its own share of the
    batches, so before evaluating, every rank takes rank 0's; the reported error is then that of
    rank 0's model on the whole test split."""
    from ranks import bn_problem, fit_bn_on_rank

    mp.start_processes(fit_bn_on_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2,
                       start_method="spawn")
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["running_mean"] == r1["running_mean"] and r0["running_var"] == r1["running_var"]
    model, data, _ = bn_problem(0, 1)
    model.load_state_dict(torch.load(tmp_path / "rank0.pt", weights_only=True))
    alone = evaluate(model, data.x_test, data.y_test, ks=(1, 5))
    assert r0["test"] == r1["test"] == alone
    assert r0["history_test"][-1] == alone["top1_error"]


def test_a_stop_on_one_rank_waits_until_the_checkpoint_is_written(tmp_path):
    """A signal reaches rank 1 only: both ranks stop at the same step, and neither leaves before
    rank 0's (slow) checkpoint is on disk, so a restarted job always finds it."""
    from ranks import stop_on_rank

    mp.start_processes(stop_on_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2,
                       start_method="spawn")
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == {"left": "interrupted", "checkpoint": True}


@pytest.mark.slow
def test_a_profiles_runs_dealt_out_over_two_processes_give_the_rows_of_one(tmp_path, catalog_dir, digits_dir):
    """Runs that do not split (the default, parallel: runs) are dealt out over the processes; rank
    0 gathers them: the same metrics.json rows as one process (apart from timing and rank), one
    MLflow parent run with every run as its child, the weights of every run."""
    from mlflow.tracking import MlflowClient

    ws = workspace(tmp_path / "ws", catalog_dir, digits_dir, {"epochs": 2}, claims="runs")
    data = yaml.safe_load((ws / "benchmarks" / f"{LANDMARK}.yaml").read_text())
    data["profiles"]["quick"]["seeds"] = [0, 1, 2]  # 6 runs: 3 for each process
    (ws / "benchmarks" / f"{LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}"}
    one = subprocess.run([str(BIN / "landmarks"), "train", LANDMARK, "--models", "one", "--no-tracking"], cwd=ws,
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([str(BIN / "landmarks"), "train", LANDMARK, "--models", "two", "--nproc-per-node", "2"],
                         cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr

    def rows(models: str) -> list[dict]:
        doc = json.loads((ws / models / "quick" / LANDMARK / "metrics.json").read_text())
        drop = ("seconds", "info.train_seconds", "info.rank", "mlflow_run_id", "resumed")
        return [{k: v for k, v in r.items() if k not in drop} for r in doc["runs"]]

    r1, r2 = rows("one"), rows("two")
    assert len(r1) == 6 and r2 == r1  # values, provenance and order, bit for bit
    doc = json.loads((ws / "two" / "quick" / LANDMARK / "metrics.json").read_text())
    assert sorted(r["info.rank"] for r in doc["runs"]) == [0, 0, 0, 1, 1, 1]
    assert len(list((ws / "two" / "quick" / LANDMARK / "weights").glob("*.pt"))) == 6
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name(f"landmarks/{LANDMARK}")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 6 and all(r.info.status == "FINISHED" for r in children)
    assert {r.data.tags["rank"] for r in children if "rank" in r.data.tags} == {"1"}  # gathered from rank 1


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_meet_at_a_rendezvous_and_train_like_one(tmp_path, catalog_dir, digits_dir):
    """Two torchrun invocations as `--nnodes 2` (one process each), meeting on 127.0.0.1 with the
    c10d rendezvous: the multi-node path, for real; the result is the one-process result."""
    ws = workspace(tmp_path / "ws", catalog_dir, digits_dir, {"epochs": 2})
    assert train(ws, "one").returncode == 0
    endpoint = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen([str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking", "--models", "nodes",
                               "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", str(r),
                               "--rdzv-endpoint", endpoint], cwd=ws, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    errs = [p.communicate(timeout=600)[1] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], errs
    assert sum(e.count("top1_error =") for e in errs) == 2  # one node's rank 0 reports, once per run
    h1 = pd.read_csv(ws / "one" / "quick" / LANDMARK / "history.csv")
    h2 = pd.read_csv(ws / "nodes" / "quick" / LANDMARK / "history.csv")
    mlp1, mlp2 = h1[h1.claim == "mlp 64x100"], h2[h2.claim == "mlp 64x100"]
    assert mlp2.train_loss.tolist() == pytest.approx(mlp1.train_loss.tolist(), rel=1e-5)


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_the_run_ends_as_if_never_killed(tmp_path, catalog_dir, digits_dir):
    """Under `--max-restarts 1`, SIGKILL one worker after a checkpoint: torchrun restarts both, they
    resume from rank 0's checkpoint, and the run ends with the numbers of an uninterrupted one."""
    import signal
    import time

    ws = workspace(tmp_path / "ws", catalog_dir, digits_dir, {"epochs": 60})
    data = yaml.safe_load((ws / "benchmarks" / f"{LANDMARK}.yaml").read_text())
    data["profiles"]["quick"]["claims"] = ["mlp 64x100"]
    (ws / "benchmarks" / f"{LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    flags = ("--nproc-per-node", "2", "--checkpoint-every-steps", "150")
    clean = train(ws, "clean", *flags)
    assert clean.returncode == 0, clean.stderr

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen([str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking", "--models", "killed",
                            *flags, "--max-restarts", "1"], cwd=ws, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    # a run written to --models killed keeps its checkpoints in a folder of its own
    found: list = []
    deadline = time.time() + 300
    while not (found := list((ws / "checkpoints" / "quick").glob(f"{LANDMARK}+*/mlp_64x100-seed0.pt"))):
        assert job.poll() is None and time.time() < deadline, "no checkpoint before the run ended"
        time.sleep(0.02)
    folder = found[0].parent
    worker = json.loads((folder / "lock").read_text())["pid"]  # rank 0's process holds the lock
    os.kill(worker, signal.SIGKILL)
    _, err = job.communicate(timeout=600)
    assert job.returncode == 0, err
    assert "resuming from step" in err
    a = weights(ws, "clean", "mlp_64x100-seed0")
    b = weights(ws, "killed", "mlp_64x100-seed0")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same steps, resumed exactly
    r1 = json.loads((ws / "clean" / "quick" / LANDMARK / "metrics.json").read_text())["runs"][0]
    r2 = json.loads((ws / "killed" / "quick" / LANDMARK / "metrics.json").read_text())["runs"][0]
    assert r2["value"] == r1["value"] and r2["metric.top5_error"] == r1["metric.top5_error"]


@pytest.mark.slow
def test_params_yaml_sets_the_process_count_of_landmarks_that_split(tmp_path, catalog_dir, digits_dir):
    """`train.processes` in params.yaml (what the DVC train stage reads) starts torchrun: a
    parallel: data run is trained by both processes, other runs are dealt out."""
    ws = workspace(tmp_path / "ws", catalog_dir, digits_dir, {"epochs": 1})
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["train"]["processes"] = 2
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    out = train(ws, "m")
    assert out.returncode == 0, out.stderr
    doc = json.loads((ws / "m" / "quick" / LANDMARK / "metrics.json").read_text())
    assert {r["info.world_size"] for r in doc["runs"]} == {2}

    serial = workspace(tmp_path / "serial", catalog_dir, digits_dir, {"epochs": 1}, claims="runs")
    (serial / "params.yaml").write_text(yaml.safe_dump(params))
    out = train(serial, "m")
    assert out.returncode == 0, out.stderr
    doc = json.loads((serial / "m" / "quick" / LANDMARK / "metrics.json").read_text())
    assert sorted(r["info.rank"] for r in doc["runs"]) == [0, 1]  # dealt out, one run each
