"""Crash tests of a sweep's run directory, in the spirit of SQLite's: kill the process
(SIGKILL) or fail the disk (ENOSPC) at every file write of a sweep and of a resume, then
resume and compare every result file, byte for byte, with an uninterrupted sweep's.

    python experiments/fault_matrix.py            # every point, both faults (~10 min, 2 cores)
    python experiments/fault_matrix.py --quick    # what CI runs (tests/test_faults.py)

The sweep: scikit-learn's digits, a 16-wide FFNN, Gaussian-COREL, 2 seeds in 2 chunks of 1
run (``--max-chunk-size 1``), 2 epochs, a checkpoint after every epoch. Every SIGKILL is
a real ``corel-jax train`` subprocess (the signal ends it); the ENOSPC faults and the
recoveries after every fault are ``corel-jax`` commands run one after another in one process
(``Matrix.run_cases``), each from a working directory of its own with its own output. Every
sweep starts from its case's folder with a *relative* ``--out``; every resume runs from the
parent folder with another relative path (``--resume a/sweep``). The write points are
counted by :mod:`corel_jax._faults` (``COREL_JAX_FAULT=count``) in an uninterrupted sweep,
and in a resume of an interrupted one.

Faults:

- ``kill@i`` of the sweep: SIGKILL at write ``i`` (its bytes in a temporary file, not yet in
  place); then a clean ``--resume`` (or, killed before the sweep's first file was in place,
  where there is nothing to resume, the same command again: the folder counts as empty).
- ``kill@j`` of a resume: the sweep killed after its first chunk is stored, resumed with
  SIGKILL at the resume's write ``j``; then a clean ``--resume``.
- ``enospc@i`` of the sweep: ``OSError(ENOSPC)`` at write ``i``: the sweep must end with a
  one-line error and exit status 2; then a clean ``--resume``.

Each case checks: the faulty process ended as it should (SIGKILL, or exit 2 with one line on
stderr and no traceback), the resume exited 0, no temporary file is left, the directory is
complete, and every result file equals the uninterrupted sweep's (``config.json`` without its
timings, environment and session records; not the lock file, which holds the writer's pid).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ARGS = ["train", "--dataset", "digits", "--model", "mlp", "--width", "16", "--loss", "gaussian",
        "--seeds", "2", "--lams", "0.5", "--epochs", "2", "--batch-size", "128",
        "--checkpoint-every", "1", "--max-chunk-size", "1", "--quiet"]
TIMEOUT = 300
#: config.json keys that differ between two identical sweeps (clock, process, machine)
VOLATILE = ("timings", "environment", "sessions")


@dataclass
class Case:
    fault: str  # "kill" or "enospc"
    phase: str  # "sweep" or "resume"
    point: int  # 1-based write point
    target: str  # the file written at that point
    ok: bool = False
    files_lost: int = 0
    wrong_files: int = 0
    detail: str = ""


class Matrix:
    """Runs the cases in ``root`` (a scratch folder); ``env``: extra environment (a shared
    JAX compilation cache makes each subprocess start in seconds)."""

    def __init__(self, root: Path, env: dict[str, str] | None = None,
                 args: list[str] | None = None):
        self.root = Path(root)
        self.args = list(args or ARGS)
        self.env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
        for k in ("COREL_JAX_FAULT", "COREL_JAX_FAULT_LOG"):
            self.env.pop(k, None)
        self.reference: dict[str, bytes] = {}
        self.sweep_points: list[str] = []
        self.resume_points: list[str] = []
        self._n = 0

    # -- processes --------------------------------------------------------------------------

    def _run(self, argv, cwd: Path, fault: str | None = None, log: Path | None = None):
        env = dict(self.env)
        if fault:
            env["COREL_JAX_FAULT"] = fault
        if log:
            env["COREL_JAX_FAULT_LOG"] = str(log)
        return subprocess.run([sys.executable, "-m", "corel_jax.cli", *argv], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)

    def _case_dir(self) -> Path:
        self._n += 1
        d = self.root / f"case{self._n:03d}"
        (d / "a").mkdir(parents=True)
        return d

    def sweep(self, case: Path, fault: str | None = None, log: Path | None = None):
        return self._run([*self.args, "--out", "sweep"], case / "a", fault, log)

    def resume(self, case: Path, fault: str | None = None, log: Path | None = None):
        return self._run(["train", "--resume", "a/sweep", "--quiet"], case, fault, log)

    # -- the uninterrupted sweep and the write points ------------------------------------------

    def prepare(self) -> None:
        """The reference sweep (counting its write points) and the points of a resume of a
        sweep killed once its first chunk was stored."""
        case = self._case_dir()
        log = case / "points.tsv"
        r = self.sweep(case, "count", log)
        if r.returncode != 0:
            raise RuntimeError(f"the reference sweep failed:\n{r.stderr}")
        self.reference = result_files(case / "a" / "sweep")
        self.sweep_points = _points(log)
        first_chunk = next(i for i, p in enumerate(self.sweep_points, 1)
                           if p.endswith("chunk_000.npz"))
        self._interrupted = self._case_dir()
        r = self.sweep(self._interrupted, f"kill@{first_chunk + 1}")
        if r.returncode != -9:
            raise RuntimeError(f"the sweep to resume was not killed: {r.returncode}\n{r.stderr}")
        probe = self._copy_interrupted()
        log = probe / "points.tsv"
        r = self.resume(probe, "count", log)
        if r.returncode != 0:
            raise RuntimeError(f"the resume of the interrupted sweep failed:\n{r.stderr}")
        self._check_same(probe, Case("none", "resume", 0, ""))
        self.resume_points = _points(log)

    def _copy_interrupted(self) -> Path:
        case = self._case_dir()
        shutil.rmtree(case / "a")
        shutil.copytree(self._interrupted / "a", case / "a", symlinks=True)
        return case

    # -- one case ---------------------------------------------------------------------------

    def run_case(self, fault: str, phase: str, point: int) -> Case:
        """One case: the fault, then the user's recovery, then the comparison."""
        return self.run_cases([(fault, phase, point)])[0]

    def run_cases(self, specs: list[tuple[str, str, int]]) -> list[Case]:
        """The cases ``(fault, phase, point)``, in order. Each SIGKILL is a process of its
        own (it ends the process); the ENOSPC faults, then all the recoveries, run one after
        another in one ``corel-jax`` process each (:func:`_run_batch`): every command of a
        batch is ``corel_jax.cli.main`` from its own working directory, with its own stdout
        and stderr, as a user's separate commands would be, without paying Python's and
        JAX's start-up once per command (it was most of the matrix's time)."""
        cases, faulted, enospc = [], [], []
        for fault, phase, point in specs:
            points = self.sweep_points if phase == "sweep" else self.resume_points
            c = Case(fault, phase, point, _short(points[point - 1]))
            cases.append(c)
            case = self._case_dir() if phase == "sweep" else self._copy_interrupted()
            spec = f"{fault}@{point}"
            if fault == "kill":
                r = self.sweep(case, spec) if phase == "sweep" else self.resume(case, spec)
                if r.returncode != -9:
                    c.detail = f"expected SIGKILL, got exit {r.returncode}: {r.stderr[-300:]}"
                    continue
            else:
                enospc.append((c, self._job(case, phase, spec)))
            faulted.append((c, case))
        for (c, _), r in zip(enospc, self._batch([job for _, job in enospc])):
            lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
            if r.returncode != 2 or "Traceback" in r.stderr or len(lines) != 1 \
                    or "No space left on device" not in r.stderr:
                c.detail = f"expected a one-line ENOSPC error, exit 2; got exit " \
                           f"{r.returncode}: {r.stderr[-400:]}"
        faulted = [(c, case) for c, case in faulted if not c.detail]
        recoveries = self._batch([self._recovery(case) for _, case in faulted])
        for (c, case), r in zip(faulted, recoveries):
            if r.returncode != 0:
                c.detail = f"resume failed (exit {r.returncode}): {r.stderr[-400:]}"
            else:
                self._check_same(case, c)
        return cases

    def _job(self, case: Path, phase: str, fault: str | None = None) -> dict:
        if phase == "sweep":
            return {"cwd": str(case / "a"), "argv": [*self.args, "--out", "sweep"],
                    "fault": fault}
        return {"cwd": str(case), "argv": ["train", "--resume", "a/sweep", "--quiet"],
                "fault": fault}

    def _recovery(self, case: Path) -> dict:
        """What a user does after the fault, as a batch job: ``--resume`` the run directory;
        or, when the sweep died before its first file was in place (nothing to resume: the
        folder holds at most the lock and a temporary file), the same command again."""
        from corel_jax import rundir

        return self._job(case, "resume" if rundir.is_run_dir(case / "a" / "sweep") else "sweep")

    def _batch(self, jobs: list[dict]) -> list[subprocess.CompletedProcess]:
        """Runs ``jobs`` in one process (:func:`_run_batch`); one result per job."""
        if not jobs:
            return []
        self._n += 1
        path = self.root / f"batch{self._n:03d}.json"
        path.write_text(json.dumps(jobs))
        proc = subprocess.run([sys.executable, __file__, "--run-batch", str(path)],
                              env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT * len(jobs))
        if proc.returncode != 0:
            raise RuntimeError(f"the batch of {len(jobs)} commands failed:\n{proc.stderr}")
        results = json.loads(path.with_suffix(".out.json").read_text())
        return [subprocess.CompletedProcess(job["argv"], r["returncode"], r["stdout"],
                                            r["stderr"]) for job, r in zip(jobs, results)]

    def _check_same(self, case: Path, c: Case) -> Case:
        d = case / "a" / "sweep"
        got = result_files(d)
        c.files_lost = sum(1 for k in self.reference if k not in got)
        c.wrong_files = sum(1 for k in self.reference if k in got and got[k] != self.reference[k])
        extra = sorted(set(got) - set(self.reference))
        leftovers = [p for p in d.rglob("*") if p.name.endswith(".tmp")]
        problems = []
        if c.files_lost or c.wrong_files:
            bad = [k for k in self.reference if got.get(k) != self.reference[k]]
            problems.append(f"differs from the uninterrupted sweep: {bad[:5]}")
        if extra:
            problems.append(f"extra files {extra[:5]}")
        if leftovers:
            problems.append(f"temporary files left: {leftovers[:3]}")
        from corel_jax import rundir

        if not rundir.is_complete(d):
            problems.append("not complete")
        if (d / rundir.CHECKPOINT_SUBDIR).exists():
            problems.append("checkpoints left")
        c.detail = "; ".join(problems)
        c.ok = not problems
        return c


