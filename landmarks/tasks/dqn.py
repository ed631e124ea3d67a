"""Play an Atari game with DQN (Mnih et al. 2015) and report its evaluation score.

The claim names the game (`data_args: {game: Pong}`) and the network (`nature-dqn`); the
recipe's `dqn:` holds Extended Data Table 1. A run trains for `dqn.steps` agent steps, draws a
learning curve (an evaluation every `dqn.eval_every` steps, logged like an epoch), and ends with
the paper's evaluation: `eval_games` games at epsilon 0.05, each up to 5 minutes, from random
no-op starts; `score` is their mean. The agent is saved between games when the runner's
checkpoint policy says so, and a stopped or killed run continues from there to the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np

from landmarks.errors import ConfigError
from landmarks.models import count_parameters, create_model
from landmarks.rl.agent import Agent
from landmarks.rl.atari import REPEAT, AtariGame
from landmarks.rl.run import evaluate, run as play
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.agreement import stopped
from landmarks.train.seeding import seed_everything

log = logging.getLogger(__name__)
FINAL = 0  # the number of the final evaluation (the curve's are 1, 2, ...)


def _game_name(claim) -> str:
    game = claim.data_args.get("game")
    if not isinstance(game, str):
        raise ConfigError(f"claim {claim.name!r}: task dqn needs data_args: {{game: <Atari game>}}, e.g. Pong")
    return game


def rom_hash(game: str) -> str:
    """What defines a game's data: the sha256 of its ROM as ale-py ships it."""
    from ale_py.roms import get_rom_path

    snake = "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(game))
    return hashlib.sha256(get_rom_path(snake).read_bytes()).hexdigest()


def _actions(game: str) -> int:
    return AtariGame(game).actions


def _check(recipe) -> tuple[str, str] | None:
    if recipe.dqn.learn_start < recipe.dqn.batch + recipe.dqn.history:
        return "dqn.learn_start", "must exceed batch + history: the first minibatch needs that many frames"
    return None


class SaveBudget:
    """The runner's checkpoint policy, with saves kept to about 5% of the run: a full replay memory
    makes a save of up to 7 GB, so a save is due only once the time since the last one is at least
    20 times what that one took (a save asked for by a stop is always made)."""

    SHARE = 20.0

    def __init__(self, checkpoint) -> None:
        self.checkpoint, self.took, self.at = checkpoint, 0.0, time.monotonic()

    def due(self, step: int) -> bool:
        return (self.checkpoint is not None and self.checkpoint.due(step)
                and time.monotonic() - self.at >= self.SHARE * self.took)

    def save(self, state: dict) -> None:
        if self.checkpoint is None:
            return
        t0 = time.perf_counter()
        self.checkpoint.save(state, state["state"]["step"])
        self.took, self.at = time.perf_counter() - t0, time.monotonic()


@register_task("dqn", inputs=lambda lm, claim: ((4, 84, 84), _actions(_game_name(claim))), check_recipe=_check,
               budget=lambda recipe: recipe.dqn.steps)
def dqn(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:

    settings, name = run.recipe.dqn, _game_name(run.claim)
    game = AtariGame(name)
    seed_everything(run.seed)  # the network's initial weights
    q = create_model(run.claim.model, (settings.history, 84, 84), game.actions, **run.claim.model_args)
    agent = Agent(q, settings, seed=run.seed)
    first_seed = run.seed * 1_000_003
    checkpoint, stop = control.checkpoint, control.stop
    log.info("    %s: %d actions, %s agent steps, replay memory of %s frames (%.1f GB)", name, game.actions,
             f"{settings.steps:,}", f"{settings.memory:,}", agent.memory.nbytes / 1e9)
    saves = SaveBudget(checkpoint)
    rows, curve = play(agent, game, settings, first_seed, saved=control.resume, save=saves.save, due=saves.due,
                       stopping=lambda: bool(stop and stop.requested), on_curve=control.on_epoch)
    if agent.steps < settings.steps:  # stopped between games, saved
        raise stopped(checkpoint, stop, agent.steps)
    scores = evaluate(agent, game, settings, settings.eval_games, FINAL, first_seed)
    return RunResult(
        metrics={"score": float(np.mean(scores))},
        history=curve,
        # frames: of training, 4 emulator frames an agent step
        info={"parameters": count_parameters(q), "data_hash": rom_hash(name), "game": name,
              "agent_steps": agent.steps, "frames": agent.steps * REPEAT, "games": len(rows), "updates": agent.updates,
              "eval_std": float(np.std(scores)), "eval_min": min(scores), "eval_max": max(scores),
              "memory_bytes": agent.memory.nbytes},
        model=q,
    )
