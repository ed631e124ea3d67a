"""Tasks: the registry (`registry`) and the tasks that register there: classify (train, then
test error), perceptron_convergence, xor, estimator (fit a scikit-learn baseline), and on
image-folder datasets classify-images and torchvision-weights (images)."""

from landmarks.tasks.registry import TASKS, RunControl, RunResult, RunSpec, StageContext, Task, register_task
from landmarks.tasks import classify, convergence, dqn, estimator, images, xor  # noqa: E402,F401,I001  (registers)

__all__ = ["TASKS", "RunControl", "RunResult", "RunSpec", "StageContext", "Task", "register_task"]
