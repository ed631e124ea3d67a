"""MLflow tracking that never stops training.

An experiment per landmark, a parent run per (landmark, profile) with the aggregate, and a child
run per (claim, seed) with the resolved recipe, per-epoch metrics and provenance tags. The store
is `sqlite:///mlflow.db` in the project unless MLFLOW_TRACKING_URI (or params.yaml's
tracking.uri) names another, such as a team's `mlflow server`.

When the tracking server is down, or goes away mid-run, training goes on: every record that
could not be sent is appended to a journal under `tracking-pending/`, and

    landmarks sync tracking-pending/<file>.jsonl

sends them once the server is back. mlflow is imported here only, so the engine and
`landmarks bench` run where it is not installed.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

EXPERIMENT_PREFIX = "landmarks/"
BATCH = 900  # MLflow takes at most 1000 metrics and 100 params per log_batch call
LOCAL = "local-"  # ids made up while the server was unreachable; `sync` maps them to real ones


def resolve_uri(configured: str = "", project: Path | str = ".") -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    if uri:
        return uri
    return f"sqlite:///{(Path(project).resolve() / 'mlflow.db').as_posix()}"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'recipe': {'lr': 0.1}} -> {'recipe.lr': 0.1}."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


def _clean_key(key: str) -> str:
    # MLflow keys allow letters, digits, _ - . space / : only
    return "".join(ch if ch.isalnum() or ch in "_-. /:" else "_" for ch in key)


def apply(client: Any, op: str, args: dict) -> Any:
    """Perform one tracking operation on an MlflowClient (live, or replayed by `sync`)."""
    from mlflow.entities import Metric, Param

    if op == "experiment":
        exp = client.get_experiment_by_name(args["name"])
        if exp is not None:
            return exp.experiment_id
        return client.create_experiment(args["name"], artifact_location=args.get("artifact_location"))
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
    if op == "set_tag":
        return client.set_tag(args["run_id"], args["key"], args["value"])
    if op == "update_run":
        return client.update_run(args["run_id"], status=args["status"])
    if op == "set_terminated":
        return client.set_terminated(args["run_id"], status=args["status"])
    if op == "log_artifact":
        return client.log_artifact(args["run_id"], args["path"])
    raise ValueError(f"unknown tracking operation {op!r}")


class Tracker:
    def __init__(self, uri: str, project: Path | str = ".", journal_dir: Path | None = None,
                 log=lambda msg: print(msg, file=sys.stderr, flush=True)) -> None:
        if uri.startswith(("http://", "https://")):
            # fail fast when the server is gone instead of retrying for minutes; training goes on
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.project = Path(project).resolve()
        self.client = MlflowClient(tracking_uri=uri)
        self.journal_dir = journal_dir or self.project / "tracking-pending"
        self.journal: Path | None = None
        self.offline_reason: str | None = None
        self.pending = 0
        self.log = log

    # -- the one door every record goes through -------------------------------------------
    def _send(self, op: str, args: dict, local_result: str | None = None) -> Any:
        uses_local = any(isinstance(v, str) and v.startswith(LOCAL) for v in args.values())
        if self.offline_reason is None and not uses_local:
            try:
                return apply(self.client, op, args)
            except Exception as exc:  # the server went away (or never came): keep training
                self.offline_reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                self._open_journal()
                self.log(
                    f"  tracking: MLflow at {self.uri} is unreachable ({self.offline_reason}); training goes on, "
                    f"records are kept in {self.journal}; send them later with `landmarks sync {self.journal}`"
                )
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
    def experiment(self, landmark_id: str) -> str:
        location = None
        if self.uri.startswith(("sqlite:", "file:")):
            # keep local artifacts beside the local store, not in the current directory
            location = (self.project / "mlartifacts" / landmark_id).as_uri()
        name = EXPERIMENT_PREFIX + landmark_id
        return self._send("experiment", {"name": name, "artifact_location": location}, f"{LOCAL}exp-{uuid.uuid4().hex}")

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

    def log_epoch(self, run_id: str, row: dict) -> None:
        self.log_metrics(run_id, ((k, v, row["epoch"]) for k, v in row.items() if k != "epoch"))

    def log_history(self, run_id: str, history: list[dict]) -> None:
        """Per-epoch metrics, with the epoch as the MLflow step."""
        self.log_metrics(run_id, ((k, v, row["epoch"]) for row in history for k, v in row.items() if k != "epoch"))

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self._send("set_tag", {"run_id": run_id, "key": key, "value": str(value)})

    def log_artifact(self, run_id: str, path: Path) -> None:
        self._send("log_artifact", {"run_id": run_id, "path": str(Path(path).resolve())})

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self._send("set_terminated", {"run_id": run_id, "status": status})

    def close(self) -> None:
        if self.pending:
            self.log(f"  tracking: {self.pending} records wait in {self.journal}; once MLflow at {self.uri} is back, "
                     f"run `landmarks sync {self.journal}`")


def open_tracker(enabled: bool, configured_uri: str = "", project: Path | str = ".") -> Tracker | None:
    if not enabled:
        return None
    return Tracker(resolve_uri(configured_uri, project), project)


def sync(journal: Path, uri: str | None = None, log=print) -> int:
    """Send a journal's records to MLflow; returns how many were sent. Safe to run again after a
    failure: a `.progress` file beside the journal remembers what was already sent."""
    from mlflow.tracking import MlflowClient

    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = lines[0]["args"] if lines and lines[0]["op"] == "header" else {}
    client = MlflowClient(tracking_uri=uri or header.get("uri"))
    progress = journal.with_name(journal.name + ".progress")
    state = json.loads(progress.read_text()) if progress.exists() else {"done": 0, "ids": {}}
    ids: dict[str, str] = state["ids"]
    sent = 0
    for i, entry in enumerate(lines):
        if entry["op"] == "header" or i < state["done"]:
            continue
        args = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in entry["args"].items()}
        if "tags" in args and "mlflow.parentRunId" in args["tags"]:
            args["tags"] = {**args["tags"], "mlflow.parentRunId": ids.get(args["tags"]["mlflow.parentRunId"], args["tags"]["mlflow.parentRunId"])}
        result = apply(client, entry["op"], args)
        if entry.get("result"):
            ids[entry["result"]] = result
        sent += 1
        progress.write_text(json.dumps({"done": i + 1, "ids": ids}))
    done = journal.with_name(journal.name + ".synced")
    os.replace(journal, done)
    progress.unlink(missing_ok=True)
    log(f"sent {sent} records to {client.tracking_uri}; journal kept as {done}")
    return sent
