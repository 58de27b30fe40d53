"""Which network precision pays on this CPU: its vector extensions, and ``--precision auto``.

The EDNN tile network runs its convolutions in bfloat16 under Keras' ``mixed_bfloat16`` policy (float32
head, float32 tile sums, float64 sheet sums). That is 1.9x faster than float32 on a CPU with AVX512_BF16 or
AMX (measured: BENCHMARKS.md, "Streamed MPI inference"), and on one without them oneDNN emulates bfloat16
and gains nothing, so ``auto`` chooses bfloat16 only where the CPU has the instructions:

====================  ===========================================================
``float32``           always float32 (the default: bit-identical across rank counts)
``mixed_bfloat16``    bfloat16 convolutions wherever asked (slow without the instructions)
``auto``              ``mixed_bfloat16`` with AVX512_BF16 or AMX-BF16, else ``float32``
====================  ===========================================================

The energy moves by float32-vs-bfloat16 round-off only: at most 2 meV/atom on held-out and transfer
sheets, a tenth of the shipped model's own error (``bench/bench_sheet_precision.py``, tested).
"""
from __future__ import annotations

from pathlib import Path

PRECISIONS = ("float32", "mixed_bfloat16", "auto")

#: The vector extensions a benchmark records beside its numbers (Linux ``/proc/cpuinfo`` flag names).
EXTENSIONS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")

#: The flags that give bfloat16 matrix arithmetic in hardware.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (or the text ``cpuinfo``); empty where it cannot be read."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def vector_extensions(flags: set[str] | None = None) -> dict[str, bool]:
    """``{extension: present}`` for :data:`EXTENSIONS` (what every benchmark records)."""
    flags = cpu_flags() if flags is None else flags
    return {name: name in flags for name in EXTENSIONS}


def bfloat16_in_hardware(flags: set[str] | None = None) -> list[str]:
    """The :data:`BFLOAT16_FLAGS` the CPU has (empty: bfloat16 would be emulated)."""
    flags = cpu_flags() if flags is None else flags
    return [f for f in BFLOAT16_FLAGS if f in flags]


def resolve_precision(precision: str, flags: set[str] | None = None) -> tuple[str, str]:
    """``(policy, reason)``: the Keras dtype policy to run for ``precision`` (one of :data:`PRECISIONS`) and
    one line saying why (for logs and result files)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    have = bfloat16_in_hardware(flags)
    if precision == "auto":
        if have:
            return "mixed_bfloat16", f"auto: the CPU has {'/'.join(have)}, bfloat16 convolutions"
        return "float32", "auto: the CPU has no AVX512_BF16 or AMX-BF16, so float32 (bfloat16 would be emulated)"
    if precision == "mixed_bfloat16" and not have:
        return precision, ("mixed_bfloat16 as asked, but the CPU has no AVX512_BF16 or AMX-BF16: bfloat16 is "
                           "emulated and slower than float32 (use --precision auto or float32)")
    return precision, f"{precision} as asked"
