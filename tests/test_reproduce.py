"""The reproduction pipeline (experiments/reproduce.py) end to end on a tiny digits setting.

λ sweep -> λ selection -> final seeds -> original-Gaussian sweep -> report; then a second
invocation that must reuse every finished stage instead of retraining it.
"""

import json
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

from corel_jax.loss_spec import Head  # noqa: E402
from corel_jax.losses import gaussian_corel  # noqa: E402
from corel_jax.similarity import sqdist  # noqa: E402

import reproduce  # noqa: E402
from configs import SETTINGS, ReproConfig, get_config, paper_best_val  # noqa: E402
from gaussian_original import original_gaussian_objective  # noqa: E402

TINY = ReproConfig(setting="digits-mlp", profile="test",
                   sweep=dict(dataset="digits", model="mlp", lams=(0.5, 0.9), seeds=(0, 1),
                              epochs=1, width=32, learn_gamma=False, patience=1),
                   final_seeds=(0, 1), final_epochs=2, learned_gamma_final=True,
                   full_stages=("sweep-cce",), sweep_part_size=1)


def selected_lams(store: Path) -> dict[str, float]:
    """Each sweep's λ by the documented rule, computed here from its stored ``runs.json``: the
    highest mean best validation accuracy over the sweep's seeds, ties to the smaller λ."""
    out = {}
    for d in sorted(store.glob("sweep-*")):
        by_lam: dict[float, list[float]] = {}
        for r in json.loads((d / "runs.json").read_text()):
            by_lam.setdefault(r["lam"], []).append(r["best_val_acc"])
        means = {lam: sum(v) / len(v) for lam, v in by_lam.items()}
        out[d.name.removeprefix("sweep-")] = min(lam for lam, m in means.items()
                                                 if m == max(means.values()))
    return out


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    logs: list[str] = []
    result = reproduce.reproduce(TINY, data_dir=None, runs_root=root / "runs",
                                 out=root / "out", command="pytest", log=logs.append,
                                 progress=False, store=root / "store")
    return root, result, logs


def test_pipeline_writes_the_report(repro):
    root, result, _ = repro
    out = root / "out"
    md = (out / "report.md").read_text()
    for section in ("## How it was run", "## Stages", "## Tuned λ", "## λ curves",
                    "## Open question: the Gaussian peak", "## Test accuracy (Table 2)",
                    "Paired two-tailed t-tests", "## Clustering of test representations"):
        assert section in md
    for png in ("fig2_lambda_vs_paper.png", "fig_gaussian_original.png",
                "evaluator/fig1_pca_digits-mlp.png"):
        assert (out / png).stat().st_size > 5000, png
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["lam_of"]) == {"cce", "center", "cosine", "gaussian", "gaussian_original"}
    # the λ of each loss is its sweep's best (not merely one of the grid)
    assert saved["lam_of"] == result["lam_of"] == selected_lams(root / "store")
    # every final run trained at its loss's selected λ, one per seed
    for loss in ("center", "cosine", "gaussian"):
        runs = json.loads((root / "runs" / f"final-{loss}" / "runs.json").read_text())
        assert [r["seed"] for r in runs] == [0, 1]
        assert {r["lam"] for r in runs} == {saved["lam_of"][loss]}
    # both Gaussian curves cover the grid
    curves = saved["curves"]
    assert [c["lam"] for c in curves["gaussian"]] == list(TINY.sweep["lams"])
    assert [c["lam"] for c in curves["gaussian_original"]] == list(TINY.sweep["lams"])


def test_second_invocation_reuses_finished_stages(repro):
    root, _, _ = repro
    logs: list[str] = []
    again = reproduce.reproduce(TINY, data_dir=None, runs_root=root / "runs",
                                out=root / "out2", command="pytest", log=logs.append,
                                progress=False, store=root / "store")
    # 4 sweeps (3 of them merged from 2 parts), the original's sweep, 4 finals, the learned-γ
    # final
    assert sum("skipped" in line for line in logs) == 10
    assert again["lam_of"] == selected_lams(root / "store")