def result_files(d: Path) -> dict[str, bytes]:
    """Every file of a run directory, by relative path: config.json without its volatile
    keys (and the manifest without config.json's size); not the lock (the writer's pid)."""
    from corel_jax import rundir

    out = {}
    for p in sorted(Path(d).rglob("*")):
        if not p.is_file() or p.name == rundir.LOCK:
            continue
        data = p.read_bytes()
        if p.name == rundir.CONFIG and p.parent == Path(d):
            c = json.loads(data)
            for k in VOLATILE:
                c.pop(k, None)
            data = json.dumps(c, sort_keys=True).encode()
        elif p.name == rundir.MANIFEST and p.parent == Path(d):
            m = json.loads(data)  # config.json's size varies with its volatile keys
            m.get("sizes", {}).pop(rundir.CONFIG, None)
            data = json.dumps(m, sort_keys=True).encode()
        out[p.relative_to(d).as_posix()] = data
    return out


def _points(log: Path) -> list[str]:
    return [line.split("\t", 1)[1].strip() for line in log.read_text().splitlines()]


def _short(path: str) -> str:
    """The point's file relative to the run directory (``runs/r000/test_h.npy``)."""
    p = Path(path).as_posix()
    return p.split("/sweep/", 1)[1] if "/sweep/" in p else p


