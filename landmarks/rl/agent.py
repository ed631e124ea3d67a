"""The DQN agent's loop (Mnih et al. 2015, Algorithm 1): act epsilon-greedily on the last 4
frames, store each step in the replay memory, and every `update_every` steps learn from a
minibatch; the target network takes the online network's weights every `target_every` updates.

A game is anything with `actions` (how many), `reset(seed) -> frame` and `step(action) -> (frame,
reward, game_over, life_lost)`: the Atari emulator (`landmarks.rl.atari`) or a test's toy.

    agent = Agent(create_model('nature-dqn', (4, 84, 84), 6), Dqn(), seed=0)
    rows = agent.train(game, steps=10_000)      # one row per finished game
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from torch import nn

from landmarks.rl.dqn import DeepMindRMSprop, td_loss
from landmarks.rl.replay import FrameStack, ReplayMemory
from landmarks.train.recipe import Dqn


class Agent:
    def __init__(self, q: nn.Module, settings: Dqn, seed: int, frame_shape: tuple[int, int] = (84, 84)) -> None:
        self.q, self.settings = q, settings
        self.target = copy.deepcopy(q).requires_grad_(False)
        self.optimizer = DeepMindRMSprop(q.parameters(), settings.lr, settings.alpha, settings.eps_rms)
        self.memory = ReplayMemory(settings.memory, frame_shape, settings.history)
        self.stack = FrameStack(frame_shape, settings.history)
        self.rng = np.random.default_rng(seed)
        self.steps = self.updates = 0

    @torch.no_grad()
    def act(self, frames: np.ndarray, epsilon: float, actions: int) -> int:
        if self.rng.random() < epsilon:
            return int(self.rng.integers(actions))
        return int(self.q(torch.from_numpy(frames[None])).argmax(dim=1))

    def learn(self) -> float:
        s, a, r, s_next, done = (torch.from_numpy(x) for x in self.memory.sample(self.settings.batch, self.rng))
        loss = td_loss(self.q, self.target, s, a, r, s_next, done, self.settings.gamma)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        if self.updates % self.settings.target_every == 0:
            self.target.load_state_dict(self.q.state_dict())
        return float(loss.detach())

    def train(self, game, until: int, first_seed: int = 0, games: int = 0,
              on_game: Callable[[dict], bool | None] | None = None) -> list[dict]:
        """Agent steps until `self.steps` reaches `until`, starting game number `games`; game k is
        reset with seed first_seed + k, so a run continued from the end of a game (a checkpoint)
        plays what an uninterrupted one does. One row per game finished, each also given to
        `on_game` (which may save the agent: between games nothing else is in flight, and may
        end the training there by returning True)."""
        cfg, rows = self.settings, []
        frame = game.reset(first_seed + games)
        frames, score, length = self.stack.reset(frame), 0.0, 0
        while self.steps < until:
            action = self.act(frames, cfg.epsilon(self.steps), game.actions)
            next_frame, reward, game_over, life_lost = game.step(action)
            clipped = float(np.clip(reward, -cfg.reward_clip, cfg.reward_clip))
            # a lost life ends the learning episode, not the game (Methods, "Training details")
            self.memory.add(frame, action, clipped, game_over or life_lost)
            self.steps, score, length = self.steps + 1, score + reward, length + 1
            if self.steps > cfg.learn_start and self.steps % cfg.update_every == 0:
                self.learn()
            if game_over:
                rows.append({"game": games, "score": score, "steps": length, "agent_steps": self.steps})
                games += 1
                if (on_game and on_game(rows[-1])) or self.steps >= until:
                    break
                next_frame = game.reset(first_seed + games)
                frames, score, length = self.stack.reset(next_frame), 0.0, 0
            elif life_lost:
                frames = self.stack.reset(next_frame)
            else:
                frames = self.stack.push(next_frame)
            frame = next_frame
        return rows

    def state_dict(self) -> dict:
        """Everything a continued run needs, as tensors and plain values (torch.load weights_only)."""
        m, held = self.memory, len(self.memory)
        return {"q": self.q.state_dict(), "target": self.target.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": self.rng.bit_generator.state, "steps": self.steps, "updates": self.updates,
                "memory": {"added": m.added, **{k: torch.from_numpy(getattr(m, k)[:held].copy())
                                                for k in ("frames", "actions", "rewards", "terminals", "starts")}}}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.steps, self.updates = state["steps"], state["updates"]
        m, saved = self.memory, state["memory"]
        m.added = saved["added"]
        for k in ("frames", "actions", "rewards", "terminals", "starts"):
            getattr(m, k)[:len(saved[k])] = saved[k].numpy()

    @torch.no_grad()
    def evaluate(self, game, episodes: int, epsilon: float, max_steps: int, first_seed: int,
                 rng: np.random.Generator | None = None) -> list[float]:
        """Scores of `episodes` games played with `epsilon` (Methods: 0.05), each cut at
        `max_steps` agent steps (5 minutes of play: 18,000 frames, 4,500 steps); exploration
        drawn from `rng` (else the agent's own stream)."""
        scores, own = [], self.rng
        self.rng = rng if rng is not None else own
        stack = FrameStack(self.stack.frames.shape[1:], self.settings.history)
        for k in range(episodes):
            frames, score = stack.reset(game.reset(first_seed + k)), 0.0
            for _ in range(max_steps):
                frame, reward, game_over, _ = game.step(self.act(frames, epsilon, game.actions))
                score += reward
                if game_over:
                    break
                frames = stack.push(frame)
            scores.append(score)
        self.rng = own
        return scores
