"""Tests for corel_jax.evaluate.report / plots / cli on a tiny real sweep.

The training engine is not used: the fixture writes run directories with the
:mod:`corel_jax.rundir` writers from real data (scikit-learn's digits), with simple
representations (a fixed random projection per loss, plus per-seed noise), prototypes =
class means on the training part, and predictions = argmax similarity. The lead engineer
adds an engine-driven test separately.
"""

import argparse
import csv
import json
import math

import numpy as np
import pytest
from scipy.stats import ttest_rel

from corel_jax import rundir
from corel_jax.errors import ConfigError, MissingDataError
from corel_jax.evaluate import ReportOptions, load_sweeps, select_lambda, write_report
from corel_jax.evaluate import cli as report_cli
from corel_jax.evaluate.clustering import similarity_scores

SEEDS = (0, 1)
LAMS = (0.1, 0.5)
EPOCHS = 3
# setting -> losses; one run dir per (setting, loss)
SWEEPS = {"digits-mlp": ("cce", "cosine", "gaussian"), "digits-wide": ("cce", "gaussian")}
# the lambda each sweep should select (its best_val_acc is made highest below)
BEST_LAM = {"cce": 0.5, "cosine": 0.1, "gaussian": 0.5}


def _make_sweep(root, setting, loss, x_tr, y_tr, x_te, y_te):
    """Writes one run dir; returns {(seed, lam): test_acc} (the ground truth)."""
    d = root / f"{setting}-{loss}"
    width = 24 if setting == "digits-mlp" else 40
    proj = np.random.default_rng([width, len(loss)]).normal(size=(x_tr.shape[1], width))
    records, truth = [], {}
    val = np.zeros((len(SEEDS) * len(LAMS), EPOCHS))
    for run, (seed, lam) in enumerate((s, lam) for s in SEEDS for lam in LAMS):
        rng = np.random.default_rng([seed, int(lam * 10), width])
        noise = 0.5 if lam == BEST_LAM[loss] else 1.5
        h_tr = np.tanh(x_tr @ proj / 8) + 0.05 * rng.normal(size=(x_tr.shape[0], width))
        h_te = np.tanh(x_te @ proj / 8) + noise * 0.1 * rng.normal(size=(x_te.shape[0], width))
        w = np.stack([h_tr[y_tr == k].mean(0) for k in range(10)])
        pred = similarity_scores(h_te, w, rundir.similarity_of({"loss": loss})).argmax(1)
        test_acc = float(np.mean(pred == y_te))
        truth[(seed, lam)] = test_acc
        best_val = 0.9 - (0.0 if lam == BEST_LAM[loss] else 0.05) + 0.01 * seed
        val[run] = best_val - np.array([0.2, 0.05, 0.0])
        records.append({"run": run, "seed": seed, "lam": lam, "best_epoch": EPOCHS,
                        "best_val_acc": best_val, "test_acc": test_acc,
                        "final_val_acc": best_val, "diverged": False, "diverged_epoch": None})
        rundir.write_run_arrays(d, run, test_h=h_te.astype(np.float32),
                                test_pred=pred.astype(np.int32),
                                prototypes=w.astype(np.float32))
    rundir.write_config(d, {"dataset": "digits", "model": setting.split("-")[1], "loss": loss,
                            "setting": setting, "seeds": list(SEEDS), "lams": list(LAMS),
                            "epochs": EPOCHS, "num_classes": 10, "num_runs": len(records)})
    rundir.write_runs(d, records)
    rundir.write_curves(d, np.ones_like(val), val)
    rundir.write_test_labels(d, y_te)
    return d, truth


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float64)
    x_tr, y_tr, x_te, y_te = x[:1200], y[:1200], x[1200:], y[1200:]
    root = tmp_path_factory.mktemp("sweep")
    dirs, truth = [], {}
    for setting, losses in SWEEPS.items():
        for loss in losses:
            d, t = _make_sweep(root, setting, loss, x_tr, y_tr, x_te, y_te)
            dirs.append(d)
            truth[(setting, loss)] = t
    return {"root": root, "dirs": dirs, "truth": truth, "labels": y_te}


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    written = write_report(sweep["dirs"], out, ReportOptions(pca_points=400))
    return {"out": out, "written": written}


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- loading