def test_a_new_machine_continues_from_the_store(repro, tmp_path):
    """Only the store (what git holds) survives: every stage in it is skipped, a missing one
    is trained again, and the results equal the first invocation's."""
    import shutil

    root, first, _ = repro
    store = tmp_path / "store"
    shutil.copytree(root / "store", store)
    shutil.rmtree(store / "final-cosine")
    for d in store.rglob("*"):  # the store holds compact files only
        assert d.is_dir() or d.name in {
            "config.json", "runs.json", "runs.csv", "curves.csv", "stage.json",
            "clustering.csv"}, d
    merged = json.loads((store / "sweep-gaussian" / "runs.json").read_text())
    assert [r["lam"] for r in merged] == [lam for lam in TINY.sweep["lams"]
                                          for _ in TINY.sweep["seeds"]] and (
        store / "sweep-gaussian" / "part-2of2" / "runs.json").is_file()
    assert (store / "final-gaussian" / "clustering.csv").read_text().count("\n") == 3
    logs: list[str] = []
    result = reproduce.reproduce(TINY, data_dir=None, runs_root=tmp_path / "runs",
                                 out=tmp_path / "out", command="pytest", log=logs.append,
                                 progress=False, store=store, stages="final")
    assert sum("skipped" in line for line in logs) == 9
    assert any(line.startswith("[final-cosine] done") for line in logs)
    assert result["lam_of"] == first["lam_of"]
    a = json.loads((root / "store" / "final-cosine" / "runs.json").read_text())
    b = json.loads((store / "final-cosine" / "runs.json").read_text())
    assert [r["test_acc"] for r in a] == [r["test_acc"] for r in b]


def test_planning_lists_every_stage_and_trains_nothing(repro, tmp_path):
    """``--list`` (``plan_only``): every stage of the finished store is complete; against an
    empty store every stage is to train, and nothing is written."""
    root, _, _ = repro
    logs: list[str] = []
    done = reproduce.reproduce(TINY, data_dir=None, runs_root=tmp_path / "runs",
                               out=tmp_path / "out", command="pytest", log=logs.append,
                               progress=False, store=root / "store", plan_only=True)
    assert len(done["stages"]) == 10 and all(r is not None for r in done["stages"].values())
    logs.clear()
    todo = reproduce.reproduce(TINY, data_dir=None, runs_root=tmp_path / "runs",
                               out=tmp_path / "out", command="pytest", log=logs.append,
                               progress=False, store=tmp_path / "store", plan_only=True)
    # CCE's sweep; the other 3 and the original's, each 2 parts and their merge; the 4 finals
    # and the learned-γ final wait for their sweeps
    assert len(todo["stages"]) == 1 + 4 * 3 and not any(todo["stages"].values())
    assert todo["lam_of"] == {}
    assert sum("to train after sweep-" in line for line in logs) == 5
    assert not (tmp_path / "store").exists() and not (tmp_path / "runs").exists()


def test_a_stage_stored_with_the_older_variant_form_is_the_same_stage(repro, tmp_path):
    """The original code's Gaussian is the registered loss ``gaussian_original``; a stage
    stored when it was loss ``"gaussian"`` + ``"variant": "gaussian_original"`` is skipped
    as the same stage (``stage_store.upgrade``), and one of another loss is not."""
    import shutil

    from stage_store import read_record, seal

    root, _, _ = repro
    scfg = reproduce.sweep_config(TINY, "gaussian_original", "sweep", None, lams=(0.5,))
    assert scfg.loss == "gaussian_original"
    old = tmp_path / "part-1of2"
    shutil.copytree(root / "store" / "sweep-gaussian_original" / "part-1of2", old)
    rec = read_record(old)
    assert reproduce.stage_done(old, scfg) is not None
    sweep = {**rec["sweep"], "loss": "gaussian"}
    seal(old, {**rec, "variant": "gaussian_original", "sweep": sweep})
    assert reproduce.stage_done(old, scfg) is not None
    seal(old, {**rec, "variant": None, "sweep": sweep})  # the clean Gaussian's stage
    assert reproduce.stage_done(old, scfg) is None


