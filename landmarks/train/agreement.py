"""When to checkpoint and when to stop, asked after every step and answered alike on every rank
(a signal may reach one rank first; only the writer's clock makes a checkpoint due)."""

from __future__ import annotations

from landmarks.train.checkpoint import Checkpointer
from landmarks.train.distributed import World
from landmarks.train.signals import Interrupted, StopFlag


def due_and_stop(checkpoint: Checkpointer | None, stop: StopFlag | None, world: World, step: int) -> tuple[bool, bool]:
    """Whether to checkpoint and whether to stop at `step`, the same answer on every rank. Only the
    writer's clock decides a checkpoint: the other ranks never save, so theirs would stay due."""
    due = bool(checkpoint and world.writer and checkpoint.due(step))
    stopping = bool(stop is not None and stop.requested)
    return world.agree(due, stopping)


def stopped(checkpoint: Checkpointer | None, stop: StopFlag | None, step: int) -> Interrupted:
    """The error a run stopped by a signal ends with, saying where its checkpoint is."""
    where = f"; checkpoint saved to {checkpoint.path}" if checkpoint else " (no checkpoint: checkpointing is off)"
    # a rank may stop because another one got the signal
    signum = stop.signum if stop is not None and stop.requested else 15
    return Interrupted(f"stopped by signal {signum} at step {step}{where}; run the same command again to resume",
                       signum)
