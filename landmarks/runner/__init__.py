"""Run one landmark under one profile: every claim, every seed (`landmark.train_landmark`), each
run taken from its finished result, resumed or trained (`one_run`), for a job (`job.TrainJob`)."""

from landmarks.runner.job import TrainJob
from landmarks.runner.landmark import Verdicts, train_landmark

__all__ = ["TrainJob", "Verdicts", "train_landmark"]