def test_a_stage_stored_before_a_field_existed_is_complete_at_its_default(repro, tmp_path):
    """A record without the fields SweepConfig gained later (weight decay, augmentation) is
    the same stage as today's configuration at their defaults, and not at another value."""
    import dataclasses
    import shutil

    from stage_store import read_record, seal

    root, _, _ = repro
    scfg = reproduce.sweep_config(TINY, "cce", "sweep", None)
    old = tmp_path / "sweep-cce"
    shutil.copytree(root / "store" / "sweep-cce", old)
    rec = read_record(old)
    added = ("weight_decay", "decoupled_weight_decay", "augment_shift")
    seal(old, {**rec, "sweep": {k: v for k, v in rec["sweep"].items() if k not in added}})
    assert not set(added) & set(json.loads((old / "stage.json").read_text())["sweep"])
    assert reproduce.stage_done(old, scfg) is not None
    assert reproduce.stage_done(old, dataclasses.replace(scfg, weight_decay=1e-3)) is None


def test_stage_configs_follow_the_profile():
    full = reproduce.sweep_config(TINY, "cce", "sweep", None)
    assert full.patience is None and not full.learn_gamma
    assert reproduce.sweep_config(TINY, "cosine", "sweep", None).patience == 1
    learned = reproduce.sweep_config(TINY, "gaussian_learned", "final", None, lams=(0.5,))
    assert learned.learn_gamma and learned.loss == "gaussian"
    original = reproduce.sweep_config(TINY, "gaussian_original", "sweep", None)
    assert original.loss == "gaussian_original" and not original.learn_gamma
    paper = get_config("mnist-mlp", "paper")
    assert not paper.sweep["learn_gamma"] and paper.sweep["gamma"] == 0.5
    assert paper.learned_gamma_final
    final = reproduce.sweep_config(TINY, "cosine", "final", None, lams=(0.9,))
    assert (final.seeds, final.epochs, final.lams, final.save_representations) == (
        TINY.final_seeds, TINY.final_epochs, (0.9,), True)
    assert final.width == 32 and final.patience == 1  # the profile's sweep fields


def test_a_profile_sets_only_sweep_config_fields():
    """A profile's ``sweep`` is SweepConfig fields (the others at their defaults); a field a
    stage sets, or a name SweepConfig lacks, is an error naming it."""
    from corel_jax.train import SweepConfig

    assert TINY.sweep["batch_size"] == SweepConfig().batch_size
    assert TINY.replace(sweep={"epochs": 3}).sweep == {**TINY.sweep, "epochs": 3}
    for bad in ("loss", "widht"):
        with pytest.raises(ValueError, match=bad):
            TINY.replace(sweep={bad: 1})


def test_pick_lambda_takes_the_best_mean_not_the_first_or_smallest(tmp_path):
    """(The tiny pipeline's sweeps all select their smallest λ, so this rule is checked here
    too, on records where a larger λ wins and where two λ tie.)"""
    from corel_jax import rundir

    def runs(*accs):
        return [{"run": i, "seed": i % 2, "lam": lam, "best_epoch": 1, "best_val_acc": acc,
                 "test_acc": acc, "final_val_acc": acc, "diverged": False,
                 "diverged_epoch": None} for i, (lam, acc) in enumerate(accs)]

    d = tmp_path / "sweep-x"
    d.mkdir()
    rundir.write_runs(d, runs((0.5, 0.80), (0.5, 0.84), (0.9, 0.81), (0.9, 0.85), (0.7, 0.90),
                              (0.7, 0.60)))
    assert reproduce.pick_lambda(d) == selected_lams(tmp_path)["x"] == 0.9  # .82, .83, .75
    rundir.write_runs(d, runs((0.9, 0.8), (0.3, 0.7), (0.5, 0.8)))
    assert reproduce.pick_lambda(d) == selected_lams(tmp_path)["x"] == 0.5  # a tie: the smaller