def test_load_sweeps_groups_and_selects_lambda(sweep):
    sweeps = load_sweeps([sweep["root"]])  # a folder of run dirs is searched
    assert [(s.setting, s.loss) for s in sweeps] == [
        ("digits-mlp", "cce"), ("digits-mlp", "cosine"), ("digits-mlp", "gaussian"),
        ("digits-wide", "cce"), ("digits-wide", "gaussian")]
    for s in sweeps:
        assert s.lams == list(LAMS)
        assert len(s.runs) == 4
        assert select_lambda(s.runs) == BEST_LAM[s.loss]


def test_duplicate_runs_across_dirs_are_rejected(sweep, tmp_path):
    import shutil

    d = sweep["dirs"][0]
    assert len(load_sweeps([d, sweep["root"]])) == 5  # the same dir twice counts once
    shutil.copytree(d, tmp_path / "copy")
    with pytest.raises(ConfigError, match=r"seed 0, lambda 0.1 appears in both"):
        load_sweeps([d, tmp_path / "copy"])


def test_missing_dirs_raise_missing_data_error(tmp_path):
    with pytest.raises(MissingDataError, match=r"does not exist"):
        load_sweeps([tmp_path / "nope"])
    with pytest.raises(MissingDataError, match=r"holds none"):
        load_sweeps([tmp_path])


# --------------------------------------------------------------------------- tables


def test_files_written(report):
    names = set(report["written"])
    expected = {"report.md", "table2_accuracy.csv", "accuracy_summary.csv",
                "accuracy_runs.csv", "lambda_curve.csv", "table3_clustering.csv",
                "clustering_summary.csv", "clustering_runs.csv"}
    for setting in SWEEPS:
        expected |= {f"fig1_pca_{setting}.png", f"fig2_lambda_{setting}.png",
                     f"val_curves_{setting}.png"}
    assert names == expected
    for name in names:
        assert (report["out"] / name).stat().st_size > 100


def test_table2_layout_and_values(sweep, report):
    rows = read_csv(report["out"] / "table2_accuracy.csv")
    assert list(rows[0]) == ["Loss", "digits-mlp", "digits-wide"]  # columns = settings
    assert [r["Loss"] for r in rows] == ["cce", "cosine", "gaussian"]  # rows = losses
    by_loss = {r["Loss"]: r for r in rows}
    assert by_loss["cosine"]["digits-wide"] == ""  # no cosine sweep in that setting
    for (setting, loss), truth in sweep["truth"].items():
        accs = [truth[(s, BEST_LAM[loss])] for s in SEEDS]
        cell = by_loss[loss][setting]
        expected = f"{100 * np.mean(accs):.2f} ± {100 * np.std(accs, ddof=1):.2f}"
        assert cell.startswith(expected), (cell, expected)
        assert cell.endswith(f"(λ={BEST_LAM[loss]:g})")


def test_accuracy_summary_ttest_matches_scipy(sweep, report):
    rows = read_csv(report["out"] / "accuracy_summary.csv")
    for setting in SWEEPS:
        mine = [r for r in rows if r["setting"] == setting]
        best = [r for r in mine if r["best"] == "True"]
        assert len(best) == 1
        b = best[0]
        means = {r["loss"]: float(r["mean"]) for r in mine}
        assert means[b["loss"]] == max(means.values())
        a_vals = [sweep["truth"][(setting, b["loss"])][(s, BEST_LAM[b["loss"]])] for s in SEEDS]
        r_vals = [sweep["truth"][(setting, b["runner_up"])][(s, BEST_LAM[b["runner_up"]])]
                  for s in SEEDS]
        ref = ttest_rel(a_vals, r_vals)
        # the fixture's data make the test defined: the paired differences are not constant
        assert np.ptp(np.subtract(a_vals, r_vals)) > 0 and math.isfinite(ref.pvalue)
        assert float(b["p"]) == pytest.approx(ref.pvalue, rel=1e-9)
        assert float(b["t"]) == pytest.approx(ref.statistic, rel=1e-9)
        assert int(b["n_pairs"]) == len(SEEDS)


def test_lambda_curve_csv(report):
    rows = read_csv(report["out"] / "lambda_curve.csv")
    assert len(rows) == 5 * len(LAMS)
    for r in rows:
        best = BEST_LAM[r["loss"]]
        expected = 0.9 - (0.0 if float(r["lam"]) == best else 0.05) + 0.005  # mean over seeds
        assert float(r["mean_best_val_acc"]) == pytest.approx(expected)
        assert (r["selected"] == "True") == (float(r["lam"]) == best)


