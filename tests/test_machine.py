"""experiments/machine.py: the one reading of the CPU that benchmarks and stage records share,
and the report's line naming every machine a setting's stages ran on."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import machine  # noqa: E402
import report_repro  # noqa: E402


def test_simd_flags_are_the_kernel_relevant_subset(monkeypatch):
    monkeypatch.setattr(machine, "_lscpu", lambda: {})
    monkeypatch.setattr(machine, "_proc_cpuinfo", lambda: {
        "Model name": "Test CPU", "Flags": "fpu sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile"})
    info = machine.cpu()
    assert info["cpu_model"] == "Test CPU"
    assert info["simd"] == "avx2 fma avx512f avx512_bf16 amx_tile"
    assert machine.describe(info).startswith("Test CPU, ")
    assert machine.describe(info).endswith("SIMD flags: avx2 fma avx512f avx512_bf16 amx_tile")


def test_lscpu_fields_win_and_missing_ones_fall_back(monkeypatch):
    monkeypatch.setattr(machine, "_lscpu", lambda: {"Model name": "From lscpu", "Flags": "",
                                                    "Thread(s) per core": "2"})
    monkeypatch.setattr(machine, "_proc_cpuinfo", lambda: {"Model name": "From proc",
                                                           "Flags": "asimd sve"})
    info = machine.cpu()
    assert (info["cpu_model"], info["simd"], info["threads_per_core"]) == (
        "From lscpu", "asimd sve", "2")
    monkeypatch.setattr(machine, "_proc_cpuinfo", lambda: {})
    assert "none reported" in machine.describe(machine.cpu())


def _stage(name, hw):
    return report_repro.Stage(name, Path("."), {"hardware": hw} if hw else {}, {}, [])


def test_report_names_every_machine_with_its_stages():
    a = {"cpu_model": "Xeon", "simd": "avx2 avx512f", "cpus": 2, "memory_gib": 23.5,
         "jax": "0.10.2", "backend": "cpu"}
    b = {**a, "cpu_model": "EPYC", "simd": "avx2"}
    one = report_repro.hardware_line({"sweep-cce": _stage("sweep-cce", a)})
    assert one == ("- Hardware (as recorded by the stages): Xeon (avx2 avx512f), 2 CPU(s), "
                   "23.5 GiB RAM; JAX 0.10.2 (cpu).")
    two = report_repro.hardware_line({
        "sweep-cce": _stage("sweep-cce", a),
        "sweep-cosine/part-1of2": _stage("sweep-cosine/part-1of2", a),
        "sweep-cosine/part-2of2": _stage("sweep-cosine/part-2of2", b),
        "sweep-cosine": _stage("sweep-cosine", None),  # a merged record carries no hardware
    })
    assert "differed between them" in two
    assert "Xeon (avx2 avx512f), 2 CPU(s), 23.5 GiB RAM; JAX 0.10.2 (cpu): sweep-cce, " \
           "sweep-cosine; EPYC (avx2)" in two
    assert two.endswith(": sweep-cosine.")
    assert report_repro.hardware_line({}) == "- Hardware: not recorded by the stages."