def quick_cases(m: Matrix) -> list[tuple[str, str, int]]:
    """CI's matrix: SIGKILL in a sweep and in a resume, and ENOSPC in a sweep, at the first
    write of each kind (config, manifest, layout, checkpoint, stored chunk, result file,
    removal of the checkpoints), both while the chunks train and in the final writes after
    the last chunk (:func:`representative_points`). The long form tries every point."""
    cases = [("kill", "sweep", i) for i in representative_points(m.sweep_points)]
    cases += [("kill", "resume", j) for j in representative_points(m.resume_points)]
    cases += [("enospc", "sweep", i) for i in representative_points(m.sweep_points)]
    return cases


def representative_points(points: list[str]) -> list[int]:
    """The 1-based index of the first point of each :func:`kind`, counted separately before
    and after the last stored chunk (the final writes: results, the complete manifest, the
    removal of the checkpoints)."""
    last_chunk = max((i for i, p in enumerate(points, 1) if kind(p) == "chunk"), default=0)
    seen: dict[tuple[bool, str], int] = {}
    for i, p in enumerate(points, 1):
        seen.setdefault((i > last_chunk, kind(p)), i)
    return sorted(seen.values())


def full_cases(m: Matrix) -> list[tuple[str, str, int]]:
    """Every write point of the sweep and of a resume, with both faults."""
    return [(f, ph, i) for f in ("kill", "enospc")
            for ph, pts in (("sweep", m.sweep_points), ("resume", m.resume_points))
            for i in range(1, len(pts) + 1)]


