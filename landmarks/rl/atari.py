"""An Atari game as the DQN agent sees it (Mnih et al. 2015, Methods): the Arcade Learning
Environment without sticky actions (repeat_action_probability 0, as in 2015), the game's minimal
action set, each action repeated for 4 frames ("frame skipping") with the rewards summed and the
last two screens max-pooled into one 84 x 84 luminance frame (`frames.phi`), and up to 30 no-op
actions at the start of each game. The ROMs ship inside ale-py.

    python -c "from landmarks.rl.atari import AtariGame; g = AtariGame('Pong'); print(g.reset(0).shape, g.actions)"
"""

from __future__ import annotations

import numpy as np

from landmarks.rl.frames import phi

REPEAT = 4  # Extended Data Table 1, "action repeat"
NOOP_MAX = 30  # Extended Data Table 1, "no-op max"


class AtariGame:
    """`reset(seed)` starts a game (the emulator and the no-op count seeded by `seed`) and gives
    its first frame; `step(action)` gives (frame, reward, game_over, life_lost), the reward
    unclipped (the agent clips what it learns from; scores are the game's)."""

    def __init__(self, game: str, repeat: int = REPEAT, noop_max: int = NOOP_MAX) -> None:
        import ale_py
        import gymnasium as gym

        gym.register_envs(ale_py)
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on every game made
        try:
            self.env = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0,
                                full_action_space=False, obs_type="rgb")
        except gym.error.Error as err:
            raise ValueError(f"no Atari game {game!r} in ale-py {ale_py.__version__} ({err}); names are "
                             "like Pong, Breakout, SpaceInvaders") from err
        self.ale = self.env.unwrapped.ale
        self.action_set = self.env.unwrapped._action_set  # the game's minimal set, as in 2015
        self.actions = len(self.action_set)
        self.repeat, self.noop_max = repeat, noop_max
        self.frames = 0  # emulator frames played in all

    def reset(self, seed: int) -> np.ndarray:
        self.env.reset(seed=seed)
        self.lives = self.ale.lives()
        noops = int(np.random.default_rng(seed).integers(1, self.noop_max + 1)) if self.noop_max else 0
        frame = self._frame(self.ale.getScreenRGB(), self.ale.getScreenRGB())
        for _ in range(noops):  # the no-op action is action 0 of every minimal set
            frame, _, over, _ = self.step(0)
            if over:  # cannot happen in the games DQN played; a new game rather than a finished one
                return self.reset(seed + 1_000_003)
        return frame

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        reward, previous, current = 0.0, None, None
        for _ in range(self.repeat):
            reward += self.ale.act(self.action_set[action])
            previous, current = current, self.ale.getScreenRGB()
            self.frames += 1
            if self.ale.game_over():
                break
        lives = self.ale.lives()
        life_lost, self.lives = lives < self.lives, lives
        return self._frame(previous, current), reward, self.ale.game_over(), life_lost

    @staticmethod
    def _frame(previous: np.ndarray | None, current: np.ndarray) -> np.ndarray:
        return phi(current if previous is None else previous, current)
