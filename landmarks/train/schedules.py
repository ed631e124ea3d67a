"""Learning-rate schedules as a factor of the base rate, per optimizer step.

Every schedule is expressed in steps so that one mechanism serves epoch-based recipes (LeCun 1998)
and iteration-based ones (He et al. 2016: divide by 10 at 32k and 48k iterations).
"""

from __future__ import annotations

import bisect
from typing import Callable

from landmarks.catalog import Schedule


def lr_factor(schedule: Schedule, steps_per_epoch: int) -> Callable[[int], float]:
    per = 1 if schedule.unit == "step" else steps_per_epoch
    milestones = sorted(m * per for m in schedule.milestones)
    step_size = schedule.step_size * per

    def factor(step: int) -> float:
        if schedule.kind == "multistep":
            f = schedule.gamma ** bisect.bisect_right(milestones, step)
        elif schedule.kind == "step" and step_size > 0:
            f = schedule.gamma ** (step // step_size)
        else:
            f = 1.0
        if step < schedule.warmup_steps:
            f *= schedule.warmup_factor
        return f

    return factor
