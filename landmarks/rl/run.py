"""A DQN run that survives being stopped or killed: training in games, a learning-curve
evaluation every `eval_every` agent steps (at the end of the game in which it falls due), and the agent saved at the end of a game when a save
is due (or a stop was asked for). The same call, given what was saved, continues from there to
the same numbers as an uninterrupted run: games are seeded by their number, and every
evaluation draws its own games and exploration from its number, never from the agent's stream.

    rows, curve = run(agent, AtariGame("Pong"), recipe.dqn, first_seed=0)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from landmarks.rl.agent import Agent
from landmarks.train.recipe import Dqn

# evaluation games are seeded apart from training games (first_seed + game number)
EVAL_SEEDS = 1_000_000_007


def evaluate(agent: Agent, game, settings: Dqn, games: int, number: int, first_seed: int) -> list[float]:
    """Evaluation `number`'s scores: `games` games at epsilon eval_epsilon, each cut at
    eval_max_steps, on games and an exploration stream of its own."""
    rng = np.random.default_rng([first_seed, EVAL_SEEDS, number])
    seeds = first_seed + EVAL_SEEDS + 1_000 * number
    return agent.evaluate(game, games, settings.eval_epsilon, settings.eval_max_steps, seeds, rng=rng)


def run(agent: Agent, game, settings: Dqn, first_seed: int, saved: dict | None = None,
        save: Callable[[dict], None] | None = None, due: Callable[[int], bool] = lambda step: False,
        stopping: Callable[[], bool] = lambda: False, on_curve: Callable[[dict], None] | None = None
        ) -> tuple[list[dict], list[dict]]:
    """Train to settings.steps agent steps: (one row per finished game, one row per evaluation).
    `saved`: what an earlier `save` was given; `due(step)`: whether to save now; `stopping()`:
    a stop was asked for (the run then saves and returns early)."""
    rows, curve = [], []
    if saved:
        agent.load_state_dict(saved["agent"])
        rows, curve = list(saved["rows"]), list(saved["curve"])

    def state() -> dict:
        return {"agent": agent.state_dict(), "rows": rows, "curve": curve, "state": {"step": agent.steps}}

    def evaluations_due() -> None:
        while agent.steps >= (len(curve) + 1) * settings.eval_every:
            number = len(curve) + 1
            scores = evaluate(agent, game, settings, settings.curve_games, number, first_seed)
            recent = [r["score"] for r in rows if r["agent_steps"] > (number - 1) * settings.eval_every]
            curve.append({"epoch": number, "agent_steps": agent.steps, "frames": agent.steps * 4,
                          "eval_score": float(np.mean(scores)), "train_score": float(np.mean(recent or [np.nan])),
                          "games": len(rows), "epsilon": settings.epsilon(agent.steps)})
            if on_curve:
                on_curve(curve[-1])

    def game_over(row: dict) -> bool:
        rows.append(row)
        evaluations_due()
        stop = stopping()
        if save and (stop or due(agent.steps)):
            save(state())
        return stop  # True ends the training here

    agent.train(game, settings.steps, first_seed, games=len(rows), on_game=game_over)
    if agent.steps >= settings.steps:  # the last game may end after the budget's evaluations fell due
        evaluations_due()
    return rows, curve
