"""Which arithmetic a recipe's `precision: auto` gets on a device.

bf16 autocast pays where the hardware multiplies bf16 natively: CUDA GPUs from Ampere on, and
x86 CPUs with AVX512-BF16 or AMX. oneDNN then runs bf16 matmuls at about twice the fp32 rate
with AVX512-BF16 alone and about three times with AMX: a CIFAR ResNet-20 step (with channels_last)
went from 392 to 185 ms on 2 cores of a CPU with AMX, and from 290 to 135 ms on 2 cores of an AMD
EPYC with AVX512-BF16 but no AMX. Elsewhere bf16 is emulated and slower than fp32, so "auto" means fp32
there. `ONEDNN_MAX_CPU_ISA` set below AVX512_CORE_BF16 (how one simulates an older CPU) counts as
no bf16. The resolved precision is recorded with every run.
"""

from __future__ import annotations

import os

import torch

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


def resolve_precision(precision: str, device: torch.device) -> str:
    """"fp32" or "bf16" for a recipe's precision on `device`; "auto" picks bf16 where it is native."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"