def test_original_gaussian_is_clean_at_half_and_double_weighted_elsewhere():
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    W = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 0, 1, 2])
    head = Head(W=W, gamma=jnp.float32(0.7))
    np.testing.assert_allclose(original_gaussian_objective(h, head, y, lam=0.5),
                               gaussian_corel(h, W, y, lam=0.5, gamma=0.7), rtol=1e-6)
    lam, g = 0.8, 0.7
    d = np.asarray(sqdist(h, W), np.float64)
    expected = (lam**2 * g * d[np.arange(6), np.asarray(y)]
                + (1 - lam) ** 2 * np.log(np.exp(-g * d).sum(1) + 1e-10))
    np.testing.assert_allclose(original_gaussian_objective(h, head, y, lam=lam), expected,
                               rtol=1e-5)


def test_configs_cover_the_paper_settings():
    for setting in SETTINGS:
        paper, cpu = get_config(setting, "paper"), get_config(setting, "cpu")
        assert paper.sweep["epochs"] == paper.final_epochs == 150
        assert len(paper.final_seeds) == 10 and len(paper.sweep["lams"]) == 20
        assert cpu.reduced, f"{setting}: the cpu profile must say what it reduces"
        assert set(paper_best_val(setting)) == {"center", "cosine", "gaussian"}
    for setting in ("mnist-cnn", "fashion-mnist-cnn"):  # the CPU-affordable full curve
        curve = get_config(setting, "curve")
        assert len(curve.sweep["lams"]) == 20 and len(curve.final_seeds) == 10
        assert not curve.sweep["learn_gamma"]
        assert curve.sweep["epochs"] == curve.final_epochs < 150 and curve.reduced
    with pytest.raises(KeyError, match="no profile"):
        get_config("mnist-mlp", "fast")


def test_measure_trains_only_the_fully_trained_sweeps(tmp_path):
    logs: list[str] = []
    reproduce.reproduce(TINY, data_dir=None, runs_root=tmp_path / "runs", out=tmp_path / "out",
                        command="pytest", log=logs.append, progress=False,
                        store=tmp_path / "store", stages="measure")
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["sweep-cce"]


