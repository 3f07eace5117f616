"""The crash matrix (``experiments/fault_matrix.py``, CI's subset): SIGKILL in a sweep and
in a resume, and a full disk (ENOSPC) in a sweep, at the first write of each kind, while the
chunks train and in the final writes (10 points each); every case then resumes, from another
working directory with a relative path, to result files byte-identical to an uninterrupted
sweep's. Each SIGKILL is a real ``corel-jax train`` subprocess; the ENOSPC faults, and then
the recoveries, run as separate commands in one process per test (they share a JAX
compilation cache). The long form, every point with both faults:
``python experiments/fault_matrix.py``.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import fault_matrix as fm  # noqa: E402


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    m = fm.Matrix(root)
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
    results = matrix.run_cases(cases)
    assert len(results) == len(cases) >= 8
    print("\n" + fm.table(results))
    failed = [f"{c.fault}@{c.point} ({c.phase}, {c.target}): {c.detail}"
              for c in results if not c.ok]
    assert not failed, "\n".join(failed)
    assert sum(c.files_lost for c in results) == 0
    assert sum(c.wrong_files for c in results) == 0


def test_sigkill_at_each_kind_of_write_of_a_sweep_then_resume_gives_identical_results(
        matrix):
    _run(matrix, [c for c in fm.quick_cases(matrix) if c[:2] == ("kill", "sweep")])


def test_sigkill_at_each_kind_of_write_of_a_resume_then_resume_again(matrix):
    _run(matrix, [c for c in fm.quick_cases(matrix) if c[:2] == ("kill", "resume")])


def test_enospc_at_each_kind_of_write_is_one_line_and_the_sweep_resumes(matrix):
    _run(matrix, [c for c in fm.quick_cases(matrix) if c[0] == "enospc"])


def _damage(path: Path) -> None:
    """Truncates a file, or every file of a folder (an orbax checkpoint), to half."""
    for p in [path] if path.is_file() else [q for q in path.rglob("*") if q.is_file()]:
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    """The matrix's sweep trained for 3 epochs (a chunk has checkpoints after epochs 1 and
    2), uninterrupted: its matrix, result files and write points."""
    args = [a if a != "2" or prev != "--epochs" else "3"
            for prev, a in zip(["", *fm.ARGS], fm.ARGS)]
    assert args[args.index("--epochs") + 1] == "3"
    m = fm.Matrix(tmp_path_factory.mktemp("three_epochs"), args=args)
    case = m._case_dir()
    log = case / "points.tsv"
    assert m.sweep(case, "count", log).returncode == 0
    return m, fm.result_files(case / "a" / "sweep"), fm._points(log)


def test_damaged_chunk_checkpoint_and_layout_fall_back_and_lose_nothing(three_epochs):
    """A sweep of 3 epochs killed once its second chunk has 2 checkpoints; then its finished
    chunk file, its newest checkpoint and layout.json are damaged. The resume retrains the
    chunk, restores the previous checkpoint, reads the layout's copy in the manifest, says
    so, and ends with the uninterrupted sweep's files; config.json records both processes."""
    m, reference, points = three_epochs
    second_chunk = next(i for i, p in enumerate(points, 1) if p.endswith("chunk_001.npz"))
    case = m._case_dir()
    assert m.sweep(case, f"kill@{second_chunk}").returncode == -9
    ckpt = case / "a" / "sweep" / "checkpoints"
    steps = sorted(int(p.name) for p in (ckpt / "state").iterdir() if p.name.isdigit())
    assert steps == [4, 5]  # chunk 2 (steps 4-6): after epochs 1 and 2
    _damage(ckpt / "chunks" / "chunk_000.npz")
    _damage(ckpt / "state" / "5")
    _damage(ckpt / "layout.json")
    r = m.resume(case)
    assert r.returncode == 0, r.stderr
    assert "chunk_000.npz is damaged" in r.stdout + r.stderr
    assert "checkpoint 5" in r.stdout + r.stderr and "trying the one before" in r.stdout
    assert "layout.json is damaged" in r.stdout
    assert "resumed" in r.stdout and "after epoch 1" in r.stdout
    assert fm.result_files(case / "a" / "sweep") == reference
    import json

    sessions = json.loads((case / "a" / "sweep" / "config.json").read_text())["sessions"]
    assert [s["resumed"] for s in sessions] == [False, True]
    assert all(s["corel_jax"] and s["environment"]["jax"] for s in sessions)


def test_sigterm_checkpoints_at_the_epoch_end_exits_75_and_resumes_identically(three_epochs):
    """Preemption: SIGTERM arrives while the first checkpoint is written (epoch 1 of chunk
    1, of 3 epochs); the sweep trains to the end of epoch 2, saves a checkpoint, prints one
    line and exits with status 75; ``--resume`` gives the uninterrupted sweep's files."""
    import json

    m, reference, points = three_epochs
    first_state = next(i for i, p in enumerate(points, 1) if fm.kind(p) == "state")
    case = m._case_dir()
    r = m.sweep(case, f"term@{first_state}")
    assert r.returncode == 75, r.stderr
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "preempted: stopped by SIGTERM after epoch 2 of chunk 1/2; checkpoint saved" in \
        lines[0] and "--resume sweep" in lines[0]
    state = case / "a" / "sweep" / "checkpoints" / "state"
    assert sorted(int(p.name) for p in state.iterdir() if p.name.isdigit()) == [1, 2]
    r = m.resume(case)
    assert r.returncode == 0, r.stderr
    assert "after epoch 2" in r.stdout
    assert fm.result_files(case / "a" / "sweep") == reference
    sessions = json.loads((case / "a" / "sweep" / "config.json").read_text())["sessions"]
    assert len(sessions) == 2
