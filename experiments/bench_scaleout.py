"""Benchmark: a sweep over devices and processes: runs per second, checkpoint cost, SIGTERM.

A benchmark, not a test (issue 34). The same sweep (scikit-learn digits, offline; FFNN
256-256, Gaussian-COREL, ``--runs`` runs = seeds 0..R-1 at λ 0.5, batch 64) is trained by
``corel-jax train`` on each configuration of P processes × D devices (``--configs``, default
``1x1,1x2,1x4,2x1``). Every configuration starts fresh processes (the device count is fixed
when JAX starts): D forced CPU host devices per process (``JAX_PLATFORMS=cpu``,
``XLA_FLAGS=--xla_force_host_platform_device_count=D``); with P > 1 the processes meet on
localhost (``--coordinator 127.0.0.1:PORT``, gloo collectives) and share one ``--out``. On
each configuration, ``--repeats`` times (configurations alternate within a repeat):

1. **throughput**: the sweep without checkpoints (``--checkpoint-every 0``). run-epochs/s =
   runs × (epochs − 1) / (``train_s`` − ``first_epoch_s``), from process 0's ``config.json``
   ``timings``: the epochs after each process's first (compilation is ahead of time and not
   in ``train_s``; the first epoch is left out as warm-up), so startup, compilation,
   evaluation and writing are excluded (they are in the process wall time, shown beside).
2. **checkpoint cost**: the same sweep with ``--checkpoint-every 1`` (a save after every
   epoch but the last, which the finished-chunk file covers). Each save is timed around
   ``SweepCheckpoint.save_state`` (synchronous orbax save, committed when it returns) by a
   wrapper this script installs in the child process, the library untouched; with P
   processes a save lasts from the first process's start to the last one's end. The first
   save (which also opens orbax's checkpoint manager) is shown apart. Beside it:
   the checkpoint's size on disk, and ``total_s`` (with saves − without) / saves, which adds
   the checkpoint layout, finished-chunk file and clean-up to the saves.
3. **SIGTERM to exit**: the sweep with ``--checkpoint-every 1`` and at least 3 epochs; as
   soon as the signalled process reports its epoch-1 save, this script sends it SIGTERM
   (process P−1: with 2 processes, the one that does not write the run directory) and times
   until every process has exited (status 75 expected from each). So the signal lands at the
   start of epoch 2, the worst moment: the time is finishing that epoch + the final
   (preemption) save + the exit, each shown.

On one CPU host the forced devices and the processes share the same cores, so more of them add
no compute: the tables show what sharding, gathering, multi-process agreement and saving cost,
not a speed-up. On a multi-accelerator host ``--real`` uses the visible devices (1-process
configurations only).

    python experiments/bench_scaleout.py                       # writes results/bench_scaleout.md
    python experiments/bench_scaleout.py --epochs 1 --runs 4 --repeats 1 --out /tmp/s.md  # smoke
    python experiments/bench_scaleout.py --real --configs 1x1,1x2,1x4,1x8 --runs 64

Expected runtime of the default (16 runs, 10 epochs, 3 repeats) on 2 CPU cores: about 7
minutes (2 minutes a repeat: 15 processes, each starting JAX and compiling; measured loaded).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import machine  # noqa: E402

EVENTS_ENV = "BENCH_SCALEOUT_EVENTS"
REAL_ENV = "BENCH_SCALEOUT_REAL"
TIMEOUT_S = 600
EXIT_PREEMPTED = 75  # corel_jax.train.preemption.EXIT_PREEMPTED (not imported: no JAX here)

# The child: `corel-jax train ARGV` with each checkpoint save timed (one JSON line per save,
# and one when the command returns, appended to $BENCH_SCALEOUT_EVENTS).
CHILD = r"""
import json, os, sys, time

def log(**event):
    with open(os.environ["BENCH_SCALEOUT_EVENTS"], "a") as f:
        f.write(json.dumps(event) + "\n")

from corel_jax.train import checkpoint
_save_state = checkpoint.SweepCheckpoint.save_state

def save_state(self, chunk, epoch, state, curves):
    t0 = time.time()
    _save_state(self, chunk, epoch, state, curves)
    log(event="save", chunk=chunk, epoch=epoch, start=t0, end=time.time())