def test_commit_puts_each_stage_and_then_its_report_in_git(tmp_path, monkeypatch):
    """``--commit`` in a checkout whose report folder has a report: the stage's commit is
    followed by the rewritten report's, so the checkout is consistent between any two
    stages; the discussion being written is not committed, and nothing is left unstaged."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              text=True, check=True).stdout

    repo = tmp_path / "checkout"
    (repo / "out").mkdir(parents=True)
    (repo / "out" / "report.md").write_text("an older report\n")
    for k, v in (("NAME", "t"), ("EMAIL", "t@t")):
        monkeypatch.setenv(f"GIT_AUTHOR_{k}", v)
        monkeypatch.setenv(f"GIT_COMMITTER_{k}", v)
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    (repo / "out" / "discussion.md").write_text("half-written\n")
    logs: list[str] = []
    reproduce.reproduce(TINY, data_dir=None, runs_root=tmp_path / "runs", out=repo / "out",
                        command="pytest", log=logs.append, progress=False,
                        store=repo / "store", stages="measure", commit=True)
    subjects = git("log", "--format=%s").splitlines()
    assert len(subjects) == 3 and subjects[2] == "start", "\n".join(logs)
    assert subjects[1].startswith("reproduce: ") and "sweep-cce" in subjects[1]
    assert subjects[0] == "digits-mlp/test report regenerated: sweep-cce committed"
    shown = (repo / "out" / "report.md").read_text()
    assert "sweep-cce" in shown and "half-written" in shown
    assert git("status", "--porcelain").split() == ["??", "out/discussion.md"]


def test_checkpoints_of_another_configuration_are_discarded(tmp_path):
    """A stage interrupted under one configuration (here: another patience) is trained afresh
    under the new one instead of stopping on the old checkpoints."""
    from corel_jax.train.sweep import load_data

    scfg = reproduce.sweep_config(TINY, "cosine", "sweep", None)
    run_dir = tmp_path / "runs" / "sweep-cosine"
    (run_dir / "checkpoints" / "state").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({**scfg.to_dict(), "patience": 7}))
    logs: list[str] = []
    rec = reproduce.run_stage("sweep-cosine", run_dir, scfg, load_data(scfg), log=logs.append,
                              progress=False)
    assert any("discarding checkpoints" in line for line in logs)
    assert not rec["skipped"] and (run_dir / "runs.json").is_file()
    # again: complete in its run directory, so stored now ("stored": its report is stale),
    # then found in the store (nothing new)
    store = tmp_path / "store" / "sweep-cosine"
    for stored in (True, False):
        rec = reproduce.run_stage("sweep-cosine", run_dir, scfg, None, log=logs.append,
                                  progress=False, store=store)
        assert rec["skipped"] and rec["stored"] is stored


def test_curve_differences_leave_out_lambdas_at_chance(tmp_path):
    """The report's ours − paper range and median describe the curve: a λ where our runs
    ended at chance (within 2 points of 100/K) is counted apart, not folded into the median."""
    import report_repro

    cfg = get_config("mnist-mlp", "paper")
    paper = {lam: v for lam, (v, _) in report_repro.paper_curve("mnist-mlp", "gaussian").items()}

    def point(lam, acc):
        return {"lam": lam, "mean": acc, "std": 0.0, "n": 1, "diverged": 0,
                "diverged_epoch": None, "test_mean": acc, "best_epochs": [3]}

    curve = [point(0.05, 0.1014), point(0.5, paper[0.5] / 100 + 0.001),
             point(0.8, paper[0.8] / 100 - 0.003)]
    md = "\n".join(report_repro.section_curves(cfg, {"gaussian": curve}, {"gaussian": 0.5},
                                               tmp_path, num_classes=10))
    assert "from -0.30 to +0.10 points (median -0.10) over 2 λ (1 λ where ours is at chance " \
           "left out)" in md
    md = "\n".join(report_repro.section_curves(cfg, {"gaussian": curve}, {"gaussian": 0.5},
                                               tmp_path))  # K unknown: every λ counts
    assert "over 3 λ" in md


def test_curves_without_a_paper_curve_are_measured_against_its_tuned_value(tmp_path,
                                                                           monkeypatch):
    """Where the paper gives no λ curve (Fashion-MNIST CNN), the report says so and the figure
    draws the paper's best validation accuracy at its tuned λ as a line of that loss."""
    import report_repro

    drawn = {}
    real_plot = report_repro.plot_curves_vs_paper

    def spy(curves, setting, path, title, paper_best=None):
        drawn.update(paper_best or {})
        return real_plot(curves, setting, path, title, paper_best=paper_best)

    monkeypatch.setattr(report_repro, "plot_curves_vs_paper", spy)
    point = {"lam": 0.5, "mean": 0.92, "std": 0.0, "n": 1, "diverged": 0,
             "diverged_epoch": None, "test_mean": 0.91, "best_epochs": [9]}
    cfg = get_config("fashion-mnist-cnn", "curve")
    md = "\n".join(report_repro.section_curves(cfg, {"center": [point]}, {"center": 0.5},
                                               tmp_path, num_classes=10))
    assert "gives no curve for center, cosine, gaussian" in md
    assert "center 92.27 %" in md
    assert drawn == {"center": 92.27, "cosine": 92.24, "gaussian": 92.65}
    assert (tmp_path / "fig2_lambda_vs_paper.png").stat().st_size > 0

    drawn.clear()  # a setting with digitised curves plots those, not the tuned values
    md = "\n".join(report_repro.section_curves(get_config("mnist-cnn", "curve"),
                                               {"center": [point]}, {"center": 0.5}, tmp_path))
    assert "gives no curve" not in md and drawn == {}
