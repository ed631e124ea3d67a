"""A DQN run that survives being killed: the agent is saved at the end of a game when a save is
due, and the same call continues from there to the same numbers as an uninterrupted run (games
are seeded by their number, so the games after a save are the ones an uninterrupted run plays).

    rows = run(agent, AtariGame("Pong"), until=100_000, path=Path("checkpoints/pong-seed0.pt"), first_seed=0)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

from landmarks.files import atomic_open
from landmarks.rl.agent import Agent


def run(agent: Agent, game, until: int, path: Path, first_seed: int, every_seconds: float = 600.0,
        on_game: Callable[[dict], None] | None = None) -> list[dict]:
    """Train `agent` on `game` until `until` agent steps, continuing from `path` if it holds a
    saved run; one row per finished game (those before the save included)."""
    rows: list[dict] = []
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        agent.load_state_dict(saved["agent"])
        rows = list(saved["rows"])
    last = time.monotonic()

    def game_over(row: dict) -> None:
        nonlocal last
        rows.append(row)
        if time.monotonic() - last >= every_seconds:
            with atomic_open(path, binary=True) as f:
                torch.save({"agent": agent.state_dict(), "rows": rows}, f)
            last = time.monotonic()
        if on_game:  # after the save: what it reports is kept
            on_game(row)

    agent.train(game, until, first_seed, games=len(rows), on_game=game_over)
    return rows
