"""A training recipe: everything about how one run trains, as the catalog writes it.

It lives with the training code that reads it and imports nothing of it (no torch), so the
catalog can check a recipe without loading the training stack. Each field is recorded with every
run, in `metrics.json` and MLflow, like the learning rate.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from landmarks.schema import Strict
from landmarks.train.image_recipe import ImageRecipe


class Schedule(Strict):
    # "exponential": the rate times gamma after every epoch (or step), as in Hinton et al. 2012;
    # "piecewise": the rate times factors[k] from milestones[k-1] on (LeCun et al. 1998's global
    # rates 0.0005, 0.0002, 0.0001, 0.00005, 0.00001 are lr 0.0005 with factors 1, 0.4, 0.2,
    # 0.1, 0.02 at milestones 2, 5, 8, 12: `LECUN1998_SCHEDULE`)
    kind: Literal["constant", "step", "multistep", "cosine", "exponential", "piecewise"] = "constant"
    # milestones and step_size count epochs, or optimizer steps when unit is "step"
    # (He et al. 2016 divide the rate at 32k and 48k iterations, not at epochs)
    unit: Literal["epoch", "step"] = "epoch"
    milestones: tuple[Annotated[int, Field(ge=0)], ...] = ()
    step_size: int = Field(0, ge=0)
    gamma: float = Field(0.1, gt=0.0)
    # a lower rate for the first steps (ResNet-110: 0.01 for about 400 iterations), as a factor
    warmup_steps: int = Field(0, ge=0)
    warmup_factor: float = Field(1.0, gt=0.0)
    factors: tuple[Annotated[float, Field(gt=0.0)], ...] = ()  # "piecewise": one per segment

    @model_validator(mode="after")
    def _segments(self) -> "Schedule":
        if (self.kind == "piecewise") != bool(self.factors):
            raise ValueError("factors go with kind: piecewise, and a piecewise schedule needs them")
        if self.factors and len(self.factors) != len(self.milestones) + 1:
            raise ValueError(f"a piecewise schedule has one factor more than milestones: {len(self.milestones)} "
                             f"milestones, {len(self.factors)} factors")
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError(f"milestones must increase, got {list(self.milestones)}")
        return self


# LeCun et al. 1998, Section III-B: "0.0005 for the first two passes, 0.0002 for the next three,
# 0.0001 for the next three, 0.00005 for the next 4, and 0.00001 thereafter" (with lr: 0.0005)
LECUN1998_SCHEDULE = Schedule(kind="piecewise", milestones=(2, 5, 8, 12), factors=(1.0, 0.4, 0.2, 0.1, 0.02))


class ParamRule(Strict):
    """Settings for the parameters whose name matches `match`, a regular expression searched in
    names such as "features.0.weight" or "fc.bias" (cuda-convnet sets a rate and a weight cost
    per layer and per weights/biases). The first rule that matches a parameter applies."""

    match: str
    lr_scale: float = Field(1.0, ge=0.0)  # times the recipe's rate (and its schedule)
    weight_decay: float | None = Field(None, ge=0.0)  # None: the recipe's

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"{v!r} is not a regular expression: {exc}") from None
        return v


class LrSearch(Strict):
    """Choose the learning rate on a validation split before the runs (AlexNet Fig. 1: each net's
    rate "to make training as fast as possible"): each rate of `grid` trains a fresh model for
    `epochs` epochs of the recipe from seed `seed`; the lowest validation error then wins. The test
    set plays no part."""

    grid: tuple[Annotated[float, Field(gt=0.0)], ...] = Field(min_length=2)
    epochs: int = Field(1, ge=1)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)  # held out for the search only
    seed: int = Field(0, ge=0)


class Sdlm(Strict):
    """Stochastic diagonal Levenberg-Marquardt (LeCun et al. 1998, Appendix C; `train/sdlm.py`):
    each parameter steps by lr / (mu + h_kk) times its gradient, h_kk the Gauss-Newton estimate
    of its second derivative, re-estimated before each pass on `curvature_samples` training
    images and kept fixed during the pass."""

    mu: float = Field(0.02, gt=0.0)  # Section III-B: "The parameter mu was set to 0.02"
    curvature_samples: int = Field(500, ge=1)  # Section III-B / Appendix C: 500 patterns


class Dqn(Strict):
    """DQN's settings (Mnih et al. 2015, Extended Data Table 1), in agent steps (an action repeated
    over 4 emulator frames): the table's "frames" for the replay memory, the exploration schedule
    and the replay start are counted in the agent's steps in DeepMind's code (replay_memory,
    ep_endt, learn_start), and its 50 million training "frames" are 50 million steps (the paper's
    "38 days of game experience" at 60 frames a second is 200 million emulator frames)."""

    steps: int = Field(50_000_000, ge=1)  # training budget (Methods: "a total of 50 million frames")
    batch: int = Field(32, ge=1)  # minibatch size
    memory: int = Field(1_000_000, ge=8)  # replay memory size
    history: int = Field(4, ge=1)  # agent history length
    target_every: int = Field(10_000, ge=1)  # target network update frequency (in updates)
    gamma: float = Field(0.99, ge=0.0, le=1.0)  # discount factor
    update_every: int = Field(4, ge=1)  # update frequency (actions between updates)
    lr: float = Field(0.00025, gt=0.0)  # learning rate (RMSProp)
    alpha: float = Field(0.95, ge=0.0, lt=1.0)  # gradient momentum and squared gradient momentum
    eps_rms: float = Field(0.01, gt=0.0)  # min squared gradient
    epsilon_start: float = Field(1.0, ge=0.0, le=1.0)  # initial exploration
    epsilon_end: float = Field(0.1, ge=0.0, le=1.0)  # final exploration
    epsilon_steps: int = Field(1_000_000, ge=1)  # final exploration frame
    learn_start: int = Field(50_000, ge=0)  # replay start size
    reward_clip: float = Field(1.0, gt=0.0)  # rewards clipped to [-1, 1] (Methods, "Training details")
    # evaluation (Methods, "Evaluation procedure"): epsilon 0.05, 30 games of up to 5 minutes
    # (18,000 frames, 4,500 steps) from random no-op starts; `eval_every` steps a shorter one
    # (`curve_games` games) draws the learning curve
    eval_epsilon: float = Field(0.05, ge=0.0, le=1.0)
    eval_games: int = Field(30, ge=1)
    eval_max_steps: int = Field(4_500, ge=1)
    eval_every: int = Field(250_000, ge=1)
    curve_games: int = Field(10, ge=1)

    def epsilon(self, step: int) -> float:
        """Exploration at agent step `step`: linear from epsilon_start to epsilon_end, then flat."""
        done = min(1.0, step / self.epsilon_steps)
        return self.epsilon_start + done * (self.epsilon_end - self.epsilon_start)


# fields that change how a run is executed, not what it computes (the arithmetic in another order,
# as another thread count gives): a checkpoint or a finished run is taken whatever they are, so a
# long run may switch them between sittings
EXECUTION_ONLY = frozenset({"compile", "eval_every_epochs"})


class Recipe(Strict):
    # "sdlm": stochastic diagonal Levenberg-Marquardt with the settings of `sdlm`; `lr` is then
    # the paper's global rate eta
    optimizer: Literal["sgd", "perceptron", "sdlm"] = "sgd"
    sdlm: Sdlm = Field(default_factory=Sdlm)
    dqn: Dqn = Field(default_factory=Dqn)  # task dqn (Atari) only
    lr: float = Field(0.1, gt=0.0)
    # when set, `lr` is replaced by the rate this search chooses (recorded with each run)
    lr_search: LrSearch | None = None
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    # momentum rising linearly from `momentum_start` to `momentum` over the first epochs
    # (Srivastava et al. 2014 speak of a "final momentum"); None: `momentum` from the start
    momentum_start: float | None = Field(None, ge=0.0, lt=1.0)
    momentum_ramp_epochs: int = Field(0, ge=0)
    # true: the gradient enters the velocity scaled by (1 - momentum), the form of Hinton et al.
    # 2012 and Srivastava et al. 2014, so `lr` is the long-run step size; false: PyTorch's SGD
    dampened: bool = False
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    # per-parameter rates and weight decay, by name (see ParamRule); the rest use lr and weight_decay
    param_rules: tuple[ParamRule, ...] = ()
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(10, ge=1)
    # stop after this many optimizer steps, mid-epoch if need be (He et al. 2016 stop at 64k
    # iterations); 0: run all epochs
    max_steps: int = Field(0, ge=0)
    # > 0: a point of the curves every so many steps besides each epoch's end: the test error then
    # and the training error of the epoch's steps so far (He et al.'s Figure 6 plots errors against
    # iterations; a few hundred steps make a single epoch). It changes no training step
    eval_every_steps: int = Field(0, ge=0)
    # the validation and test errors every so many epochs, and always after the last: the curves'
    # epoch points, never a training step. A ResNet-20 epoch on one Xeon thread spends 28 of its
    # 172 s evaluating 15,000 images, about 1.4 h of a 64k-iteration seed. Execution only
    eval_every_epochs: int = Field(1, ge=1)
    drop_last: bool = False  # skip the last, smaller batch of each epoch (fixed shapes for CUDA graphs)
    # the criteria of `landmarks/train/losses.py`: "mse_pm1" (squashed outputs, targets +-1),
    # "rbf_mse" and "rbf_map" (LeCun et al. 1998's criteria for RBF outputs)
    loss: Literal["cross_entropy", "mse", "mse_pm1", "rbf_mse", "rbf_map"] = "cross_entropy"
    rbf_j: float = Field(0.1, gt=0.0)  # j of "rbf_map"; unstated in the paper (losses.py says why 0.1)
    schedule: Schedule = Field(default_factory=Schedule)
    # share of the training set held out for validation (fixed split, same for every seed)
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    # which images are held out: a fixed random share, or the last ones of the training file
    val_split: Literal["random", "last"] = "random"
    # "last": report the final model (the papers' practice); "best_val": the epoch with the
    # lowest validation error. The test set is never used to choose.
    select: Literal["last", "best_val"] = "last"
    # stop after this many epochs without a better validation error; 0 turns it off
    early_stopping_patience: int = Field(0, ge=0)
    # inputs are scaled to [0, 1]; "standard" then subtracts the training mean and divides by the
    # std, one each per channel; "pixel_mean" subtracts the mean training image (cuda-convnet);
    # "lecun" maps background (0) to -0.1 and full ink to 1.175 (LeCun et al. 1998, Section II-B)
    normalize: Literal["unit", "standard", "pixel_mean", "lecun"] = "unit"
    # max-norm constraint on each unit's incoming weights (Srivastava et al. 2014); 0 = off
    max_norm: float = Field(0.0, ge=0.0)
    # on-device augmentation of each training batch, in order: crop, flip, affine
    augment: tuple[Literal["crop", "flip", "affine"], ...] = ()
    crop_pad: int = Field(4, ge=0)  # pixels of zero padding before the random crop
    # the arithmetic of the forward pass and loss: "bf16" runs them under bf16 autocast (weights and
    # optimizer stay fp32; on CPUs with AVX512-BF16 or AMX it about halves an MLP's epoch); "auto"
    # is bf16 where the device multiplies bf16 natively (CUDA from Ampere on, CPUs with
    # AVX512-BF16 or AMX) and fp32 elsewhere (landmarks/train/precision.py)
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    # NHWC activations for conv nets; on the 2-core reference CPU it made no measurable difference
    # to LeNet-5's epoch (about 5 s either way) but takes a CIFAR cnn4 step from 67 to 38 ms
    channels_last: bool = False
    # the step's forward and backward through torch.compile (landmarks/train/compile.py): on a CPU
    # it fuses batch norm, ReLU and residual adds, though on the 2-core reference CPU none of the
    # bench's nets got faster (ResNet-20 134.6 ms eager, 144.2 compiled; on a 2-core Xeon in fp32 at
    # Table 6's paper recipe 231 ms either way, 424 and 412 ms one thread each), after a first step that
    # compiles for about half a minute; not with the CUDA fast path, which replays a graph. With
    # optimizer sdlm the whole per-sample step is compiled (train/steps/compiled_sdlm.py), which
    # takes LeNet-5 of 1998 from 4.6 to 1.6 ms. Execution only (EXECUTION_ONLY)
    compile: bool = False
    # the CUDA fast path (device-resident uint8 data, bf16, channels_last, whole-step CUDA
    # graphs); used only on CUDA devices, the eager path is the reference everywhere else
    fast: bool = False
    # under torchrun with several processes: "data" trains each run on all of them (one global
    # batch split across the ranks, DistributedDataParallel; for ImageNet-size runs); "runs"
    # gives each process whole runs of its own (small models gain nothing from splitting a batch)
    parallel: Literal["runs", "data"] = "runs"
    # with parallel: data, BatchNorm over the global batch instead of each rank's share (He et al.
    # 2016 normalised per GPU, 64 images each)
    sync_bn: bool = False
    # epochs_to_threshold: the first epoch whose training error (%) is at most this
    threshold: float = Field(0.0, ge=0.0, le=100.0)
    # end the run at that epoch (nothing after it changes epochs_to_threshold)
    stop_at_threshold: bool = False
    # images decoded per batch (ImageNet): crops, augmentation, evaluation crops, loader
    # (the task classify-images; None there means ImageRecipe's defaults)
    images: ImageRecipe | None = None

    @model_validator(mode="after")
    def _evaluated_epochs(self) -> "Recipe":
        if self.eval_every_epochs > 1 and (self.select == "best_val" or self.early_stopping_patience):
            raise ValueError(f"eval_every_epochs: {self.eval_every_epochs} leaves epochs without a validation error, "
                             "which select: best_val and early_stopping_patience read after every epoch: "
                             "set eval_every_epochs: 1, or select: last and early_stopping_patience: 0")
        return self

    @model_validator(mode="after")
    def _momentum_ramp(self) -> "Recipe":
        if (self.momentum_start is None) != (self.momentum_ramp_epochs == 0):
            raise ValueError("momentum_start and momentum_ramp_epochs go together: set both or neither")
        if self.dampened and self.nesterov:
            raise ValueError("dampened momentum and nesterov do not go together (PyTorch's SGD refuses it)")
        return self

    def param_settings(self, name: str) -> tuple[float, float]:
        """(lr scale, weight decay) of the parameter called `name`."""
        for rule in self.param_rules:
            if re.search(rule.match, name):
                wd = self.weight_decay if rule.weight_decay is None else rule.weight_decay
                return rule.lr_scale, wd
        return 1.0, self.weight_decay

    def momentum_at(self, epoch: float) -> float:
        """The momentum at a (fractional) epoch of the run."""
        if self.momentum_start is None or epoch >= self.momentum_ramp_epochs:
            return self.momentum
        return self.momentum_start + (self.momentum - self.momentum_start) * epoch / self.momentum_ramp_epochs
