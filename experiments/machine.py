"""The machine a measurement ran on: CPU model, core count and SIMD flags.

Every benchmark and every reproduction stage records this, read one way, because timings,
and even a run's numbers, differ between machines: the same seed and λ gave Fashion-MNIST
CNN validation accuracies 0.3–0.7 points apart on an AVX2 and an AVX-512 machine
(experiments/results/fashion-mnist-cnn/curve/discussion.md).
"""

from __future__ import annotations

import os
import platform
import subprocess

# Flags that change which kernels XLA, oneDNN and BLAS pick (x86 and Arm).
SIMD_PREFIXES = ("avx2", "avx512", "avx_vnni", "amx", "fma", "sve", "asimd")


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    fields = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in fields}


def _proc_cpuinfo() -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo (Linux), in lscpu's field names."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    fields["Model name"] = value.strip()
                elif key in ("flags", "Features"):  # x86, Arm
                    fields["Flags"] = value.strip()
    except OSError:
        pass
    return fields


def cpu() -> dict[str, str | int | None]:
    """``{"cpu_model", "cpus", "threads_per_core", "simd"}`` of this machine.

    ``simd`` is the space-separated subset of the CPU's flags in :data:`SIMD_PREFIXES`
    (empty when the OS does not say); ``cpus`` is the logical core count.
    """
    fields = _lscpu()
    if not fields.get("Flags") or not fields.get("Model name"):
        fields = {**_proc_cpuinfo(), **{k: v for k, v in fields.items() if v}}
    flags = fields.get("Flags", "").split()
    return {
        "cpu_model": fields.get("Model name") or platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "threads_per_core": fields.get("Thread(s) per core"),
        "simd": " ".join(f for f in flags if f.startswith(SIMD_PREFIXES)),
    }


def describe(info: dict | None = None) -> str:
    """One line for a benchmark's header: ``"<model>, <n> cores; SIMD flags: <flags>"``."""
    info = cpu() if info is None else info
    return (f"{info['cpu_model']}, {info['cpus']} cores; "
            f"SIMD flags: {info['simd'] or 'none reported'}")
