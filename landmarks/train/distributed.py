"""Several processes on one run, started by torchrun: who they are, and what they must agree on.

    torchrun --nproc-per-node 2 -m landmarks train digits-linear-mlp-cnn
    landmarks train digits-linear-mlp-cnn --nproc-per-node 2      # the same, torchrun started for you

torchrun (torch.distributed.elastic) sets RANK, WORLD_SIZE and LOCAL_RANK in each process; `World`
reads them. A recipe's `parallel: data` then trains one run with DistributedDataParallel: every
rank draws the same data order from the same seed, takes its contiguous share of each global
batch, and the gradients are averaged so that a step is the step one process takes on the whole
batch (losses are weighted by each share's size, so a last batch that does not split evenly
counts each example once). NCCL on GPUs, gloo on CPUs. BatchNorm normalises each rank's share by
default, as He et al. 2016 did (two GPUs, 64 images each); `sync_bn: true` normalises over the
global batch (`CrossRankBatchNorm` on CPUs, where torch's SyncBatchNorm does not run;
`nn.SyncBatchNorm` on GPUs).

Only rank 0 writes files, checkpoints and MLflow records; all ranks read the same checkpoint to
resume. Whether to checkpoint or stop is agreed at every step (a signal may reach one rank first;
a checkpoint may fall due by the clock on one rank only).
"""

from __future__ import annotations

import datetime
import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def writer(self) -> bool:
        """The one process that writes files, checkpoints and tracking records."""
        return self.rank == 0

    def span(self, n: int) -> tuple[int, int]:
        """This rank's contiguous share [start, end) of n items: the first n % size ranks get one more."""
        q, r = divmod(n, self.size)
        start = self.rank * q + min(self.rank, r)
        return start, start + q + (self.rank < r)

    def batches(self, n: int, batch_size: int, drop_last: bool) -> int:
        """Global batches in an epoch of n examples. A last batch smaller than the number of ranks
        would leave a rank an empty share (no BatchNorm statistics, a NaN mean loss): under several
        processes such a tail of a few examples is skipped."""
        full, tail = divmod(n, batch_size)
        return full + bool(tail and not drop_last and tail >= self.size)

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a global batch (shares differ by at most one example)."""
        start, end = self.span(len(idx))
        return idx[start:end]

    def sum_(self, *tensors: torch.Tensor) -> None:
        """Sum each tensor over the ranks, in place."""
        if self.active:
            for t in tensors:
                dist.all_reduce(t)

    def broadcast_(self, *tensors: torch.Tensor) -> None:
        """Each tensor replaced, in place, by rank 0's."""
        if self.active:
            for t in tensors:
                dist.broadcast(t, 0)

    def from_rank0(self, obj: object) -> object:
        """Rank 0's `obj` (picklable) on every rank."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, 0)
        return box[0]

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag, true on every rank when it is true on any."""
        if not self.active:
            return flags
        t = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=_comm_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return tuple(bool(v) for v in t.tolist())

    def gather(self, obj: object) -> list:
        """Every rank's `obj` (picklable), in rank order, on every rank."""
        if not self.active:
            return [obj]
        parts: list = [None] * self.size
        dist.all_gather_object(parts, obj)
        return parts

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


SINGLE = World()


def world_from_env() -> World:
    """The process's place in a torchrun job (one process: rank 0 of 1)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    return World(rank=int(os.environ["RANK"]), size=size, local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def init_process_group(world: World, device: torch.device) -> torch.device:
    """Join the job's process group (NCCL for CUDA, gloo otherwise); the device this rank uses."""
    if not world.active:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        timeout = datetime.timedelta(minutes=30)
        if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and "MASTER_PORT" in os.environ:
            # torchrun's agent keeps one store across restarts: without a prefix per attempt, the
            # processes of a restart (--max-restarts) read the addresses of the ones that died and
            # cannot connect (seen with gloo on torch 2.14)
            store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world.size,
                                  is_master=False, timeout=timeout)
            attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
            dist.init_process_group(backend, store=dist.PrefixStore(f"landmarks/attempt-{attempt}", store),
                                    rank=world.rank, world_size=world.size, timeout=timeout)
        else:
            dist.init_process_group(backend, timeout=timeout)
    return device


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _differentiable_sum(t: torch.Tensor) -> torch.Tensor:
    """`t` summed over the ranks; the backward pass sums the gradients over them the same way."""
    with warnings.catch_warnings():  # marked deprecated; its successor is not differentiable yet
        warnings.simplefilter("ignore", FutureWarning)
        import torch.distributed.nn.functional as dist_nn

        return dist_nn.all_reduce(t)


class CrossRankBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose training statistics are those of the global batch: each rank's sums are
    added over the ranks with a differentiable all-reduce, so the gradients are those of one
    process normalising the whole batch. Any input rank (N, C, ...); used where torch's
    SyncBatchNorm does not run (CPUs)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        n_local = x.numel() // c
        xf = x.float()
        stats = torch.cat([xf.sum(dims), (xf * xf).sum(dims), xf.new_full((1,), float(n_local))])
        stats = _differentiable_sum(stats)
        n = stats[2 * c]
        mean, var = stats[:c] / n, (stats[c:2 * c] / n - (stats[:c] / n) ** 2).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)  # unbiased, as torch
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` with every BatchNorm normalising over the global batch."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert(model, device)


def _convert(module: nn.Module, device: torch.device) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossRankBatchNorm):
        new = CrossRankBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats, device=device)
        new.load_state_dict(module.state_dict())
        return new.train(module.training)
    for name, child in module.named_children():
        module.add_module(name, _convert(child, device))
    return module
