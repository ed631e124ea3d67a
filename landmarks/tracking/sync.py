"""Send what was journaled while MLflow was unreachable.

    landmarks sync                                  # every journal in tracking-pending/
    landmarks sync tracking-pending/<file>.jsonl    # one of them
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from landmarks.errors import TrackingError
from landmarks.files import write_atomic
from landmarks.tracking.client import apply, fail_fast

log = logging.getLogger(__name__)


def sync(journal: Path, uri: str | None = None) -> int:
    """Send a journal's records to MLflow; returns how many were sent. Safe to run again after a
    failure: a `.progress` file beside the journal remembers what was already sent."""
    from mlflow.tracking import MlflowClient

    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = lines[0]["args"] if lines and lines[0]["op"] == "header" else {}
    uri = uri or header.get("uri")
    fail_fast(uri or "")
    client = MlflowClient(tracking_uri=uri)
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
        try:
            result = apply(client, entry["op"], args)
        except Exception as exc:  # noqa: BLE001 - a server that is down, or a record it refuses
            first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise TrackingError(
                f"could not send record {i} of {journal} to MLflow at {uri} ({type(exc).__name__}: {first}). "
                f"Nothing is lost: {sent} records went now, the other {len(lines) - i} wait in the journal; run "
                f"`landmarks sync {journal}` again once the server is up (`--uri` to send them elsewhere)") from None
        if entry.get("result"):
            ids[entry["result"]] = result
        sent += 1
        write_atomic(progress, json.dumps({"done": i + 1, "ids": ids}))
    done = journal.with_name(journal.name + ".synced")
    os.replace(journal, done)
    progress.unlink(missing_ok=True)
    log.info("sent %d records to %s; journal kept as %s", sent, client.tracking_uri, done)
    return sent
