"""The replay memory (Mnih et al. 2015, Methods: "we store the agent's experiences ... in a data
set D"; Extended Data Table 1: the last 1,000,000 transitions): every preprocessed frame stored
once as uint8, with the action taken on it, the clipped reward that followed and whether the
learning episode ended there; the stacks of the last 4 frames the network reads are rebuilt on
sampling. 1,000,000 frames of 84 x 84 take 7.1 GB.

A stack never reaches back across the start of an episode: the frames before the first one of an
episode are zeros, as the agent saw them when it acted (`FrameStack`).

    memory = ReplayMemory(capacity=1000, shape=(84, 84))
    memory.add(frame, action, reward, terminal)          # one per agent step, in order
    s, a, r, s_next, done = memory.sample(32, rng)       # (32, 4, 84, 84) uint8 stacks, ...
"""

from __future__ import annotations

import numpy as np

HISTORY = 4  # Extended Data Table 1, "agent history length"


class ReplayMemory:
    """`add` frame t with the action a_t chosen on it, the reward r_t it brought and terminal_t
    (the learning episode ended with that step: a lost life or the game's end); the next frame
    added starts a new episode after a terminal step."""

    def __init__(self, capacity: int, shape: tuple[int, int] = (84, 84), history: int = HISTORY) -> None:
        if capacity <= history:
            raise ValueError(f"a replay memory of {capacity} frames cannot hold a stack of {history} and its successor")
        self.capacity, self.history = capacity, history
        self.frames = np.zeros((capacity, *shape), dtype=np.uint8)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminals = np.zeros(capacity, dtype=bool)
        self.starts = np.zeros(capacity, dtype=bool)  # the frame is the first of an episode
        self.added = 0  # frames added in all; the newest `capacity` are kept

    def __len__(self) -> int:
        return min(self.added, self.capacity)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.frames, self.actions, self.rewards, self.terminals, self.starts))

    def add(self, frame: np.ndarray, action: int, reward: float, terminal: bool) -> None:
        i = self.added % self.capacity
        self.frames[i], self.actions[i], self.rewards[i], self.terminals[i] = frame, action, reward, terminal
        self.starts[i] = self.added == 0 or self.terminals[(self.added - 1) % self.capacity]
        self.added += 1

    def stacks(self, t: np.ndarray) -> np.ndarray:
        """The stacks ending at absolute frame numbers `t`: (len(t), history, H, W), the frames of
        an earlier episode zeroed."""
        offsets = np.arange(-self.history + 1, 1)
        idx = t[:, None] + offsets[None, :]  # (B, history), oldest first
        out = self.frames[idx % self.capacity]
        # where a later frame of the stack starts an episode, every frame before it is of another
        starts = self.starts[idx % self.capacity]
        later_start = np.flip(np.logical_or.accumulate(np.flip(starts[:, 1:], axis=1), axis=1), axis=1)
        dropped = np.concatenate([later_start, np.zeros((len(t), 1), dtype=bool)], axis=1) | (idx < 0)
        out[dropped] = 0
        return out

    def sample(self, batch: int, rng: np.random.Generator):
        """`batch` transitions drawn uniformly: (s, a, r, s', done); s' is meaningless where done."""
        low = max(0, self.added - self.capacity) + self.history - 1  # whose whole stack is still held
        high = self.added - 1  # exclusive: the newest frame has no successor yet
        if high <= low:
            raise ValueError(f"the replay memory holds {len(self)} frames: too few to sample from")
        t = rng.integers(low, high, size=batch)
        i = t % self.capacity
        return self.stacks(t), self.actions[i], self.rewards[i], self.stacks(t + 1), self.terminals[i]


class FrameStack:
    """The last `history` frames the agent saw in this episode, zeros before its first."""

    def __init__(self, shape: tuple[int, int] = (84, 84), history: int = HISTORY) -> None:
        self.frames = np.zeros((history, *shape), dtype=np.uint8)

    def reset(self, frame: np.ndarray) -> np.ndarray:
        self.frames[:] = 0
        return self.push(frame)

    def push(self, frame: np.ndarray) -> np.ndarray:
        self.frames[:-1] = self.frames[1:]
        self.frames[-1] = frame
        return self.frames
