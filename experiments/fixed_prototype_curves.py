"""Fixed-prototype λ curves: Cosine- and Gaussian-COREL with ``W`` left at its init (issue 35).

The hypothesis under test: the large-λ collapse of Cosine- and Gaussian-COREL comes from
training the prototypes ``W``; with ``W`` fixed at its random init
(:func:`corel_jax.loss_spec.fixed_prototypes`) there is no collapse. Each setting's
trained-prototype 20-λ curve is already committed as its ``sweep-cosine`` / ``sweep-gaussian``
stage; this script trains the fixed-prototype variant of each as a stage whose configuration
is *that stage's configuration with only the loss changed* (``cosine`` -> ``cosine_fixed_w``,
``gaussian`` -> ``gaussian_fixed_w``): the same λ grid, seed, epochs, early stopping (none
where the profile trains the sweep in full), γ fixed or learned as the profile has it.

Stages, in the order they run (``experiments/results/<setting>/<profile>/stages/<stage>/``,
the layout of ``experiments/reproduce.py``; a curve is trained in parts of the profile's
``sweep_part_size`` λ values, each a stage of its own under ``<stage>/part-XofY``, then
merged, as ``reproduce.py`` does for its sweeps):

1. ``mnist-mlp`` ``paper``: ``curve-cosine_fixed_w``, ``curve-gaussian_fixed_w`` (20 λ, seed 0);
2. ``mnist-mlp`` ``paper``: ``seeds3-cosine``, ``seeds3-cosine_fixed_w``, ``seeds3-gaussian``,
   ``seeds3-gaussian_fixed_w``: λ ∈ {0.5, 0.9, 1.0} × seeds 0, 1, 2, trained and fixed
   prototypes (one part per λ);
3. ``fashion-mnist-mlp`` ``paper``, 4. ``ag-news-mlp`` ``paper``, 5. ``mnist-cnn`` ``curve``,
   6. ``fashion-mnist-cnn`` ``curve``, 7. ``ag-news-cnn`` ``paper``: ``curve-cosine_fixed_w``,
   ``curve-gaussian_fixed_w``.

A stage already in its store with the same configuration is skipped; an interrupted one resumes
from its last checkpoint while its run directory is there (``runs/fixed_prototype_curves/...``,
git-ignored, so on the machine that ran it;
about every 10 minutes). With ``--commit`` each finished stage (each part, then the merged
curve) is committed by itself (``git commit --only <store>``, nothing else), then the setting's
report, rewritten to show it (:func:`refresh_report`).

Command (from the repository root)::

    nice -n 19 python experiments/fixed_prototype_curves.py --data-dir ../shared/data --commit

The stages committed in issue 35 ran from a snapshot of the committed code (the working tree
was being edited at the time), with the store in the checkout::

    mkdir -p /tmp/corel_head && git archive HEAD corel_jax experiments | tar -x -C /tmp/corel_head
    cp experiments/fixed_prototype_curves.py /tmp/corel_head/experiments/
    PYTHONPATH=/tmp/corel_head nice -n 19 python \\
        /tmp/corel_head/experiments/fixed_prototype_curves.py --data-dir ../shared/data \\
        --commit --store-root "$PWD/experiments/results" \\
        --runs "$PWD/runs/fixed_prototype_curves"

``--only`` picks stages and runs them in the order given
(``mnist-mlp:curve-cosine_fixed_w,mnist-mlp:seeds3-gaussian``);
``--list`` prints the plan. A smoke test (2 λ, 1 epoch, into /tmp, no commit)::

    python experiments/fixed_prototype_curves.py --data-dir ../shared/data --only \\
        mnist-mlp:curve-cosine_fixed_w --lams 0.5,1.0 --epochs 1 --part-size 1 \\
        --store-root /tmp/fixed_smoke/results --runs /tmp/fixed_smoke/runs

Runtime: one MNIST FFNN part (4 λ × 150 epochs = 600 run-epochs) took 34 min (2,027 s,
3.4 s per run-epoch) at ``nice -n 19`` on 2 AVX-512 cores shared with another user's tests
(``curve-cosine_fixed_w/part-1of5``); under heavier load the next part ran at ~0.8
epochs per minute (~19 s per run-epoch). So one 20-λ MNIST FFNN curve (trained in full) is
~2-3 h on 2 lightly shared cores (the trained ``sweep-cosine``: 3,000 run-epochs in 109 min
idle). Measured at ``nice -n 19`` on 2 AVX-512 cores: Fashion-MNIST CNN (``curve``, 10 epochs)
45 and 43 min per curve; MNIST CNN (``curve``) 42 and 39 min; Fashion-MNIST FFNN (``paper``,
patience 30) 52 and 45 min; AG News FFNN (``paper``, early stopping) 6 and 5 min; AG News CNN
(``paper``, patience 30) 39 and 36 min recorded (a resumed part records its last session
only; by the commit times about 56 and 40 min of wall time); the 3-seed
MNIST FFNN stages 29–175 min each (the longest under heavier load). The whole plan takes well
over half a day on 2 CPU cores. Each stage's ``stage.json`` records its ``wall_s`` (the time of
the last session only, for a stage that was resumed).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import reproduce  # noqa: E402
from configs import get_config  # noqa: E402

LOSSES = ("cosine", "gaussian")
SEEDS3_LAMS = (0.5, 0.9, 1.0)
SEEDS3 = (0, 1, 2)
#: (setting, profile) in the order they run: each setting's trained curve's profile
SETTINGS = (("mnist-mlp", "paper"), ("fashion-mnist-mlp", "paper"), ("ag-news-mlp", "paper"),
            ("mnist-cnn", "curve"), ("fashion-mnist-cnn", "curve"), ("ag-news-cnn", "paper"))


@dataclasses.dataclass(frozen=True)
class Job:
    """One stage: ``loss`` (a paper loss) trained with fixed prototypes or not, on ``lams`` ×
    ``seeds`` (None: the profile's sweep grid and seeds), in parts of ``part_size`` λ."""

    setting: str
    profile: str
    stage: str
    loss: str
    fixed: bool
    lams: tuple[float, ...] | None = None
    seeds: tuple[int, ...] | None = None

    @property
    def key(self) -> str:
        return f"{self.setting}:{self.stage}"


def plan() -> list[Job]:
    jobs = []
    for setting, profile in SETTINGS:
        jobs += [Job(setting, profile, f"curve-{loss}_fixed_w", loss, True) for loss in LOSSES]
        if setting == "mnist-mlp":
            jobs += [Job(setting, profile, f"seeds3-{loss}{'_fixed_w' * fixed}", loss, fixed,
                         lams=SEEDS3_LAMS, seeds=SEEDS3)
                     for loss in LOSSES for fixed in (False, True)]
    return jobs


def register_fixed() -> None:
    from corel_jax import loss_spec

    for loss in LOSSES:
        loss_spec.LOSSES.register(loss_spec.fixed_prototypes(loss), replace=True)


def stage_config(job: Job, data_dir: str | None, lams=None, epochs: int | None = None):
    """The trained curve's stage config (``reproduce.sweep_config`` of ``sweep-<loss>``,
    so ``full_stages`` and the patience are the trained stage's), with the loss swapped for
    its fixed-prototype variant, and the λ / seeds of ``job``."""
    cfg = get_config(job.setting, job.profile)
    scfg = reproduce.sweep_config(cfg, job.loss, "sweep", data_dir,
                                  lams=lams or job.lams or cfg.sweep["lams"])
    kw = {}
    if job.fixed:
        kw["loss"] = f"{job.loss}_fixed_w"
    if job.seeds is not None:
        kw["seeds"] = job.seeds
    if epochs is not None:
        kw["epochs"] = epochs
    return dataclasses.replace(scfg, **kw)


def run_job(job: Job, *, data_dir, store_root: Path, runs_root: Path, commit: bool,
            dataset_cache: dict, lams=None, epochs=None, part_size=None, progress=False,
            log=print) -> dict:
    """Trains ``job``'s stage in parts (each a :func:`reproduce.run_stage`), merges them into
    the stage's store and commits it; returns the stage record."""
    cfg = get_config(job.setting, job.profile)
    store = store_root / job.setting / job.profile / "stages" / job.stage
    runs = runs_root / job.setting / job.profile
    full = stage_config(job, data_dir, lams, epochs)
    done = reproduce.stage_done(store, full)
    if done is not None:
        log(f"[{job.key}] complete in {store} ({done['wall_s'] / 60:.0f} min when run); skipped")
        return {**done, "skipped": True}
    if job.setting not in dataset_cache:
        from corel_jax.train.sweep import load_data

        dataset_cache.clear()  # one dataset in memory at a time
        dataset_cache[job.setting] = load_data(
            reproduce.sweep_config(cfg, "cce", "sweep", data_dir))
    dataset = dataset_cache[job.setting]
    if part_size is None:
        part_size = 1 if job.seeds is not None and len(job.seeds) > 1 else \
            (cfg.sweep_part_size or len(full.lams))
    if len(full.lams) <= part_size:
        rec = reproduce.run_stage(job.stage, runs / job.stage, full, dataset, log=log,
                                  progress=progress, store=store, commit=commit)
        if commit and reproduce.new_in_store(rec):
            refresh_report(job, store_root, job.stage, log)
        return rec
    parts = [full.lams[i:i + part_size] for i in range(0, len(full.lams), part_size)]
    dirs, records = [], []
    for i, part in enumerate(parts):
        name = f"{job.stage}/part-{i + 1}of{len(parts)}"
        records.append(reproduce.run_stage(
            name, runs / name, dataclasses.replace(full, lams=tuple(part)), dataset, log=log,
            progress=progress, store=store_root / job.setting / job.profile / "stages" / name,
            commit=commit))
        dirs.append(store_root / job.setting / job.profile / "stages" / name)
        if commit and reproduce.new_in_store(records[-1]):
            refresh_report(job, store_root, name, log)
    rec = reproduce.merge_parts(dirs, store, full, records)
    log(f"[{job.key}] merged {len(parts)} parts into {store} "
        f"({rec['wall_s'] / 60:.0f} min of training)")
    if commit:
        reproduce.commit_store(store, f"fixed prototypes: {job.setting} {job.profile} "
                                      f"{job.stage} (merged; {rec['wall_s'] / 60:.0f} min)", log)
        refresh_report(job, store_root, f"{job.stage} (merged)", log)
    return rec


def refresh_report(job: Job, store_root: Path, stage: str, log=print) -> None:
    """:func:`reproduce.refresh_report` for ``job``'s setting (its report beside its stages)."""
    out = store_root / job.setting / job.profile
    reproduce.refresh_report(get_config(job.setting, job.profile), store=out / "stages",
                             out=out, stage=stage, log=log)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--data-dir", default=None,
                   help="data root (one folder per dataset), e.g. ../shared/data")
    p.add_argument("--only", default=None,
                   help="comma-separated SETTING:STAGE, run in the order given "
                        "(default: the whole plan, in its order)")
    p.add_argument("--list", action="store_true", help="print the plan and exit")
    p.add_argument("--commit", action="store_true",
                   help="git-commit each stage's store (each part, then the merge) when written")
    p.add_argument("--store-root", type=Path, default=HERE / "results",
                   help="folder of <setting>/<profile>/stages (default experiments/results)")
    p.add_argument("--runs", type=Path, default=Path("runs") / "fixed_prototype_curves",
                   help="run directories and checkpoints (default runs/fixed_prototype_curves)")
    p.add_argument("--lams", default=None, help="smoke tests: comma-separated λ instead")
    p.add_argument("--epochs", type=int, default=None, help="smoke tests: epochs per run")
    p.add_argument("--part-size", type=int, default=None,
                   help="λ per part (default: the profile's sweep_part_size; 1 for seeds3)")
    p.add_argument("--progress", action="store_true", help="progress bars")
    args = p.parse_args(argv)
    jobs = plan()
    if args.only:
        keys = args.only.split(",")
        unknown = set(keys) - {j.key for j in jobs}
        if unknown:
            p.error(f"unknown stages {sorted(unknown)}; choose from "
                    f"{', '.join(j.key for j in jobs)}")
        by_key = {j.key: j for j in jobs}
        # in the order given, so the cheaper settings can go first on a shared machine
        jobs = [by_key[k] for k in dict.fromkeys(keys)]
    if args.list:
        for j in jobs:
            print(f"{j.key} ({j.profile}; loss {j.loss}{', fixed W' * j.fixed}"
                  + (f"; λ {j.lams}, seeds {j.seeds}" if j.lams else "") + ")")
        return 0
    if args.commit and (args.lams or args.epochs):
        p.error("--commit is for the real stages, not smoke tests (--lams/--epochs)")
    register_fixed()
    lams = tuple(float(x) for x in args.lams.split(",")) if args.lams else None
    log = lambda *a: print(time.strftime("%H:%M:%S"), *a, flush=True)
    cache: dict = {}
    from corel_jax.train import preemption

    for job in jobs:
        try:
            rec = run_job(job, data_dir=args.data_dir, store_root=args.store_root,
                          runs_root=args.runs, commit=args.commit, dataset_cache=cache,
                          lams=lams, epochs=args.epochs, part_size=args.part_size,
                          progress=args.progress, log=log)
        except preemption.Preempted as e:  # the parts finished before it are stored
            return preemption.exit_status(e, prog=f"fixed_prototype_curves [{job.key}]",
                                          resume=reproduce.command_line(__file__, argv))
        log(f"[{job.key}] {'skipped' if rec.get('skipped') else 'finished'}; "
            f"{rec['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