checkpoint.SweepCheckpoint.save_state = save_state
real = int(os.environ.get("BENCH_SCALEOUT_REAL", "0"))
if real:  # the first `real` visible accelerators
    import jax, numpy as np
    from corel_jax.train import placement
    placement.Placement.create = classmethod(lambda cls, devices=None: cls(
        jax.sharding.Mesh(np.asarray(jax.devices()[:real]), ("runs",))))
from corel_jax.cli import main
rc = main(sys.argv[1:])
log(event="return", rc=rc, t=time.time())
sys.exit(rc)
"""


# ------------------------------------------------------------------ pure parts (unit-tested)

def parse_configs(text: str) -> list[tuple[int, int]]:
    """``"1x1,1x2,2x1"`` -> ``[(1, 1), (1, 2), (2, 1)]`` (processes, devices per process); a
    bare ``"4"`` is ``(1, 4)``."""
    configs = []
    for item in text.split(","):
        item = item.strip().lower()
        p, _, d = item.partition("x") if "x" in item else ("1", "", item)
        try:
            pd = (int(p), int(d))
        except ValueError:
            raise ValueError(f"configuration {item!r}: expected PxD, e.g. 2x1") from None
        if min(pd) < 1:
            raise ValueError(f"configuration {item!r}: counts must be >= 1")
        configs.append(pd)
    if not configs:
        raise ValueError("no configuration")
    return configs


def label(config: tuple[int, int]) -> str:
    return f"{config[0]} × {config[1]}"


def steady_rate(timings: dict, runs: int, epochs: int) -> dict[str, float]:
    """Seconds per epoch and run-epochs per second after the first epoch, from a one-chunk
    sweep's ``timings`` (``train_s``, ``first_epoch_s``, ``epochs``)."""
    if timings.get("epochs") != epochs:
        raise ValueError(f"expected one chunk of {epochs} epochs, timings say "
                         f"{timings.get('epochs')} epochs (several chunks?)")
    if epochs < 2:  # nothing after the first epoch: the first stands in
        s = timings["train_s"] / epochs
    else:
        s = (timings["train_s"] - timings["first_epoch_s"]) / (epochs - 1)
    return {"s_per_epoch": s, "run_epochs_per_s": runs / s}


def read_events(paths) -> list[list[dict]]:
    """Each process's events (its JSON lines; none if the file is missing)."""
    out = []
    for p in paths:
        p = Path(p)
        out.append([json.loads(line) for line in p.read_text().splitlines() if line.strip()]
                   if p.is_file() else [])
    return out


def saves(events: list[list[dict]], after: float = float("-inf")) -> list[dict]:
    """The checkpoint saves that started after ``after``, one per (chunk, epoch), across the
    processes: ``{"chunk", "epoch", "start": the first process's, "end": the last's,
    "s": end - start, "processes": how many saved}``, in order."""
    by_step: dict[tuple[int, int], list[dict]] = {}
    for per_process in events:
        for e in per_process:
            if e.get("event") == "save" and e["start"] > after:
                by_step.setdefault((e["chunk"], e["epoch"]), []).append(e)
    out = []
    for (chunk, epoch), es in sorted(by_step.items()):
        start, end = min(e["start"] for e in es), max(e["end"] for e in es)
        out.append({"chunk": chunk, "epoch": epoch, "start": start, "end": end,
                    "s": end - start, "processes": len(es)})
    return out


def term_breakdown(t_signal: float, exits: list[tuple[int, float]],
                   events: list[list[dict]]) -> dict:
    """The SIGTERM measurement: ``exits`` is each process's (status, exit time).

    ``to_exit_s``: signal to the last process's exit; ``finish_epoch_s``: signal to the first
    process's start of the final save (the rest of the epoch and the processes' agreement);
    ``save_s``: that save; ``after_save_s``: its end to the last exit (the one-line report,
    orbax and JAX shutdown, the interpreter's exit). None where there was no final save."""
    final = saves(events, after=t_signal)
    last_exit = max(t for _, t in exits)
    out = {"statuses": [rc for rc, _ in exits], "to_exit_s": last_exit - t_signal,
           "stopped_after": None, "finish_epoch_s": None, "save_s": None, "after_save_s": None}
    if final:
        f = final[0]
        out.update(stopped_after=f["epoch"], finish_epoch_s=f["start"] - t_signal,
                   save_s=f["s"], after_save_s=last_exit - f["end"])
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".2f") -> str:
    return "–" if x is None else format(x, spec)


