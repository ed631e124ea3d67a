"""Learning-rate schedules as a factor of the base rate, per optimizer step.

Every schedule is expressed in steps so that one mechanism serves epoch-based recipes (LeCun 1998)
and iteration-based ones (He et al. 2016: divide by 10 at 32k and 48k iterations). "cosine" falls
from 1 to 0 over the whole run, which gets the most out of a fixed, short budget (a CPU profile
that cannot afford the paper's thousands of epochs).
"""

from __future__ import annotations

import bisect
import math
from typing import Callable

from landmarks.train.recipe import Schedule


def lr_factor(schedule: Schedule, steps_per_epoch: int, total_steps: int = 0) -> Callable[[int], float]:
    """`total_steps` is the run's length, needed by "cosine" only."""
    if schedule.kind == "cosine" and total_steps <= 0:
        raise ValueError("a cosine schedule needs the run's total number of steps")
    per = 1 if schedule.unit == "step" else steps_per_epoch
    milestones = sorted(m * per for m in schedule.milestones)
    step_size = schedule.step_size * per

    def factor(step: int) -> float:
        if schedule.kind == "multistep":
            f = schedule.gamma ** bisect.bisect_right(milestones, step)
        elif schedule.kind == "piecewise":
            f = schedule.factors[bisect.bisect_right(milestones, step)]
        elif schedule.kind == "step" and step_size > 0:
            f = schedule.gamma ** (step // step_size)
        elif schedule.kind == "exponential":
            f = schedule.gamma ** (step // per)
        elif schedule.kind == "cosine":
            f = 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
        else:
            f = 1.0
        if step < schedule.warmup_steps:
            f *= schedule.warmup_factor
        return f

    return factor
