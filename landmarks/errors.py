"""Errors a user can act on. The CLI prints them without a traceback and exits with `exit_code`."""


class LandmarksError(Exception):
    exit_code = 1


class ConfigError(LandmarksError):
    """A catalog file, params.yaml or a command-line value is wrong: names the file and field."""

    exit_code = 2


class DataError(LandmarksError):
    """A dataset could not be fetched, verified or read."""

    exit_code = 3


class TrainingError(LandmarksError):
    """A run failed (for example, its loss became NaN at `step`)."""

    exit_code = 4

    def __init__(self, msg: str, step: int | None = None) -> None:
        super().__init__(msg)
        self.step = step


class BusyError(LandmarksError):
    """Another process is training the same landmark under the same profile."""

    exit_code = 4


class StorageError(LandmarksError):
    """A result could not be written (disk full, file size limit, a folder turned read-only)."""

    exit_code = 4


class TrackingError(LandmarksError):
    """Records could not reach MLflow (`landmarks sync` while the server is down); they stay journaled."""

    exit_code = 4