def kind(point: str) -> str:
    """What a write point writes: ``config``, ``manifest``, ``layout``, ``state`` (an orbax
    checkpoint), ``chunk`` (a finished chunk), ``result`` (a result file) or
    ``remove-checkpoints``."""
    p = _short(point)
    for key, name in (("config.json", "config"), ("corel-jax-run.json", "manifest"),
                      ("layout.json", "layout"), ("state/", "state"), ("chunk_", "chunk")):
        if key in p:
            return name
    return "remove-checkpoints" if p.endswith("checkpoints") else "result"


def _run_batch(path: Path) -> None:
    """Runs the commands listed in ``path`` (``[{cwd, argv, fault}]``) one after another in
    this process, each through ``corel_jax.cli.main`` from its working directory, with the
    fault (``COREL_JAX_FAULT``) set for it alone and the write count started again; file
    descriptors 1 and 2 go to files of the command's own, so everything it prints (Python,
    logging, C) is its own stdout and stderr. Writes ``[{returncode, stdout, stderr}]`` to
    ``path`` with the suffix ``.out.json``."""
    import traceback

    from corel_jax import _faults
    from corel_jax.cli import main as corel_jax_main

    results = []
    for job in json.loads(Path(path).read_text()):
        os.chdir(job["cwd"])
        os.environ.pop(_faults.ENV, None)
        if job["fault"]:
            os.environ[_faults.ENV] = job["fault"]
        _faults.reset()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code = corel_jax_main(job["argv"])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:  # what an uncaught error does to a process: exit 1
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            out.seek(0)
            err.seek(0)
            results.append({"returncode": code, "stdout": out.read().decode(errors="replace"),
                            "stderr": err.read().decode(errors="replace")})
    os.environ.pop(_faults.ENV, None)
    Path(path).with_suffix(".out.json").write_text(json.dumps(results))


def table(cases: list[Case]) -> str:
    """The matrix as Markdown: one row per fault and phase."""
    rows = {}
    for c in cases:
        r = rows.setdefault((c.fault, c.phase), [0, 0, 0, 0])
        r[0] += 1
        r[1] += c.ok
        r[2] += c.files_lost
        r[3] += c.wrong_files
    lines = ["| fault | phase | points tried | passed | files lost | wrong files |",
             "|---|---|---|---|---|---|"]
    for (f, ph), (n, ok, lost, wrong) in rows.items():
        lines.append(f"| {f} | {ph} | {n} | {ok} | {lost} | {wrong} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI's subset (see quick_cases)")
    p.add_argument("--run-batch", type=Path, help=argparse.SUPPRESS)  # see _run_batch
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="work in DIR and keep it (default: a temporary folder, removed)")
    args = p.parse_args(argv)
    if args.run_batch:
        _run_batch(args.run_batch)
        return 0
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    m = Matrix(root, {"JAX_COMPILATION_CACHE_DIR": str(root / "jax-cache")})
    m.prepare()
    print(f"write points: {len(m.sweep_points)} in a sweep, {len(m.resume_points)} in a "
          f"resume")
    cases = m.run_cases((quick_cases if args.quick else full_cases)(m))
    for c in cases:
        print(f"{c.fault}@{c.point} ({c.phase}, {c.target}): "
              f"{'ok' if c.ok else 'FAILED ' + c.detail}", flush=True)
    print(table(cases))
    print(f"{sum(c.ok for c in cases)} of {len(cases)} cases passed in "
          f"{time.perf_counter() - t0:.0f} s")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(c.ok for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
