"""Deep reinforcement learning: DQN on Atari (Mnih et al. 2015). `frames`: the Nature
preprocessing of emulator screens; `replay`: the replay memory; `dqn`: the network, DeepMind's
RMSProp and the update; `atari`: the emulator as the agent sees it."""
