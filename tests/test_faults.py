"""The crash matrix (``experiments/fault_matrix.py``, CI's subset): SIGKILL at every file
write of a sweep, SIGKILL at each kind of write of a resume, and a full disk (ENOSPC) at each
kind of write of a sweep; every case then resumes, from another working directory with a
relative path, to result files byte-identical to an uninterrupted sweep's. Each case is a
real ``corel-jax train`` subprocess (they share a JAX compilation cache). The long form,
every point with both faults: ``python experiments/fault_matrix.py``.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import fault_matrix as fm  # noqa: E402


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    m = fm.Matrix(root, {"JAX_COMPILATION_CACHE_DIR": str(root / "jax-cache")})
    m.prepare()
    return m


def test_the_write_points_cover_every_kind_of_write(matrix):
    kinds = [fm.kind(p) for p in matrix.sweep_points]
    # 2 chunks of 1 run, 2 epochs, a checkpoint after epoch 1 of each chunk
    assert kinds[:3] == ["config", "manifest", "layout"]
    assert kinds.count("state") == 2 and kinds.count("chunk") == 2
    assert kinds.count("result") == 12 and kinds[-2:] == ["manifest", "remove-checkpoints"]
    resume_kinds = [fm.kind(p) for p in matrix.resume_points]
    assert resume_kinds.count("chunk") == 1  # the first chunk was finished before the kill


def _run(matrix, cases):
    results = [matrix.run_case(*c) for c in cases]
    print("\n" + fm.table(results))
    failed = [f"{c.fault}@{c.point} ({c.phase}, {c.target}): {c.detail}"
              for c in results if not c.ok]
    assert not failed, "\n".join(failed)
    assert sum(c.files_lost for c in results) == 0
    assert sum(c.wrong_files for c in results) == 0


def test_sigkill_at_every_write_of_a_sweep_then_resume_gives_identical_results(matrix):
    _run(matrix, [c for c in fm.quick_cases(matrix) if c[:2] == ("kill", "sweep")])


def test_sigkill_at_each_kind_of_write_of_a_resume_then_resume_again(matrix):
    _run(matrix, [c for c in fm.quick_cases(matrix) if c[:2] == ("kill", "resume")])


def test_enospc_at_each_kind_of_write_is_one_line_and_the_sweep_resumes(matrix):
    _run(matrix, [c for c in fm.quick_cases(matrix) if c[0] == "enospc"])
