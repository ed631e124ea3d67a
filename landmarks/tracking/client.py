"""The MLflow client that never stops training: every record goes through `Tracker._send`.

The store is `sqlite:///mlflow.db` in the project unless MLFLOW_TRACKING_URI (or params.yaml's
tracking.uri) names another, such as a team's `mlflow server`. When the tracking server is down,
or goes away mid-run, training goes on: every record that could not be sent is appended to a
journal under `tracking-pending/`, which `landmarks sync` sends once the server is back
(`landmarks.tracking.sync`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "landmarks/"
BATCH = 900  # MLflow takes at most 1000 metrics and 100 params per log_batch call
LOCAL = "local-"  # ids made up while the server was unreachable; `sync` maps them to real ones


def project_root(project: Path | str = ".") -> Path:
    """The project a run belongs to. `dvc exp run --temp` and `--queue` run the stages in a copy
    under `<project>/.dvc/tmp/exps/`: their runs belong to the project above it, not the copy."""
    path = Path(project).resolve()
    parts = path.parts
    for i in range(len(parts) - 3):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return path


def resolve_uri(configured: str = "", project: Path | str = ".") -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    if uri:
        return uri
    return f"sqlite:///{(project_root(project) / 'mlflow.db').as_posix()}"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'recipe': {'lr': 0.1}} -> {'recipe.lr': 0.1}."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def _clean_key(key: str) -> str:
    """MLflow keys allow letters, digits, _ - . space / : only: punctuation of claim names goes
    ("perceptron (best of all epochs)" -> "perceptron best of all epochs"), an ordering's > and <
    are said in words ("perceptron > mlp" -> "perceptron above mlp"), anything else is _."""
    kept = "".join(ch for ch in key if ch not in "(),'\"").replace(">", "above").replace("<", "below")
    return "".join(ch if ch.isalnum() or ch in "_-. /:" else "_" for ch in kept)


def apply(client: Any, op: str, args: dict) -> Any:
    """Perform one tracking operation on an MlflowClient (live, or replayed by `sync`)."""
    from mlflow.entities import Metric, Param

    if op == "experiment":
        exp = client.get_experiment_by_name(args["name"])
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(
            args["name"], artifact_location=args.get("artifact_location"))
        if args.get("description"):  # what the UI shows as the experiment's description
            client.set_experiment_tag(exp_id, "mlflow.note.content", args["description"])
        # the UI of MLflow 3 shows an experiment of this kind as model training (its runs and
        # charts), not as a GenAI app (traces, "No data")
        client.set_experiment_tag(exp_id, EXPERIMENT_KIND, MODEL_TRAINING)
        return exp_id
    if op == "log_artifact":
        return client.log_artifact(args["run_id"], args["path"], args.get("artifact_path"))
    if op == "create_run":
        return client.create_run(args["experiment_id"], run_name=args["run_name"], tags=args["tags"]).info.run_id
    if op == "log_batch":
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in args.get("metrics", [])]
        params = [Param(k, v) for k, v in args.get("params", [])]
        for i in range(0, len(params), 100):
            client.log_batch(args["run_id"], params=params[i : i + 100])
        for i in range(0, len(metrics), BATCH):
            client.log_batch(args["run_id"], metrics=metrics[i : i + BATCH])
        return None
    if op == "log_input":
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(args["name"], args["digest"], "local", args["source"])
        return client.log_inputs(args["run_id"], [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
    if op == "set_tag":
        return client.set_tag(args["run_id"], args["key"], args["value"])
    if op == "update_run":
        return client.update_run(args["run_id"], status=args["status"])
    if op == "set_terminated":
        return client.set_terminated(args["run_id"], status=args["status"])
    raise ValueError(f"unknown tracking operation {op!r}")


def fail_fast(uri: str) -> None:
    """For a tracking server: give up on a request after one try and 10 s instead of MLflow's
    default of 7 retries with backoff (minutes of silence when the server is down). Training then
    journals and goes on; `sync` says the server is down. Settings a user made are kept."""
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


class Tracker:
    def __init__(self, uri: str, project: Path | str = ".", journal_dir: Path | None = None) -> None:
        fail_fast(uri)
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.project = project_root(project)  # artifacts and journals outlive a `dvc exp run --temp` copy
        self.client = MlflowClient(tracking_uri=uri)
        self.journal_dir = journal_dir or self.project / "tracking-pending"
        self.journal: Path | None = None
        self.offline_reason: str | None = None
        self.pending = 0

    # -- the one door every record goes through -------------------------------------------
    def _send(self, op: str, args: dict, local_result: str | None = None) -> Any:
        uses_local = any(isinstance(v, str) and v.startswith(LOCAL) for v in args.values())
        if self.offline_reason is None and not uses_local:
            try:
                return apply(self.client, op, args)
            except Exception as exc:  # the server went away (or never came): keep training
                self.offline_reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                self._open_journal()
                log.warning("  tracking: MLflow at %s is unreachable (%s); training goes on, records are kept "
                            "in %s; send them later with `landmarks sync %s`", self.uri, self.offline_reason,
                            self.journal, self.journal)
        self._open_journal()
        entry = {"op": op, "args": args, "result": local_result}
        with open(self.journal, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.pending += 1
        return local_result

    def _open_journal(self) -> None:
        if self.journal is None:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            self.journal = self.journal_dir / f"{stamp}-{os.getpid()}.jsonl"
            header = {"op": "header", "args": {"uri": self.uri, "created": stamp}, "result": None}
            self.journal.write_text(json.dumps(header) + "\n", encoding="utf-8")

    # -- what the runner calls ---------------------------------------------------------------
    def experiment(self, landmark_id: str, description: str = "") -> str:
        location = None
        if self.uri.startswith(("sqlite:", "file:")):
            # keep local artifacts beside the local store, not in the current directory
            location = (self.project / "mlartifacts" / landmark_id).as_uri()
        name = EXPERIMENT_PREFIX + landmark_id
        return self._send("experiment", {"name": name, "artifact_location": location, "description": description},
                          f"{LOCAL}exp-{uuid.uuid4().hex}")

    def start(self, experiment_id: str, name: str, tags: dict[str, Any], parent: str | None = None) -> str:
        tags = {k: str(v) for k, v in tags.items()}
        if parent:
            tags["mlflow.parentRunId"] = parent
        return self._send("create_run", {"experiment_id": experiment_id, "run_name": name, "tags": tags},
                          f"{LOCAL}run-{uuid.uuid4().hex}")

    def resume(self, run_id: str) -> None:
        self._send("update_run", {"run_id": run_id, "status": "RUNNING"})

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [[_clean_key(k), str(v)[:6000]] for k, v in flatten(params).items()]
        self._send("log_batch", {"run_id": run_id, "params": items})

    def log_metrics(self, run_id: str, rows: Iterable[tuple[str, float, int]]) -> None:
        now = int(time.time() * 1000)
        items = [[_clean_key(k), float(v), now, int(step)] for k, v, step in rows
                 if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if items:
            self._send("log_batch", {"run_id": run_id, "metrics": items})

    def log_history(self, run_id: str, history: list[dict]) -> None:
        """Per-epoch metrics, with the epoch as the MLflow step. An epoch's time is `epoch_seconds`:
        `seconds` is the run's total, logged once at its end. The mid-epoch points of
        `eval_every_steps` (a fractional epoch) stay in history.csv and the report's figure."""
        self.log_metrics(run_id, (("epoch_seconds" if k == "seconds" else k, v, row["epoch"])
                                  for row in history if float(row["epoch"]).is_integer()
                                  for k, v in row.items() if k not in ("epoch", "step")))

    def log_input(self, run_id: str, name: str, content_hash: str, source: str) -> None:
        """The dataset the run trained on, as an MLflow input (the UI's Datasets column). MLflow keeps
        36 characters of a digest: the hash's first 36, the whole in `source`."""
        self._send("log_input", {"run_id": run_id, "name": name, "digest": content_hash[:36],
                                 "source": f"{source} (sha256 {content_hash})"})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self._send("set_tag", {"run_id": run_id, "key": _clean_key(key), "value": str(value)})

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        """A file kept with the run (it must still exist when a journal is synced)."""
        self._send("log_artifact", {"run_id": run_id, "path": str(Path(path).resolve()), "artifact_path": artifact_path})

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self._send("set_terminated", {"run_id": run_id, "status": status})

    def close(self) -> None:
        if self.pending:
            log.warning("  tracking: %d records wait in %s; once MLflow at %s is back, run `landmarks sync %s`",
                        self.pending, self.journal, self.uri, self.journal)


def open_tracker(enabled: bool, configured_uri: str = "", project: Path | str = ".") -> Tracker | None:
    if not enabled:
        return None
    return Tracker(resolve_uri(configured_uri, project), project)
