"""Tracking with MLflow (imported only in this package, so the engine and `landmarks bench` run
where it is not installed): `client` (the Tracker and its journal), `runs` (the run lifecycle of
a landmark), `sync` (sending what was journaled)."""

from landmarks.tracking.client import Tracker, flatten, open_tracker, resolve_uri
from landmarks.tracking.runs import LandmarkRuns

__all__ = ["LandmarkRuns", "Tracker", "flatten", "open_tracker", "resolve_uri"]