def spread(xs, spec=".1f") -> str:
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return f" ({min(xs):{spec}}–{max(xs):{spec}})"


def tables(results: dict[tuple[int, int], list[dict]]) -> list[str]:
    """The three Markdown tables (medians over the repeats) of ``results``: per configuration,
    one dict per repeat with ``plain``, ``ckpt``, ``term`` (see :func:`measure`)."""
    lines = ["## Throughput (no checkpoints)", "",
             "| processes × devices | runs | s/epoch | run-epochs/s (min–max) | compile s | "
             "process wall s |",
             "|---|---:|---:|---:|---:|---:|"]
    for cfg, reps in results.items():
        rate = [r["plain"]["run_epochs_per_s"] for r in reps]
        lines.append(
            f"| {label(cfg)} | {reps[0]['runs']} | "
            f"{fmt(median(r['plain']['s_per_epoch'] for r in reps), '.3f')} | "
            f"{fmt(median(rate), '.1f')}{spread(rate)} | "
            f"{fmt(median(r['plain']['compile_s'] for r in reps), '.1f')} | "
            f"{fmt(median(r['plain']['wall_s'] for r in reps), '.1f')} |")
    lines += ["", "## Checkpoint cost (`--checkpoint-every 1`)", "",
              "| processes × devices | saves | first save s | s per later save (min–max) | "
              "checkpoint MB | run-epochs/s with saves | total_s added per save |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for cfg, reps in results.items():
        first = [r["ckpt"]["save_s"][0] for r in reps if r["ckpt"]["save_s"]]
        later = [s for r in reps for s in r["ckpt"]["save_s"][1:]]
        added = [(r["ckpt"]["total_s"] - r["plain"]["total_s"]) / len(r["ckpt"]["save_s"])
                 if r["ckpt"]["save_s"] else None for r in reps]
        lines.append(
            f"| {label(cfg)} | {len(reps[0]['ckpt']['save_s'])} | "
            f"{fmt(median(first), '.3f')} | "
            f"{fmt(median(later), '.3f')}{spread(later, '.3f')} | "
            f"{fmt(median(r['term']['checkpoint_mb'] for r in reps), '.1f')} | "
            f"{fmt(median(r['ckpt']['run_epochs_per_s'] for r in reps), '.1f')} | "
            f"{fmt(median(added), '.3f')} |")
    lines += ["", "## SIGTERM to exit (signal at the start of epoch 2)", "",
              "| processes × devices | signalled | statuses | stopped after epoch | "
              "SIGTERM → exit s (min–max) | finishing the epoch s | final save s | "
              "save → exit s |",
              "|---|---|---|---:|---:|---:|---:|---:|"]
    for cfg, reps in results.items():
        terms = [r["term"] for r in reps]
        to_exit = [t["to_exit_s"] for t in terms]
        statuses = sorted({", ".join(map(str, t["statuses"])) for t in terms})
        stopped = sorted({str(t["stopped_after"]) for t in terms})
        lines.append(
            f"| {label(cfg)} | process {cfg[0] - 1} | {'; '.join(statuses)} | "
            f"{', '.join(stopped)} | {fmt(median(to_exit))}{spread(to_exit, '.2f')} | "
            f"{fmt(median(t['finish_epoch_s'] for t in terms))} | "
            f"{fmt(median(t['save_s'] for t in terms), '.3f')} | "
            f"{fmt(median(t['after_save_s'] for t in terms))} |")
    return lines


# ------------------------------------------------------------------------- the processes

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Job:
    """The P processes of one ``corel-jax train`` sweep, each timed to its exit."""

    def __init__(self, config, argv, work: Path, real: bool):
        procs, devices = config
        work.mkdir(parents=True)
        self.work = work
        self.events = [work / f"events{i}.jsonl" for i in range(procs)]
        self.logs = [work / f"log{i}.txt" for i in range(procs)]
        coordinator = f"127.0.0.1:{free_port()}"
        self.procs, self.exits, self._threads = [], [None] * procs, []
        self.t_start = time.time()
        for i in range(procs):
            env = dict(os.environ, **{EVENTS_ENV: str(self.events[i])})
            if real:
                env[REAL_ENV] = str(devices)
            else:
                env["JAX_PLATFORMS"] = "cpu"
                env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                                    f"device_count={devices}").strip()
            multi = ["--coordinator", coordinator, "--num-processes", str(procs),
                     "--process-id", str(i)] if procs > 1 else []
            with open(self.logs[i], "w") as log:
                p = subprocess.Popen([sys.executable, "-c", CHILD, *argv, *multi], env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
            self.procs.append(p)
            t = threading.Thread(target=self._wait, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)

    def _wait(self, i):
        rc = self.procs[i].wait()
        self.exits[i] = (rc, time.time())

    def wait_for_save(self, process: int, timeout: float = TIMEOUT_S) -> None:
        """Returns as soon as ``process`` has logged a checkpoint save."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("event") == "save" for e in read_events([self.events[process]])[0]):
                return
            if self.procs[process].poll() is not None:
                self.fail(f"process {process} exited before its first checkpoint")
            time.sleep(0.002)
        self.fail(f"no checkpoint from process {process} in {timeout} s")

    def wait(self, timeout: float = TIMEOUT_S) -> list[tuple[int, float]]:
        for t in self._threads:
            t.join(max(0.0, self.t_start + timeout - time.time()))
        if any(e is None for e in self.exits):
            self.fail(f"still running after {timeout} s")
        return list(self.exits)

    def fail(self, why: str):
        for p in self.procs:  # only the processes this job started
            if p.poll() is None:
                p.kill()
                p.wait()
        tails = "\n".join(f"--- process {i}:\n{log.read_text()[-3000:]}"
                          for i, log in enumerate(self.logs))
        raise RuntimeError(f"{why}\n{tails}")

    def check(self, exits, status: int = 0) -> None:
        if any(rc != status for rc, _ in exits):
            self.fail(f"exit statuses {[rc for rc, _ in exits]}, expected {status}")


def sweep_argv(args, out: Path, checkpoint_every: int, epochs: int) -> list[str]:
    return ["train", "--dataset", "digits", "--model", "mlp", "--loss", "gaussian",
            "--seeds", str(args.runs), "--lams", "0.5", "--epochs", str(epochs),
            "--width", str(args.width), "--batch-size", "64", "--no-representations",
            "--checkpoint-every", str(checkpoint_every), "--quiet", "--out", str(out)]


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def measure(config, args, work: Path) -> dict:
    """One repeat on one configuration: ``plain``, ``ckpt`` and ``term``."""
    out = {"runs": args.runs}
    for kind, every in (("plain", 0), ("ckpt", 1)):
        job = Job(config, sweep_argv(args, work / kind / "run", every, args.epochs),
                  work / kind, args.real)
        exits = job.wait()
        job.check(exits)
        timings = json.loads((work / kind / "run" / "config.json").read_text())["timings"]
        out[kind] = {**steady_rate(timings, args.runs, args.epochs),
                     "compile_s": timings["compile_s"], "total_s": timings["total_s"],
                     "wall_s": max(t for _, t in exits) - job.t_start,
                     "save_s": [s["s"] for s in saves(read_events(job.events))]}
    # SIGTERM to the last process once it has saved after epoch 1
    term_epochs = max(args.epochs, 3)
    run = work / "term" / "run"
    job = Job(config, sweep_argv(args, run, 1, term_epochs), work / "term", args.real)
    target = config[0] - 1
    job.wait_for_save(target)
    t_signal = time.time()
    job.procs[target].send_signal(signal.SIGTERM)
    exits = job.wait()
    job.check(exits, EXIT_PREEMPTED)
    term = term_breakdown(t_signal, exits, read_events(job.events))
    state = run / "checkpoints" / "state"
    steps = [p for p in state.iterdir() if p.name.isdigit()] if state.is_dir() else []
    term["checkpoint_mb"] = dir_mb(max(steps, key=lambda p: int(p.name))) if steps else None
    out["term"] = term
    return out


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(HERE.parent /
                                                                        "corel_jax")],
                               cwd=HERE, capture_output=True, text=True, timeout=10).stdout
        return (rev or "unknown") + (" (corel_jax/ modified)" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="1x1,1x2,1x4,2x1",
                   help="PxD: P processes of D devices each, comma-separated")
    p.add_argument("--runs", type=int, default=16)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--real", action="store_true",
                   help="use the visible accelerators, not forced CPU devices (P = 1 only)")
    p.add_argument("--out", default=str(HERE / "results" / "bench_scaleout.md"))
    args = p.parse_args(argv)
    configs = parse_configs(args.configs)
    if args.real and any(pr > 1 for pr, _ in configs):
        p.error("--real: 1-process configurations only (1xD)")
    load0 = os.getloadavg()[0]
    t0 = time.time()
    results: dict[tuple[int, int], list[dict]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="bench_scaleout_") as tmp:
        for rep in range(args.repeats):
            for c in configs:
                r = measure(c, args, Path(tmp) / f"r{rep}_{c[0]}x{c[1]}")
                results[c].append(r)
                t = r["term"]
                print(f"repeat {rep + 1}/{args.repeats} {label(c)}: "
                      f"{r['plain']['run_epochs_per_s']:.1f} run-epochs/s; save "
                      f"{fmt(median(r['ckpt']['save_s']), '.3f')} s "
                      f"(x{len(r['ckpt']['save_s'])}); SIGTERM -> exit "
                      f"{t['to_exit_s']:.2f} s, statuses {t['statuses']}", flush=True)
    elapsed = time.time() - t0
    cmd = (f"python experiments/bench_scaleout.py --configs {args.configs} --runs {args.runs} "
           f"--epochs {args.epochs} --width {args.width} --repeats {args.repeats}"
           + (" --real" if args.real else ""))
    devices = ("the visible accelerators (`--real`)" if args.real else
               "forced CPU host devices (`JAX_PLATFORMS=cpu`, `XLA_FLAGS=--xla_force_host_"
               "platform_device_count=D`); P > 1: P processes on localhost (gloo, one `--out`)")
    lines = [
        "# Scale-out benchmark: devices and processes, checkpoint saves, SIGTERM to exit",
        "",
        f"- command: `{cmd}` ({elapsed / 60:.1f} min; "
        f"{datetime.date.today().isoformat()}, commit {git_commit()})",
        f"- machine: {machine.describe()}; JAX {metadata.version('jax')}, "
        f"jaxlib {metadata.version('jaxlib')}, Python {sys.version.split()[0]}",
        f"- load average (1 min) at start {load0:.2f}, at end {os.getloadavg()[0]:.2f} (other "
        "jobs on the machine inflate every timing)",
        f"- devices: {devices}",
        f"- sweep: digits (offline), FFNN {args.width}-{args.width}, Gaussian-COREL, "
        f"{args.runs} runs (seeds 0..{args.runs - 1}, λ 0.5), batch 64, {args.epochs} epochs, "
        f"one chunk; each number the median over {args.repeats} repeat(s), configurations "
        "alternating within a repeat",
        "- run-epochs/s: runs × (epochs − 1) / (`train_s` − `first_epoch_s`), process 0's "
        "`config.json` timings (compilation, startup, evaluation and writing excluded; the "
        "process wall time beside includes them)",
        "- a save: `SweepCheckpoint.save_state` timed in the child process (synchronous orbax "
        "save); with P processes, from the first's start to the last's end; the first save of "
        "a sweep also opens orbax's checkpoint manager. Checkpoint MB: one saved step on "
        "disk. total_s added per save: (`total_s` with saves − without) / saves, the layout, "
        "finished-chunk file and clean-up included (the difference of two whole sweeps: "
        "noisy)",
        "- SIGTERM: sent to the last process as soon as it has saved after epoch 1, so the "
        "whole of epoch 2 is still to train; timed from the signal to every process's exit",
        "",
        *tables(results),
    ]
    if not args.real:
        lines += ["", "Forced host devices and the processes share the same CPU cores: each "
                  "device runs its share of the runs with fewer threads, plus per-device "
                  "dispatch and (P > 1) gloo collectives, so on one CPU host more devices or "
                  "processes add no compute. The tables show the mechanics and their costs "
                  "(sharding, gathering, the processes' agreement, saving shards), not a "
                  "speed-up; that needs real devices."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
