"""Reproduce one setting of the paper: λ sweep, λ selection, 10-seed runs, reports.

    python experiments/reproduce.py --setting mnist-mlp --profile cpu --data-dir ../shared/data

Stages (each one compiled program per loss; a stage whose run directory is complete is skipped,
so a re-run after an interruption resumes at stage granularity):

1. ``sweep-<loss>`` for center, cosine and gaussian: every λ of the profile's grid ×
   ``sweep_seeds`` (no representations saved); ``sweep-cce``: CCE once (it has no λ).
2. λ selection per loss: the λ with the highest mean best validation accuracy over the sweep's
   seeds (ties: the smaller; :func:`corel_jax.evaluate.select_lambda`).
3. ``final-<loss>``: ``final_seeds`` at the selected λ, with test representations.
4. ``sweep-gaussian_original``: the same λ grid with the original PyTorch code's
   Gaussian-COREL (:mod:`gaussian_original`), for the λ-curve comparison only.
5. Reports: the evaluator's tables and figures for the final runs
   (:func:`corel_jax.evaluate.write_report`), the λ curves of the sweeps, the Gaussian
   comparison figure, the paper's numbers beside ours, hardware and wall times, written to
   ``--out`` (``report.md``, CSVs, PNGs, ``results.json``).

Run directories go under ``--runs`` (default ``runs/reproduce/<setting>/<profile>``, git-ignored);
only ``--out`` is meant for git.
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

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from configs import (  # noqa: E402
    ALL_LOSSES,
    SETTINGS,
    ReproConfig,
    get_config,
)

STAGE_FILE = "stage.json"  # written into a run directory once its stage has finished
ORIGINAL = "gaussian_original"


# --------------------------------------------------------------------------- stages


def sweep_config(cfg: ReproConfig, loss: str, kind: str, data_dir: str | None, lams=None):
    """The :class:`SweepConfig` of one stage (``kind``: ``sweep`` or ``final``)."""
    from corel_jax.train import SweepConfig

    train_loss = "gaussian" if loss == ORIGINAL else loss
    if kind == "sweep":
        lams = (cfg.cce_lam,) if loss == "cce" else cfg.lams
        seeds, epochs, save = cfg.sweep_seeds, cfg.sweep_epochs, False
    else:
        seeds, epochs, save = cfg.final_seeds, cfg.final_epochs, True
    return SweepConfig(
        dataset=cfg.dataset, model=cfg.model, loss=train_loss, seeds=seeds, lams=tuple(lams),
        epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, width=cfg.width, gamma=cfg.gamma,
        data_dir=data_dir, save_representations=save, run_batch=cfg.run_batch,
        checkpoint_every=0,
    )


def _stage_key(scfg) -> dict[str, Any]:
    """What must match for a finished stage to be reused (not the data path)."""
    d = scfg.to_dict()
    for k in ("data_dir", "run_batch", "max_runs_per_program", "memory_budget_gb",
              "checkpoint_every"):
        d.pop(k, None)
    return d


def stage_done(run_dir: Path, scfg, variant: str | None) -> dict | None:
    """The stage record if ``run_dir`` holds this exact stage, finished; else None."""
    f = run_dir / STAGE_FILE
    if not f.is_file():
        return None
    try:
        rec = json.loads(f.read_text())
    except ValueError:
        return None
    if rec.get("sweep") != _stage_key(scfg) or rec.get("variant") != variant:
        return None
    return rec


def run_stage(name: str, run_dir: Path, scfg, dataset, *, variant=None, objective_fn=None,
              log=print, progress=True) -> dict:
    """Trains one stage into ``run_dir`` unless it is already complete; returns its record."""
    from corel_jax import rundir
    from corel_jax.train import train_sweep

    done = stage_done(run_dir, scfg, variant)
    if done is not None:
        log(f"[{name}] complete in {run_dir} ({done['wall_s']:.0f} s when run); skipped")
        return {**done, "skipped": True}
    (run_dir / STAGE_FILE).unlink(missing_ok=True)
    log(f"[{name}] {scfg.num_runs} runs ({len(scfg.seeds)} seeds × {len(scfg.lams)} λ), "
        f"{scfg.epochs} epochs -> {run_dir}")
    t0 = time.perf_counter()
    result = train_sweep(scfg, dataset=dataset, out_dir=run_dir, progress=progress,
                         log=log, objective_fn=objective_fn)
    wall = time.perf_counter() - t0
    if variant is not None:  # mark the variant in the run directory's config
        config = rundir.load_config(run_dir)
        config["variant"] = variant
        config["variant_note"] = ("Gaussian-COREL as the original PyTorch code computes it "
                                  "(experiments/gaussian_original.py); not the library's loss")
        rundir.write_config(run_dir, config)
    rec = {"stage": name, "variant": variant, "sweep": _stage_key(scfg), "wall_s": wall,
           "timings": result.timings, "num_runs": scfg.num_runs,
           "run_epochs": scfg.num_runs * scfg.epochs,
           "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    rundir.write_json(run_dir / STAGE_FILE, rec)
    log(f"[{name}] done in {wall:.0f} s")
    return {**rec, "skipped": False}


def pick_lambda(run_dir: Path) -> float:
    """The λ of a sweep's run directory with the best mean best-validation accuracy."""
    from corel_jax import rundir
    from corel_jax.evaluate import select_lambda

    return select_lambda(rundir.load_runs(run_dir))


