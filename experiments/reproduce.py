"""Reproduce one setting of the paper: λ sweep, λ selection, 10-seed runs, reports.

    python experiments/reproduce.py --setting mnist-mlp --profile cpu --data-dir ../shared/data

Stages (each one compiled program per loss). Every finished stage's compact results (its
``config.json``, ``runs.json``/``runs.csv``, ``curves.csv``, the stage record and, for final
stages, the clustering scores; never parameters or representations) are copied to
``--store`` (default ``experiments/results/<setting>/<profile>/stages/<stage>/``), which is
meant for git: started again later, even on a new machine with a fresh clone, the script skips
every stage found there with the same configuration, and continues. A stage interrupted within
a session resumes from its last checkpoint (about every 10 minutes). With ``--commit`` each
stage's store is committed as soon as it is written.

1. ``sweep-<loss>`` for center, cosine and gaussian: the profile's sweep (``cfg.sweep``: a
   ``SweepConfig``'s fields), every λ of its grid × its seeds (no representations saved);
   ``sweep-cce``: CCE once (it has no λ).
2. λ selection per loss: the λ with the highest mean best validation accuracy over the sweep's
   seeds (ties: the smaller; :func:`corel_jax.evaluate.select_lambda`).
3. ``sweep-gaussian_original``: the same λ grid with the original PyTorch code's
   Gaussian-COREL (:mod:`gaussian_original`, registered as the loss ``gaussian_original``).
4. ``final-<loss>``: ``final_seeds`` at the selected λ, with test representations (clustering
   scores computed at once); ``final-gaussian_original`` at its own selected λ, and, where the
   profile asks, ``final-gaussian_learned`` (learned γ, our extension) at Gaussian's λ.
5. Reports: the evaluator's tables and figures for the final runs
   (:func:`corel_jax.evaluate.write_report`), the λ curves of the sweeps, the Gaussian
   comparison figure, the paper's numbers beside ours, hardware and wall times, written to
   ``--out`` (``report.md``, CSVs, PNGs, ``results.json``).

Run directories go under ``--runs`` (default ``runs/reproduce/<setting>/<profile>``, git-ignored);
only ``--out`` is meant for git. ``--list`` prints every stage and whether the store holds it
(nothing is trained or written).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import machine  # noqa: E402
from configs import (  # noqa: E402
    ALL_LOSSES,
    SETTINGS,
    ReproConfig,
    get_config,
)
from stage_store import (  # noqa: E402
    CLUSTERING_CSV,
    RUN_FILES,
    STAGE_FILE,
    read_record,
    seal,
    stage_key,
    unseal,
    upgrade,
)

ORIGINAL = "gaussian_original"  # the loss experiments/gaussian_original.py registers
LEARNED = "gaussian_learned"  # Gaussian-COREL with learned γ (our extension)
# STAGE_FILE: written into a run directory once its stage has finished, and into the stage's
# store folder last, with the hashes of the stored files (stage_store.seal)
STORE_FILES = RUN_FILES


# --------------------------------------------------------------------------- stages


def sweep_config(cfg: ReproConfig, loss: str, kind: str, data_dir: str | None, lams=None):
    """The :class:`SweepConfig` of one stage (``kind``: ``sweep`` or ``final``): the
    profile's sweep (``cfg.sweep``) with the stage's loss; a final stage trains
    ``cfg.final_seeds`` for ``cfg.final_epochs`` at ``lams`` (the selected λ) and keeps test
    representations. ``loss`` is a registered loss, or ``gaussian_learned`` (Gaussian-COREL
    with ``learn_gamma=True``)."""
    if loss == ORIGINAL:
        import gaussian_original  # noqa: F401 -- registers the loss

    stage: dict[str, Any] = {"loss": "gaussian" if loss == LEARNED else loss,
                             "data_dir": data_dir, "save_representations": kind == "final"}
    if kind == "sweep":
        stage["lams"] = tuple(lams or ((cfg.cce_lam,) if loss == "cce" else cfg.sweep["lams"]))
    else:
        stage.update(lams=tuple(lams), seeds=cfg.final_seeds, epochs=cfg.final_epochs)
    if loss == LEARNED:
        stage["learn_gamma"] = True
    if f"{kind}-{loss}" in cfg.full_stages:  # trained in full: no early stopping
        stage.update(patience=None, min_epochs=0)
    return cfg.stage_config(**stage)


def stage_done(run_dir: Path, scfg) -> dict | None:
    """The stage record if ``run_dir`` (a run directory or a store folder) holds this exact
    stage, finished; else None: its record's ``"sweep"`` equals ``scfg``'s
    (:func:`stage_store.stage_key`; a record in an older form is read in the current one,
    :func:`stage_store.upgrade`)."""
    rec = read_record(run_dir)  # a stored stage's files are checked against their hashes
    if rec is None:
        return None
    if rec.get("sweep") != stage_key(scfg):
        return None
    return rec


def store_stage(run_dir: Path, store: Path, *, clustering: bool, log=print) -> Path:
    """Copies a finished stage's compact results to ``store`` (see the module docstring);
    for a final stage also computes every run's clustering scores there. The stage record
    (``stage.json``, with the hashes of the stored files) is written last
    (:func:`stage_store.seal`): a stage killed while being stored is never taken for done."""
    from corel_jax import rundir

    store.mkdir(parents=True, exist_ok=True)
    unseal(store)
    for name in STORE_FILES:
        rundir.write_bytes(store / name, (run_dir / name).read_bytes())
    if clustering:
        from corel_jax.evaluate.options import ReportOptions
        from corel_jax.evaluate.scores import evaluate_run

        config = rundir.load_config(run_dir)
        labels = rundir.load_test_labels(run_dir)
        similarity = rundir.similarity_of(config)
        rows = []
        for r in rundir.load_runs(run_dir):
            t0 = time.perf_counter()
            row = {"run": r["run"], "seed": r["seed"], "lam": r["lam"]}
            row.update(evaluate_run(run_dir, r["run"], similarity, labels, ReportOptions()))
            rows.append(row)
            log(f"  clustering run {r['run']}: {time.perf_counter() - t0:.0f} s")
        rundir.write_csv(store / CLUSTERING_CSV, rows, list(rows[0]))
    seal(store, upgrade(json.loads((run_dir / STAGE_FILE).read_text())))
    return store


def commit_store(store: Path | list[Path], message: str, log=print) -> None:
    """``git add`` and ``git commit --only`` of the stage's store (or of a list of files):
    nothing else that is staged goes with it; new files are added, so none is left out.
    Nothing to commit (unchanged files) is not an error. Retried while another git command
    holds the index lock."""
    paths = [str(x) for x in (store if isinstance(store, list) else [store])]
    what = paths[0] if len(paths) == 1 else f"{len(paths)} files in {Path(paths[0]).parent}"
    repo = subprocess.run(["git", "-C", str(Path(paths[0]).parent), "rev-parse",
                           "--show-toplevel"], capture_output=True, text=True)
    if repo.returncode != 0:
        log(f"not committed: {what} is not in a git repository")
        return
    top = repo.stdout.strip()
    for attempt in range(10):
        add = subprocess.run(["git", "-C", top, "add", "--", *paths], capture_output=True,
                             text=True)
        same = add.returncode == 0 and subprocess.run(
            ["git", "-C", top, "diff", "--cached", "--quiet", "HEAD", "--", *paths]
        ).returncode == 0
        if same:
            log(f"{what}: unchanged, nothing to commit")
            return
        ci = add.returncode == 0 and subprocess.run(
            ["git", "-C", top, "commit", "-q", "--only", "-m", message, "--", *paths],
            capture_output=True, text=True)
        if ci and ci.returncode == 0:
            log(f"committed {what}")
            return
        time.sleep(3 + 3 * attempt)
    log(f"could not commit {what}; commit it by hand")


def new_in_store(rec: dict | None) -> bool:
    """Whether :func:`run_stage` put the stage into the store just now (trained, or stored
    from its run directory), not found it there."""
    return rec is not None and (not rec.get("skipped") or rec.get("stored", False))


def refresh_report(cfg, *, store: Path, out: Path, stage: str, log=print) -> None:
    """Rewrites the setting's report in ``out`` from the stages now in ``store`` and commits
    the report's files (``report.md``, ``results.json``, ``lambda_sweep.csv``, the figures;
    not ``discussion.md``, which the report quotes as it is in the working tree). A committed
    stage that the committed report does not show fails ``tests/test_committed_results.py``,
    so with ``--commit`` each stage's commit is followed by its report's: a run stopped at
    any moment leaves the checkout consistent. A folder without a report yet is left alone
    (the first is written when the stages are complete). A report that fails to write is
    logged and training goes on (the stage is stored)."""
    import report_repro

    if not (out / "report.md").is_file():
        return
    try:
        report_repro.write(cfg, store=store, out=out,
                           command=report_repro.rerun_command(cfg.setting, cfg.profile), log=log)
    except Exception as e:  # noqa: BLE001 -- the stage is stored; training goes on
        log(f"[report] not rewritten ({type(e).__name__}: {e}); run experiments/"
            f"report_repro.py --setting {cfg.setting} --profile {cfg.profile}")
        return
    files = [out / n for n in ("report.md", "results.json", "lambda_sweep.csv")
             if (out / n).is_file()] + sorted(out.glob("*.png"))
    commit_store(files, f"{cfg.setting}/{cfg.profile} report regenerated: {stage} committed",
                 log)


def run_stage(name: str, run_dir: Path, scfg, dataset, *, log=print, progress=True,
              store: Path | None = None, commit: bool = False, plan_only: bool = False
              ) -> dict | None:
    """Trains one stage into ``run_dir`` unless it is already complete (in ``store`` or in
    ``run_dir``); resumes it from its checkpoints when a session stopped mid-stage; returns
    its record. ``plan_only``: trains and writes nothing, and returns None for a stage that
    is not complete."""
    from corel_jax import rundir
    from corel_jax.train import train_sweep

    for where in (store, run_dir):
        done = stage_done(where, scfg) if where is not None else None
        if done is not None:
            log(f"[{name}] complete in {where} ({done['wall_s']:.0f} s when run); skipped")
            if store is not None and where != store and not plan_only:
                store_stage(run_dir, store, clustering=scfg.save_representations, log=log)
                if commit:
                    commit_store(store, f"reproduce: {store.parents[2].name} "
                                        f"{store.parents[1].name} {name} (stored)", log)
            # "stored": copied into the store now (trained in an earlier session)
            return {**done, "skipped": True,
                    "stored": store is not None and where != store and not plan_only}
    if plan_only:
        log(f"[{name}] to train: {scfg.num_runs} runs, {scfg.epochs} epochs")
        return None
    (run_dir / STAGE_FILE).unlink(missing_ok=True)
    resume = _resumable(run_dir, scfg)
    stale = run_dir / rundir.CHECKPOINT_SUBDIR
    if not resume and stale.is_dir():
        # checkpoints of this stage under another configuration (e.g. the profile's patience
        # changed): the run directory is the pipeline's own scratch space, so they go
        import shutil

        log(f"[{name}] discarding checkpoints of a different configuration in {run_dir}")
        shutil.rmtree(stale)
    log(f"[{name}] {scfg.num_runs} runs ({len(scfg.seeds)} seeds × {len(scfg.lams)} λ), "
        f"{scfg.epochs} epochs" + (f", patience {scfg.patience}" if scfg.patience else "")
        + f" -> {run_dir}" + (" (resuming)" if resume else ""))
    t0 = time.perf_counter()
    # run_dir is the pipeline's own scratch space: an earlier sweep there is replaced
    result = train_sweep(scfg, dataset=dataset, out_dir=run_dir, progress=progress,
                         log=log, resume=resume, overwrite=True)
    wall = time.perf_counter() - t0
    rec = {"stage": name, "sweep": stage_key(scfg), "wall_s": wall,
           "timings": result.timings, "num_runs": scfg.num_runs,
           "run_epochs": int(sum(r.get("epochs_trained", scfg.epochs)
                                 for r in result.records)),
           "max_run_epochs": scfg.num_runs * scfg.epochs,
           "resumed": resume, "hardware": hardware(),
           "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    rundir.write_json(run_dir / STAGE_FILE, rec)
    log(f"[{name}] done in {wall:.0f} s")
    if store is not None:
        store_stage(run_dir, store, clustering=scfg.save_representations, log=log)
        if commit:
            commit_store(store, f"reproduce: {store.parents[2].name} {store.parents[1].name} "
                                f"{name} ({wall / 60:.0f} min)", log)
    return {**rec, "skipped": False}


def merge_parts(dirs: list[Path], out: Path, full, part_records) -> dict:
    """Joins the parts of a λ sweep into one stage folder with the files of ``full`` (runs
    renumbered in ``full``'s order), and writes its stage record."""
    from corel_jax import rundir
    from corel_jax.evaluate.sweeps import COMPARABLE_FIELDS, comparability

    # parts of one sweep: the same data, model and protocol, or they are not one curve
    comps = [comparability(rundir.load_config(d)) for d in dirs]
    for d, c in zip(dirs[1:], comps[1:]):
        differ = [f for f in COMPARABLE_FIELDS if c[f] != comps[0][f]]
        if differ:
            raise RuntimeError(f"the parts {dirs[0]} and {d} of {out} differ in "
                               f"{', '.join(differ)}; they cannot be merged into one sweep")
    config = rundir.load_config(dirs[0])
    config.update(lams=list(full.lams), num_runs=full.num_runs,
                  parts=[str(d.name) for d in dirs])
    runs, train_loss, val_acc = [], [], []
    for d in dirs:
        for r in rundir.load_runs(d):
            runs.append({**r, "run": len(runs)})
        c = rundir.load_curves(d)
        train_loss.append(c["train_loss"])
        val_acc.append(c["val_acc"])
    if [(r["seed"], r["lam"]) for r in runs] != [(r.seed, r.lam) for r in full.runs]:
        raise RuntimeError(f"the parts in {out} do not make up the sweep {full.lams}")
    out.mkdir(parents=True, exist_ok=True)
    unseal(out)
    rundir.write_config(out, config)
    rundir.write_runs(out, runs)
    rundir.write_curves(out, np.concatenate(train_loss), np.concatenate(val_acc))
    rec = {"stage": out.name, "sweep": stage_key(full),
           "wall_s": sum(p["wall_s"] for p in part_records),
           "timings": {k: sum(p["timings"].get(k, 0) for p in part_records)
                       for k in ("compile_s", "train_s", "eval_s", "total_s")},
           "num_runs": full.num_runs,
           "run_epochs": sum(p["run_epochs"] for p in part_records),
           "max_run_epochs": full.num_runs * full.epochs,
           "parts": [d.name for d in dirs], "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    rec = seal(out, rec)
    return {**rec, "skipped": False}


def _resumable(run_dir: Path, scfg) -> bool:
    """Whether ``run_dir`` holds checkpoints of this very stage (same configuration)."""
    from corel_jax import rundir

    ckpt = run_dir / rundir.CHECKPOINT_SUBDIR
    if not (ckpt.is_dir() and any(ckpt.iterdir()) and (run_dir / rundir.CONFIG).is_file()):
        return False
    try:
        saved = rundir.load_config(run_dir)
    except ValueError:
        return False
    key = stage_key(scfg)  # config.json is read in the current form: every field present
    return {k: saved.get(k) for k in key} == key


def pick_lambda(run_dir: Path) -> float:
    """The λ of a sweep's run directory with the best mean best-validation accuracy."""
    from corel_jax import rundir
    from corel_jax.evaluate import select_lambda

    return select_lambda(rundir.load_runs(run_dir))


# --------------------------------------------------------------------------- pipeline


def reproduce(cfg: ReproConfig, *, data_dir: str | None, runs_root: Path, out: Path,
              command: str, log=print, progress=True, dataset=None,
              stages: str = "all", store: Path | None = None, commit: bool = False,
              plan_only: bool = False) -> dict:
    """Runs every stage of ``cfg`` and writes the report; returns the measured numbers.

    ``store``: the folder of compact stage results (None: none; stages are then found only in
    their run directories under ``runs_root``). ``plan_only``: loads no data, trains and
    writes nothing; logs each stage as complete or to train, and returns the records of the
    complete ones (None for the others) under ``"stages"``.
    """
    if dataset is None and not plan_only:
        from corel_jax.train.sweep import load_data

        dataset = load_data(sweep_config(cfg, "cce", "sweep", data_dir))
    runs_root = Path(runs_root)
    records: dict[str, dict | None] = {}

    def stage(name, scfg):
        where = store / name if store is not None else None
        records[name] = run_stage(name, runs_root / name, scfg, dataset, log=log,
                                  progress=progress, store=where, commit=commit,
                                  plan_only=plan_only)
        if commit and where is not None and new_in_store(records[name]):
            refresh_report(cfg, store=store, out=Path(out), stage=name, log=log)
        return where if where is not None else runs_root / name

    def sweep(loss):
        """A λ sweep, trained in parts of ``cfg.sweep_part_size`` λ values (each a stage of
        its own, so an interrupted session loses at most one part), then merged."""
        name, full = f"sweep-{loss}", sweep_config(cfg, loss, "sweep", data_dir)
        size = cfg.sweep_part_size or len(full.lams)
        if len(full.lams) <= size:
            return stage(name, full)
        where = store / name if store is not None else runs_root / name
        done = stage_done(where, full)
        if done is not None:
            log(f"[{name}] complete in {where}; skipped")
            records[name] = {**done, "skipped": True}
            return where
        parts = [full.lams[i:i + size] for i in range(0, len(full.lams), size)]
        dirs = [stage(f"{name}/part-{i + 1}of{len(parts)}",
                      sweep_config(cfg, loss, "sweep", data_dir, lams=part))
                for i, part in enumerate(parts)]
        if plan_only:
            log(f"[{name}] to merge from its {len(parts)} parts")
            records[name] = None
            return where
        records[name] = merge_parts(dirs, where, full,
                                    [records[f"{name}/part-{i + 1}of{len(parts)}"]
                                     for i in range(len(parts))])
        if commit and store is not None:
            commit_store(where, f"reproduce: {cfg.setting} {cfg.profile} {name} (merged)",
                         log)
            refresh_report(cfg, store=store, out=Path(out), stage=f"{name} (merged)", log=log)
        return where

    # 1. λ sweeps (CCE once); the original code's Gaussian-COREL on the same grid. The
    #    stages trained in full (the patience measurement) go first.
    sweep_dirs = {}
    order = sorted(ALL_LOSSES, key=lambda loss: f"sweep-{loss}" not in cfg.full_stages)
    for loss in order:
        if stages == "measure" and f"sweep-{loss}" not in cfg.full_stages:
            continue  # only the fully trained sweeps: the patience is not chosen yet
        sweep_dirs[loss] = sweep(loss)
    if stages == "measure":
        return {"lam_of": {}, "stages": records}
    if cfg.original_gaussian and stages in ("all", "final"):
        sweep_dirs[ORIGINAL] = sweep(ORIGINAL)
    # 2. λ per loss (of the complete sweeps only, when planning)
    lam_of = {loss: pick_lambda(d) for loss, d in sweep_dirs.items()
              if records[f"sweep-{loss}"] is not None}
    log("selected λ: " + ", ".join(f"{k} {v:g}" for k, v in lam_of.items()))
    # 3. final runs at the selected λ
    if stages in ("all", "final"):
        finals = [(loss, loss) for loss in ALL_LOSSES]
        if cfg.original_gaussian and cfg.profile == "paper":
            finals.append((ORIGINAL, ORIGINAL))
        if cfg.learned_gamma_final:
            finals.append((LEARNED, "gaussian"))  # at Gaussian-COREL's λ
        for loss, lam_from in finals:
            if lam_from not in lam_of:  # planning, and its sweep is not complete
                log(f"[final-{loss}] to train after sweep-{lam_from}")
                continue
            stage(f"final-{loss}",
                  sweep_config(cfg, loss, "final", data_dir, lams=(lam_of[lam_from],)))
    if stages != "all" or plan_only:
        return {"lam_of": lam_of, "stages": records}
    # 4. the report, from the stages' compact results
    import report_repro

    return report_repro.write(cfg, store=store if store is not None else runs_root, out=out,
                              command=command, runs_root=runs_root, log=log)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", required=True, choices=sorted(SETTINGS))
    p.add_argument("--profile", default="cpu",
                   help="paper, cpu, or curve for the image CNNs (see experiments/configs)")
    p.add_argument("--data-dir", default=None,
                   help="data root (one folder per dataset) or the dataset's folder")
    p.add_argument("--out", default=None,
                   help="report folder (default experiments/results/<setting> for the cpu "
                        "profile, experiments/results/<setting>/<profile> otherwise)")
    p.add_argument("--runs", default=None,
                   help="run directories (default runs/reproduce/<setting>/<profile>)")
    p.add_argument("--stages", default="all", choices=("all", "measure", "sweep", "final"),
                   help="stop after the fully trained sweeps (measure), the sweeps or the final "
                        "runs (default: all, with reports)")
    p.add_argument("--store", default=None,
                   help="compact stage results, for git (default "
                        "experiments/results/<setting>/<profile>/stages; 'none': none)")
    p.add_argument("--commit", action="store_true",
                   help="git-commit each stage's store as soon as it is written")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--list", action="store_true",
                   help="print every stage and whether the store holds it; train nothing")
    args = p.parse_args(argv)
    cfg = get_config(args.setting, args.profile)
    from report_repro import default_out

    out = Path(args.out or default_out(args.setting, args.profile))
    runs_root = Path(args.runs or Path("runs") / "reproduce" / args.setting / args.profile)
    command = command_line(__file__, argv)
    store = (None if args.store == "none" else
             Path(args.store or HERE / "results" / args.setting / args.profile / "stages"))
    from corel_jax.train import preemption

    try:
        result = reproduce(cfg, data_dir=args.data_dir, runs_root=runs_root, out=out,
                           command=command, progress=not args.quiet, stages=args.stages,
                           store=store, commit=args.commit, plan_only=args.list)
    except preemption.Preempted as e:  # the stages finished before it are stored (committed)
        return preemption.exit_status(e, prog="reproduce", resume=command)
    if args.list:
        todo = [k for k, v in result["stages"].items() if v is None]
        print(f"{len(result['stages']) - len(todo)} stages complete, {len(todo)} to train"
              + (f": {', '.join(todo)}" if todo else ""))
    elif args.stages == "all":
        print(f"wrote {out}/report.md")
    else:
        print(json.dumps(result["lam_of"]))
    return 0


def command_line(script: str, argv=None) -> str:
    """The command that ran ``script`` with ``argv`` (default: this process's arguments), as
    a shell line: the script path as typed when it was given absolute, else relative to the
    working directory (also when ``main`` is called from Python: ``sys.argv[0]`` is then
    another program). Rerunning it resumes an interrupted run."""
    typed = sys.argv[0]
    as_typed = os.path.isabs(typed) and os.path.realpath(typed) == os.path.realpath(script)
    return "python " + " ".join(shlex.quote(a) for a in [
        typed if as_typed else os.path.relpath(script),
        *(argv if argv is not None else sys.argv[1:])])


# --------------------------------------------------------------------------- environment


def hardware() -> dict[str, Any]:
    """CPU model, core count and SIMD flags (machine.cpu), memory, JAX version and backend."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0]}
    # Timings, and a run's numbers, differ between AVX2 and AVX-512 machines.
    info.update(machine.cpu())
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    try:
        import jax

        info["jax"] = jax.__version__
        info["backend"] = jax.default_backend()
        info["device"] = str(jax.devices()[0].device_kind)
    except Exception:  # noqa: BLE001 -- the report must not fail on this
        pass
    return info


def finite_or_none(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


if __name__ == "__main__":
    sys.exit(main())
