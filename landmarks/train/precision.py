"""Which arithmetic a recipe's `precision: auto` gets on a device.

bf16 autocast pays where the hardware multiplies bf16 natively: CUDA GPUs from Ampere on, and
x86 CPUs with AVX512-BF16 or AMX. oneDNN then runs bf16 matmuls at about twice the fp32 rate
with AVX512-BF16 alone and about three times with AMX: a CIFAR ResNet-20 step (with channels_last)
went from 392 to 185 ms on 2 cores of a CPU with AMX, and from 290 to 135 ms on 2 cores of an AMD
EPYC with AVX512-BF16 but no AMX. Elsewhere bf16 is emulated and slower than fp32, so "auto" means fp32
there. `ONEDNN_MAX_CPU_ISA` set below AVX512_CORE_BF16 (how one simulates an older CPU) counts as
no bf16. The resolved precision is recorded with every run.

The flag is not enough on a CPU: an Intel Xeon that reports AVX512-BF16 (no AMX) multiplied bf16 at
193 GFLOP/s against fp32's 369 on 2 cores, and ResNet-20's bf16 step took 0.97x the fp32 one's time.
So "auto" on a CPU also times one thread's matmul in both types, once per process, and picks bf16
only where it is at least BF16_MIN_GAIN times as fast; where it is not, autocast buys nothing and
departs from the papers' fp32 for nothing.
"""

from __future__ import annotations

import functools
import os
import time

import torch

from landmarks.train.distributed import SINGLE, World

BF16_MIN_GAIN = 1.25  # measured gains: 2.5x (AMD EPYC, AVX512-BF16), 0.5-1.0x (the Xeon above)

# oneDNN's ISA names in increasing order; bf16 instructions arrive with AVX512_CORE_BF16
_ISA_ORDER = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
              "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX",
              "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16", "ALL", "DEFAULT")


def _capped_below(isa: str) -> bool:
    """True when ONEDNN_MAX_CPU_ISA keeps oneDNN below `isa` (how one simulates an older CPU)."""
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    return limit in _ISA_ORDER and _ISA_ORDER.index(limit) < _ISA_ORDER.index(isa)


def cpu_has_bf16() -> bool:
    """True when this CPU (and the ISA oneDNN is allowed) multiplies bf16 in hardware."""
    if _capped_below("AVX512_CORE_BF16"):
        return False
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def cpu_bf16_unit() -> str:
    """The bf16 hardware oneDNN may use on this CPU: "AMX", "AVX512-BF16" or "none"."""
    if not cpu_has_bf16():
        return "none"
    return "AMX" if torch.cpu._is_amx_tile_supported() and not _capped_below("AVX10_1_512_AMX") else "AVX512-BF16"


@functools.lru_cache(maxsize=None)
def _measured_gain(isa_limit: str, n: int = 1024, rounds: int = 7) -> float:
    """bf16 over fp32 GFLOP/s of an n x n matmul on one thread, the best of `rounds` each: a
    property of a core, little moved by other work on the other cores. The two types take turns
    after a warm-up round (a fresh process's first calls, timed one type after the other, read
    2x apart). About 0.3 s, once per process and ISA limit (the cache's key)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pairs = {dtype: (torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype))
                 for dtype in (torch.float32, torch.bfloat16)}
        best = dict.fromkeys(pairs, float("inf"))
        for r in range(rounds + 1):
            for dtype, (a, b) in pairs.items():
                t0 = time.perf_counter()
                a @ b
                if r:  # round 0 warms up: oneDNN picks and caches its kernels
                    best[dtype] = min(best[dtype], time.perf_counter() - t0)
        return best[torch.float32] / best[torch.bfloat16]
    finally:
        torch.set_num_threads(threads)


def cpu_bf16_gain() -> float:
    """How many times faster this CPU multiplies bf16 than fp32 (0.0 without a bf16 unit)."""
    return _measured_gain(os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()) if cpu_has_bf16() else 0.0


def resolve_precision(precision: str, device: torch.device) -> str:
    """"fp32" or "bf16" for a recipe's precision on `device`; "auto" picks bf16 where it is native."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_bf16_gain() >= BF16_MIN_GAIN else "fp32"
    return "fp32"


def settle_precision(precision: str, device: torch.device, resumed: str | None = None,
                     world: World = SINGLE) -> str:
    """The arithmetic a run goes on in: a resumed run's own (where "auto" would resolve otherwise,
    on another machine, it keeps what it began in); else `precision` resolved here. `world`: the
    ranks that train this one run together, which take rank 0's choice: each times its own CPU for
    "auto", so near BF16_MIN_GAIN, or on nodes with unlike CPUs, they could differ, and the
    gradients averaged would come from two arithmetics."""
    choice = resumed or resolve_precision(precision, device)
    return world.from_rank0(choice)