# --------------------------------------------------------------------------- pipeline


def reproduce(cfg: ReproConfig, *, data_dir: str | None, runs_root: Path, out: Path,
              command: str, log=print, progress=True, dataset=None, report_options=None,
              stages: str = "all") -> dict:
    """Runs every stage of ``cfg`` and writes the report; returns the measured numbers."""
    t_start = time.perf_counter()
    if dataset is None:
        from corel_jax.train.sweep import load_data

        dataset = load_data(sweep_config(cfg, "cce", "sweep", data_dir))
    runs_root = Path(runs_root)
    records: dict[str, dict] = {}

    # 1. λ sweeps (CCE once)
    for loss in ALL_LOSSES:
        name = f"sweep-{loss}"
        records[name] = run_stage(name, runs_root / name,
                                  sweep_config(cfg, loss, "sweep", data_dir), dataset,
                                  log=log, progress=progress)
    # 2. λ per loss
    lam_of = {loss: pick_lambda(runs_root / f"sweep-{loss}") for loss in ALL_LOSSES}
    log("selected λ: " + ", ".join(f"{k} {v:g}" for k, v in lam_of.items()))
    # 3. final runs at the selected λ
    if stages in ("all", "final"):
        for loss in ALL_LOSSES:
            name = f"final-{loss}"
            records[name] = run_stage(name, runs_root / name,
                                      sweep_config(cfg, loss, "final", data_dir,
                                                   lams=(lam_of[loss],)),
                                      dataset, log=log, progress=progress)
    # 4. the original code's Gaussian-COREL, same grid
    if cfg.original_gaussian and stages in ("all", "final"):
        from gaussian_original import original_gaussian_objective

        name = f"sweep-{ORIGINAL}"
        records[name] = run_stage(name, runs_root / name,
                                  sweep_config(cfg, ORIGINAL, "sweep", data_dir), dataset,
                                  variant=ORIGINAL, objective_fn=original_gaussian_objective,
                                  log=log, progress=progress)
    train_wall = time.perf_counter() - t_start
    if stages != "all":
        return {"lam_of": lam_of, "stages": records}
    # 5. reports
    import report_repro

    return report_repro.write(cfg, runs_root=runs_root, out=out, lam_of=lam_of,
                              stages=records, command=command, train_wall_s=train_wall,
                              options=report_options, log=log)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", required=True, choices=sorted(SETTINGS))
    p.add_argument("--profile", default="cpu", help="paper or cpu (see experiments/configs)")
    p.add_argument("--data-dir", default=None,
                   help="data root (one folder per dataset) or the dataset's folder")
    p.add_argument("--out", default=None,
                   help="report folder (default experiments/results/<setting>)")
    p.add_argument("--runs", default=None,
                   help="run directories (default runs/reproduce/<setting>/<profile>)")
    p.add_argument("--stages", default="all", choices=("all", "sweep", "final"),
                   help="stop after the sweeps or the final runs (default: all, with reports)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    cfg = get_config(args.setting, args.profile)
    out = Path(args.out or HERE / "results" / args.setting)
    runs_root = Path(args.runs or Path("runs") / "reproduce" / args.setting / args.profile)
    command = "python " + " ".join(shlex.quote(a) for a in [
        os.path.relpath(__file__) if not os.path.isabs(sys.argv[0]) else sys.argv[0],
        *(argv if argv is not None else sys.argv[1:])])
    result = reproduce(cfg, data_dir=args.data_dir, runs_root=runs_root, out=out,
                       command=command, progress=not args.quiet, stages=args.stages)
    if args.stages == "all":
        print(f"wrote {out}/report.md")
    else:
        print(json.dumps(result["lam_of"]))
    return 0


# --------------------------------------------------------------------------- environment


def hardware() -> dict[str, Any]:
    """CPU model and core count (lscpu), memory, JAX version and backend."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0]}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu_model"] = fields.get("Model name", "")
        info["cpus"] = fields.get("CPU(s)", "")
        info["threads_per_core"] = fields.get("Thread(s) per core", "")
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    info["os_cpu_count"] = os.cpu_count()
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
