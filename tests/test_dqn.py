"""DQN's parts (Mnih et al. 2015): the preprocessing on hand-made screens, the replay memory's
stacks across episode ends, DeepMind's RMSProp and the clipped error against hand computations,
and the agent learning a tiny deterministic game in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landmarks.rl.agent import Agent
from landmarks.models.nature_dqn import NatureQNetwork
from landmarks.rl.dqn import DeepMindRMSprop, td_loss
from landmarks.rl.frames import phi
from landmarks.rl.replay import FrameStack, ReplayMemory
from landmarks.train.recipe import Dqn


def test_phi_takes_the_brighter_of_two_screens_then_luminance_at_84x84():
    previous = np.zeros((210, 160, 3), np.uint8)
    current = np.zeros((210, 160, 3), np.uint8)
    previous[:105, :80] = (255, 0, 0)  # a red sprite drawn on one frame only (flicker)
    current[105:, 80:] = (0, 255, 0)  # a green one on the other
    out = phi(previous, current)
    assert out.shape == (84, 84) and out.dtype == np.uint8
    assert out[10, 10] == round(0.299 * 255) and out[70, 70] == round(0.587 * 255)  # both kept, as luma
    assert out[10, 70] == 0 and out[70, 10] == 0
    white = np.full((210, 160, 3), 255, np.uint8)
    assert (phi(white, previous) == 255).all()  # the maximum, not the mean, of the two
    half = np.zeros((210, 160, 3), np.uint8)
    half[:, :80] = 255
    row = phi(half, half)[40]
    assert (row[:41] == 255).all() and (row[43:] == 0).all()  # area averaging blends only at the edge


def _filled(memory: ReplayMemory, episodes: list[int]) -> None:
    """Frames numbered 1, 2, ... (each image filled with its number), games of the given lengths."""
    n = 0
    for length in episodes:
        for k in range(length):
            n += 1
            memory.add(np.full((2, 2), n, np.uint8), action=n % 3, reward=float(n), terminal=k == length - 1)


def test_replay_stacks_never_reach_across_an_episode_start():
    memory = ReplayMemory(capacity=100, shape=(2, 2))
    _filled(memory, [3, 6])  # frames 1-3, then 4-9
    stacks = memory.stacks(np.array([0, 2, 3, 4, 8]))[:, :, 0, 0]  # absolute frame numbers 0-based
    assert stacks.tolist() == [[0, 0, 0, 1], [0, 1, 2, 3], [0, 0, 0, 4], [0, 0, 4, 5], [6, 7, 8, 9]]
    s, a, r, s_next, done = memory.sample(500, np.random.default_rng(0))
    last = s[:, -1, 0, 0].astype(int)
    assert ((a == last % 3) & (r == last)).all()  # the action and reward of the stack's newest frame
    assert (s_next[~done][:, -1, 0, 0] == last[~done] + 1).all()
    assert set(last[done]) <= {3, 9} and 9 not in set(last)  # the newest frame has no successor yet
    for stack in np.concatenate([s, s_next])[:, :, 0, 0]:  # one episode per stack: numbers in a run, zeros before
        kept = stack[stack > 0]
        assert (np.diff(kept) == 1).all() and not (kept[0] <= 3 < kept[-1])


def test_replay_memory_keeps_the_newest_frames_and_samples_only_whole_stacks():
    memory = ReplayMemory(capacity=10, shape=(2, 2))
    _filled(memory, [7, 8])  # 15 frames: 6-15 kept
    assert len(memory) == 10
    # the Nature memory of 1,000,000 frames: 84 x 84 bytes each, plus a few per transition
    assert ReplayMemory(10_000).nbytes * 100 / 1e9 == pytest.approx(7.07, abs=0.05)
    s, _, _, s_next, _ = memory.sample(400, np.random.default_rng(1))
    newest = s[:, -1, 0, 0]
    assert newest.min() >= 9 and newest.max() <= 14  # 6-8 would need dropped frames; 15 has no successor
    assert {tuple(x) for x in s[newest == 9][:, :, 0, 0].tolist()} == {(0, 0, 8, 9)}  # 8 started the second game
    with pytest.raises(ValueError, match="too few"):
        ReplayMemory(10, (2, 2)).sample(1, np.random.default_rng(0))
    stack = FrameStack((2, 2))
    assert stack.reset(np.ones((2, 2), np.uint8))[:, 0, 0].tolist() == [0, 0, 0, 1]


def test_deepmind_rmsprop_step_against_a_hand_computation():
    w = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = DeepMindRMSprop([w], lr=0.1, alpha=0.9, eps=0.01)
    for grad in ([0.5, -1.0], [0.3, 2.0]):
        w.grad = torch.tensor(grad)
        opt.step()
    # by hand: g1 = 0.1 dw1, n1 = 0.1 dw1^2; g2 = 0.9 g1 + 0.1 dw2, n2 = 0.9 n1 + 0.1 dw2^2
    want = []
    for w0, d1, d2 in ((1.0, 0.5, 0.3), (-2.0, -1.0, 2.0)):
        g1, n1 = 0.1 * d1, 0.1 * d1 * d1
        w1 = w0 - 0.1 * d1 / (n1 - g1 * g1 + 0.01) ** 0.5
        g2, n2 = 0.9 * g1 + 0.1 * d2, 0.9 * n1 + 0.1 * d2 * d2
        want.append(w1 - 0.1 * d2 / (n2 - g2 * g2 + 0.01) ** 0.5)
    torch.testing.assert_close(w.detach(), torch.tensor(want))


def test_the_error_is_clipped_and_summed_over_the_minibatch():
    q = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        q.weight.copy_(torch.tensor([[1.0], [2.0]]))
    target = nn.Linear(1, 2, bias=False).requires_grad_(False)
    with torch.no_grad():
        target.weight.zero_()
    s = torch.tensor([[1.0], [1.0]])
    a, r, done = torch.tensor([0, 1]), torch.tensor([4.0, 2.3]), torch.tensor([False, True])
    td_loss(q, target, s, a, r, s, done, gamma=0.99).backward()
    # errors y - Q: 4 - 1 = 3 (clipped to 1) and 2.3 - 2 = 0.3; dL/dQ = -clip(error), summed
    torch.testing.assert_close(q.weight.grad, torch.tensor([[-1.0], [-0.3]]))


def test_nature_network_shape_and_size():
    net = NatureQNetwork(actions=6)
    out = net(torch.zeros(2, 4, 84, 84, dtype=torch.uint8))
    assert out.shape == (2, 6)
    want = (4 * 32 * 64 + 32) + (32 * 64 * 16 + 64) + (64 * 64 * 9 + 64) + (3136 * 512 + 512) + (512 * 6 + 6)
    assert sum(p.numel() for p in net.parameters()) == want == 1_687_206


class Scaled(nn.Module):
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return frames.float() / 255.0


class Corridor:
    """Cells 0..5 shown as one bright column of an 8x8 frame; start in cell 2; right or left;
    +1 and the game ends in cell 5, -1 in cell 0, nothing after 12 steps."""

    actions = 2

    def reset(self, seed: int) -> np.ndarray:
        self.cell, self.t = 2, 0
        return self._frame()

    def _frame(self) -> np.ndarray:
        frame = np.zeros((8, 8), np.uint8)
        frame[:, self.cell + 1] = 255
        return frame

    def step(self, action: int):
        self.cell += 1 if action == 1 else -1
        self.t += 1
        reward = 1.0 if self.cell == 5 else -1.0 if self.cell == 0 else 0.0
        return self._frame(), reward, reward != 0 or self.t >= 12, False


@pytest.mark.slow
def test_the_agent_learns_a_tiny_deterministic_game_in_seconds():
    torch.manual_seed(0)
    q = nn.Sequential(Scaled(), nn.Flatten(), nn.Linear(4 * 64, 32), nn.ReLU(), nn.Linear(32, 2))
    settings = Dqn(memory=2_000, learn_start=100, epsilon_steps=1_000, target_every=50, update_every=1,
                           gamma=0.9, lr=0.001)
    agent = Agent(q, settings, seed=0, frame_shape=(8, 8))
    before = agent.evaluate(Corridor(), episodes=5, epsilon=1.0, max_steps=12, first_seed=100)
    rows = agent.train(Corridor(), until=2_500)
    assert rows and agent.updates == 2_500 - 100
    after = agent.evaluate(Corridor(), episodes=5, epsilon=0.0, max_steps=12, first_seed=100)
    assert after == [1.0] * 5, (before, after)  # straight to the right end, every time
    assert np.mean([r["score"] for r in rows[-20:]]) > np.mean([r["score"] for r in rows[:20]])


def test_the_atari_emulator_as_the_agent_sees_it():
    """The real emulator (ale-py's Pong): 84 x 84 frames, the minimal action set, the same game for
    the same seed, and an unknown game named with the fix."""
    from landmarks.rl.atari import AtariGame

    game = AtariGame("Pong")
    assert game.actions == 6
    first = [game.reset(3)] + [game.step(k % 6)[0] for k in range(30)]
    again = [game.reset(3)] + [game.step(k % 6)[0] for k in range(30)]
    assert all(f.shape == (84, 84) and f.dtype == np.uint8 for f in first)
    assert all((a == b).all() for a, b in zip(first, again))
    frames, score = game.frames, 0.0
    game.reset(4)
    for k in range(300):
        _, reward, over, life_lost = game.step(k % 6)
        score += reward
        assert not life_lost  # Pong has no lives to lose
    assert game.frames - frames >= 4 * 300 and score < 0  # four frames an action; flailing loses points
    with pytest.raises(ValueError, match="no Atari game 'Pongg'.*like Pong"):
        AtariGame("Pongg")



def test_human_normalised_score_as_the_paper_defines_it():
    """100 x (score - random) / (human - random), with Extended Data Table 2's rows: the paper's
    own DQN scores give its 132% (Pong) and 1,327% (Breakout)."""
    import pandas as pd

    from landmarks.catalog import load_catalog
    from landmarks.report.notes import human_normalised

    lm = load_catalog("benchmarks")["mnih2015-dqn-atari"]
    (line,) = human_normalised(lm, pd.DataFrame([{"landmark": lm.id, "claim": "DQN, Pong", "mean": -5.7}]))
    # Pong: 100 x (-5.7 + 20.7) / (9.3 + 20.7) = 50%
    assert "DQN, Pong: 50% over the runs, the paper's 132%" in line
    # a game the report did not select stays out of its line, as its reference rows do
    assert "Breakout" not in line
    both = pd.DataFrame([{"landmark": lm.id, "claim": "DQN, Pong", "mean": -5.7},
                         {"landmark": lm.id, "claim": "DQN, Breakout", "mean": float("nan")}])
    (line,) = human_normalised(lm, both)
    assert "DQN, Breakout: no runs yet, the paper's 1327%" in line


def test_saves_of_a_dqn_run_take_at_most_a_twentieth_of_its_time(tmp_path):
    """A full replay memory makes a save of up to 7 GB: the runner's policy applies, and a save is
    due only once 20 times the last save's duration has passed since it."""
    from landmarks.tasks.dqn import SaveBudget
    from landmarks.train.checkpoint import Checkpointer

    budget = SaveBudget(Checkpointer(tmp_path / "run.pt", {"id": 1}, every_steps=1))
    assert budget.due(10)  # no save yet: the policy alone
    budget.save({"state": {"step": 10}, "x": torch.zeros(3)})
    assert (tmp_path / "run.pt").exists()
    budget.took = 30.0  # as if that save had taken 30 s
    assert not budget.due(20)
    budget.at -= 601.0  # 20 x 30 s later
    assert budget.due(20)
    assert not SaveBudget(None).due(20)
