"""A DQN run's time on this machine: a few hundred agent steps of the claim's game timed at its
recipe (the emulator, acting on the last 4 frames, an update every `update_every` steps on a
minibatch from the replay memory), and the steps of evaluation play (acting and the emulator).

    from landmarks.plan.dqn_timing import time_dqn_step
"""

from __future__ import annotations

import time

import torch

from landmarks.catalog import Claim
from landmarks.models import create_model
from landmarks.plan.timing import StepTime
from landmarks.train.recipe import Recipe

WARMUP, TIMED = 100, 400  # agent steps: the timed ones all learn (after the replay start)


def time_dqn_step(claim: Claim, recipe: Recipe) -> StepTime:
    """ms per training step (its share of an update included), and ms per evaluation step (in
    `ms_per_eval_image`: an evaluation plays, it does not read images)."""
    from landmarks.rl.agent import Agent
    from landmarks.rl.atari import AtariGame

    d = recipe.dqn
    game = AtariGame(str(claim.data_args.get("game")))
    settings = d.model_copy(update={"memory": max(WARMUP + TIMED + 8, 1_000), "learn_start": WARMUP})
    torch.manual_seed(0)
    q = create_model(claim.model, (d.history, 84, 84), game.actions, **claim.model_args)
    agent = Agent(q, settings, seed=0)
    agent.train(game, WARMUP)
    t0 = time.perf_counter()
    agent.train(game, WARMUP + TIMED)
    train_ms = 1000.0 * (time.perf_counter() - t0) / TIMED
    t0 = time.perf_counter()
    played = 0
    frames = agent.stack.reset(game.reset(1))
    with torch.no_grad():
        while played < TIMED:
            frame, _, over, _ = game.step(agent.act(frames, d.eval_epsilon, game.actions))
            frames = agent.stack.reset(game.reset(played)) if over else agent.stack.push(frame)
            played += 1
    return StepTime(train_ms, 1000.0 * (time.perf_counter() - t0) / TIMED)