def _scores_by_hand(h, labels, pred, method, normalize):
    """The report's documented clustering (K = 10 clusters, seed 0; K-Means with 10
    initialisations, a diagonal Gaussian mixture with 5; rows L2-normalised for cosine losses)
    scored here with scikit-learn and scipy: Hungarian-aligned accuracy, ARI, V-measure,
    silhouette, and the agreement of the aligned clusters with the output layer's ``pred``."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score, v_measure_score
    from sklearn.mixture import GaussianMixture

    if normalize:
        h = h / np.linalg.norm(h, axis=1, keepdims=True)
    if method == "kmeans":
        assignment = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(h)
    else:
        assignment = GaussianMixture(n_components=10, covariance_type="diag", n_init=5,
                                     random_state=0).fit(h).predict(h)
    counts = np.zeros((10, 10), int)
    np.add.at(counts, (assignment, labels), 1)  # [cluster, class]
    clusters, classes = linear_sum_assignment(counts, maximize=True)
    to_class = dict(zip(clusters, classes))
    aligned = np.array([to_class[c] for c in assignment])
    return {"acc": np.mean(aligned == labels), "ari": adjusted_rand_score(labels, assignment),
            "v_measure": v_measure_score(labels, assignment),
            "silhouette": silhouette_score(h, assignment), "agreement": np.mean(aligned == pred)}


def test_clustering_runs_and_tables(sweep, report):
    rows = read_csv(report["out"] / "clustering_runs.csv")
    assert len(rows) == 5 * len(SEEDS)  # selected lambda only
    dirs = {d.name: d for d in sweep["dirs"]}
    for r in rows:
        truth = sweep["truth"][(r["setting"], r["loss"])][(int(r["seed"]), float(r["lam"]))]
        assert float(r["proto_acc"]) == pytest.approx(truth)  # output layer = test_pred
        # the row's scores are those of its own run's representations
        d = dirs[f"{r['setting']}-{r['loss']}"]
        (run,) = [x["run"] for x in rundir.load_runs(d)
                  if (x["seed"], x["lam"]) == (int(r["seed"]), float(r["lam"]))]
        h = rundir.load_run_array(d, run, "test_h")
        pred = rundir.load_run_array(d, run, "test_pred")
        for m in ("kmeans", "gmm"):
            expected = _scores_by_hand(h, sweep["labels"], pred, m, r["loss"] == "cosine")
            for k, v in expected.items():
                assert float(r[f"{m}_{k}"]) == pytest.approx(v, abs=1e-6), (r["setting"],
                                                                            r["loss"], m, k)
    table = read_csv(report["out"] / "table3_clustering.csv")
    assert list(table[0])[:5] == ["Setting", "Loss", "λ", "n", "Proto Acc"]
    assert "K-Means Acc" in table[0] and "GMM Sil." in table[0]
    assert len(table) == 5


def test_report_markdown(report):
    text = (report["out"] / "report.md").read_text()
    assert "## Test accuracy (Table 2)" in text
    assert "| Loss | digits-mlp | digits-wide |" in text
    assert "## Clustering of test representations (Tables 3–4)" in text
    assert "| Loss | λ | n | Proto Acc | K-Means Acc |" in text
    assert "normalize=auto" in text
    for setting in SWEEPS:
        assert f"(fig1_pca_{setting}.png)" in text


def test_pngs_are_nontrivial_images(report):
    import matplotlib.image as mpimg

    pngs = [n for n in report["written"] if n.endswith(".png")]
    assert len(pngs) == 3 * len(SWEEPS)
    for name in pngs:
        path = report["out"] / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
        colours = np.unique(img[..., :3].reshape(-1, 3), axis=0).shape[0]
        assert colours > 50, f"{name} has only {colours} distinct colours"


# --------------------------------------------------------------------------- edge cases


def test_diverged_run_and_missing_predictions(sweep, tmp_path):
    import shutil

    d = tmp_path / "div"
    shutil.copytree(sweep["dirs"][1], d)  # digits-mlp, cosine (selected lambda 0.1)
    runs = rundir.load_runs(d)
    sel = [r for r in runs if r["lam"] == BEST_LAM["cosine"]]
    h = rundir.load_run_array(d, sel[0]["run"], "test_h")
    h[0, 0] = np.nan
    rundir.write_run_arrays(d, sel[0]["run"], test_h=h)
    rundir.run_array_path(d, sel[1]["run"], "test_pred").unlink()
    out = tmp_path / "out"
    write_report([d], out, ReportOptions(methods=("kmeans",), plots=False))
    rows = {int(r["seed"]): r for r in read_csv(out / "clustering_runs.csv")}
    assert "non-finite" in rows[sel[0]["seed"]]["note"]
    assert rows[sel[0]["seed"]]["kmeans_acc"] == "nan"
    # proto accuracy recomputed from the prototypes with the cosine similarity = test_acc
    assert float(rows[sel[1]["seed"]]["proto_acc"]) == pytest.approx(sel[1]["test_acc"])
    assert rows[sel[1]["seed"]]["kmeans_agreement"] == "nan"  # no predictions to agree with
    assert "non-finite test_h" in (out / "report.md").read_text()
    assert not list(out.glob("*.png"))


def test_write_report_messages_are_log_records(sweep, tmp_path, caplog, capsys):
    """From Python, write_report's progress and warnings are INFO and WARNING records of the
    ``corel_jax.evaluate.report`` logger (nothing printed); an incomplete run directory left
    out is a warning naming it."""
    import logging
    import shutil

    folder = tmp_path / "runs"
    shutil.copytree(sweep["dirs"][1], folder / "done")
    shutil.copytree(sweep["dirs"][1], folder / "cut")
    (folder / "cut" / rundir.RUNS_JSON).unlink()
    assert not rundir.is_complete(folder / "cut")
    with caplog.at_level(logging.INFO, logger="corel_jax"):
        write_report([folder], tmp_path / "out", ReportOptions(methods=("kmeans",),
                                                               plots=False),
                     skip_incomplete=True)
    records = [r for r in caplog.records if r.name == "corel_jax.evaluate.report"]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert warnings == [f"warning: leaving out {folder / 'cut'}: incomplete (still running, "
                        "or interrupted)"]
    assert any(r.levelno == logging.INFO and "seed" in r.getMessage() for r in records)
    assert capsys.readouterr() == ("", "")


def test_report_options_validation():
    with pytest.raises(ConfigError, match=r"methods must be"):
        ReportOptions(methods=("kmedoids",))
    with pytest.raises(ConfigError, match=r"normalize must be one of"):
        ReportOptions(normalize="yes")
    assert ReportOptions().normalizes("cosine") and not ReportOptions().normalizes("cce")
    assert ReportOptions(normalize="always").normalizes("cce")


# --------------------------------------------------------------------------- CLI


def _parse(argv):
    p = argparse.ArgumentParser()
    report_cli.add_arguments(p)
    return p.parse_args(argv)


def test_cli_writes_report(sweep, tmp_path, capsys):
    out = tmp_path / "cli"
    args = _parse([str(sweep["dirs"][0]), str(sweep["dirs"][2]), "--out", str(out),
                   "--methods", "kmeans", "--no-plots", "--silhouette-sample", "all", "-q"])
    assert report_cli.run(args) == 0
    assert (out / "report.md").is_file()
    rows = read_csv(out / "table2_accuracy.csv")
    assert [r["Loss"] for r in rows] == ["cce", "gaussian"]
    assert "gmm_acc" not in read_csv(out / "clustering_runs.csv")[0]
    assert "wrote" in capsys.readouterr().out


def test_cli_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="--n-init: expected a positive integer, got 0"):
        report_cli.run(_parse([str(tmp_path), "--out", str(tmp_path), "--n-init", "0"]))
    with pytest.raises(SystemExit):  # argparse's own check of a fixed list of choices
        _parse([str(tmp_path), "--out", str(tmp_path), "--methods", "dbscan"])
    with pytest.raises(MissingDataError):
        report_cli.run(_parse([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]))


def test_corel_jax_cli_report_one_line_error(tmp_path, capsys):
    from corel_jax import cli

    status = cli.main(["report", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("corel-jax report: error:") and "\n" not in err


def test_config_json_is_untouched(sweep, report):
    # the report reads run dirs and never writes into them
    for d in sweep["dirs"]:
        assert json.loads((d / "config.json").read_text())["num_classes"] == 10
        assert not (d / "report.md").exists()
