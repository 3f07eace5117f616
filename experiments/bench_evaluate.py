"""Benchmark of the evaluator's clustering (not a test): is it cheap next to a sweep?

Times :func:`corel_jax.evaluate.cluster_scores` on synthetic 10,000 x 500 representations
with 10 classes, for K-Means and GMM under several options, measures how much a clustering's
own initialisation moves its accuracy (same representations, several clustering seeds), then
measures the report's workload -- 4 losses x 10 seeds, both methods -- end to end with a single
initialisation per method (the defaults before 2026-11) and with the current defaults
(:data:`corel_jax.evaluate.clustering.DEFAULT_N_INIT`), and writes
``experiments/results/bench_evaluate.md``.

Synthetic representations: class centres ``c_k ~ sep * N(0, I_500)``, a class-specific
rank-20 spread ``A_k z`` and isotropic noise ``0.5 * N(0, I)``, passed through a ReLU (as a
final hidden layer would be). ``sep = 0.3`` clusters almost perfectly, ``sep = 0.15``
overlaps heavily (EM and Lloyd iterations take longer); the 4 "losses" of the end-to-end
run use ``sep`` = 0.3, 0.25, 0.2, 0.15.

    python experiments/bench_evaluate.py            # ~5 min on 2 shared cores
    python experiments/bench_evaluate.py --quick    # fewer repeats, 8 end-to-end runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from corel_jax.evaluate import cluster, cluster_scores, score_assignment
from corel_jax.evaluate.clustering import DEFAULT_N_INIT

import machine

N, D, K = 10_000, 500, 10  # --n / --d override N and D for a smoke test
RANK = 20


def make_representations(sep: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``h: [N, D]`` float32 and ``labels: [N]`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    centers = sep * rng.normal(size=(K, D))
    spread = rng.normal(size=(K, RANK, D)) / np.sqrt(RANK)
    y = rng.integers(0, K, N)
    z = rng.normal(size=(N, RANK))
    h = centers[y] + np.einsum("nr,nrd->nd", z, spread[y]) + 0.5 * rng.normal(size=(N, D))
    return np.maximum(h, 0.0).astype(np.float32), y


def environment() -> list[str]:
    import matplotlib
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    pools = ", ".join(
        f"{p['internal_api']} ({p.get('prefix', '')}, {p['num_threads']} threads)"
        for p in threadpool_info()
    )
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return [
        f"- CPU: {machine.describe()}; {usable} cores usable by this process",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, matplotlib "
        f"{matplotlib.__version__}",
        f"- Thread pools: {pools}",
    ]


def timed(fn, *args, **kwargs):
    """``(result, wall seconds, process CPU seconds)``; CPU time sums all threads, so
    CPU / wall near the thread count means the process had the cores to itself."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat, 8 end-to-end runs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_evaluate.md"))
    ap.add_argument("--n", type=int, default=N, help="points (default 10,000)")
    ap.add_argument("--d", type=int, default=D, help="dimensions (default 500)")
    args = ap.parse_args()
    globals().update(N=args.n, D=args.d)
    repeats = 1 if args.quick else 2
    e2e_runs = 8 if args.quick else 40
    warnings.filterwarnings("ignore", message=".*did not converge.*")
    load_start = os.getloadavg()
    t_all = time.perf_counter()

    # warm-up: imports, thread pools
    h, y = make_representations(0.3, 99)
    cluster(h[:2000], K, "kmeans")
    cluster(h[:2000], K, "gmm")

    # ---- A: clustering alone, per option and regime
    kd, gd_n = DEFAULT_N_INIT["kmeans"], DEFAULT_N_INIT["gmm"]
    options = [
        ("K-Means, n_init=1", "kmeans", {"n_init": 1}),
        ("K-Means, n_init=3", "kmeans", {"n_init": 3}),
        (f"K-Means, n_init={kd} (default)", "kmeans", {}),
        ("GMM diag, n_init=1", "gmm", {"covariance_type": "diag", "n_init": 1}),
        (f"GMM diag, n_init={gd_n} (default)", "gmm", {"covariance_type": "diag"}),
        ("GMM spherical, n_init=1", "gmm", {"covariance_type": "spherical", "n_init": 1}),
        ("GMM full, n_init=1", "gmm", {"covariance_type": "full", "n_init": 1}),
    ]
    rows_a = []
    sil_rows = []
    for sep in (0.3, 0.15):
        data = [make_representations(sep, s) for s in range(repeats)]
        for name, method, kw in options:
            times, cpus, accs, aris = [], [], [], []
            for h, y in data:
                a, t, c = timed(cluster, h, K, method, seed=0, **kw)
                s = score_assignment(h, y, a)
                times.append(t)
                cpus.append(c)
                accs.append(s.acc)
                aris.append(s.ari)
            rows_a.append((sep, name, statistics.median(times), max(times),
                           statistics.median(cpus), float(np.mean(accs)),
                           float(np.mean(aris))))
            print(f"sep={sep} {name}: {statistics.median(times):.2f} s, acc {np.mean(accs):.3f}",
                  file=sys.stderr, flush=True)
        # ---- B: silhouette, sampled vs all points, on the K-Means assignment
        h, y = data[0]
        a = cluster(h, K, "kmeans", seed=0, n_init=1)
        full, t_full, _ = timed(score_assignment, h, y, a, silhouette_sample=None)
        for sample in (2000, 5000):
            vals, ts = [], []
            for seed in range(3):
                s, t, _ = timed(score_assignment, h, y, a, silhouette_sample=sample, seed=seed)
                vals.append(s.silhouette)
                ts.append(t)
            sil_rows.append((sep, sample, statistics.median(ts), float(np.mean(vals)),
                             float(np.std(vals)), full.silhouette, t_full))

    # ---- N: the clustering's own initialisation noise: one h, several clustering seeds
    noise_sep, noise_seeds = 0.2, 5
    h, y = make_representations(noise_sep, 7)
    noise_rows = []
    for method, n_inits in (("kmeans", (1, kd)), ("gmm", (1, gd_n))):
        for n_init in n_inits:
            accs = [score_assignment(h, y, cluster(h, K, method, seed=s, n_init=n_init),
                                     silhouette_sample=2).acc for s in range(noise_seeds)]
            noise_rows.append((method, n_init, float(np.mean(accs)),
                               float(np.std(accs, ddof=1)), float(np.ptp(accs))))
            print(f"noise {method} n_init={n_init}: std {noise_rows[-1][3]:.4f}",
                  file=sys.stderr, flush=True)

    # ---- C: the report's workload, measured: 4 losses x 10 seeds, both methods, with one
    # initialisation per method (the defaults before) and with the current defaults
    # (interleaved run by run, so a change in the machine's load hits both alike)
    seps = (0.3, 0.25, 0.2, 0.15)
    settings = {"before: n_init=1 for both": 1,
                f"now: defaults (K-Means {kd}, GMM {gd_n})": None}
    workloads = {label: ([], 0.0) for label in settings}
    for i in range(e2e_runs):
        h, y = make_representations(seps[i % 4], 1000 + i)
        for label, n_init in settings.items():
            _, t_k, c_k = timed(cluster_scores, h, y, "kmeans", n_init=n_init)
            _, t_g, c_g = timed(cluster_scores, h, y, "gmm", n_init=n_init)
            per_run, cpu_total = workloads[label]
            workloads[label] = (per_run + [(seps[i % 4], t_k, t_g)], cpu_total + c_k + c_g)
            print(f"{label} run {i + 1}/{e2e_runs}: {t_k:.2f} + {t_g:.2f} s",
                  file=sys.stderr, flush=True)
    load_end = os.getloadavg()

    # ---- write
    md = ["# Evaluator clustering benchmark", "",
          f"`python experiments/bench_evaluate.py{' --quick' if args.quick else ''}`, run "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {time.perf_counter() - t_all:.0f} s in all.",
          "", "## Machine", ""] + environment() + [
          f"- Load average (1, 5, 15 min) at start {load_start[0]:.2f}, {load_start[1]:.2f}, "
          f"{load_start[2]:.2f}; at end {load_end[0]:.2f}, {load_end[1]:.2f}, "
          f"{load_end[2]:.2f}.",
          "- **The CPU is shared** with other engineers' jobs (tests, training) during the run: "
          "timings are wall-clock and may be inflated by contention; treat them as upper "
          "bounds for an idle machine of this size.", "",
          "## Data", "",
          f"Synthetic representations, N = {N:,} x D = {D}, K = {K} classes: centres "
          f"`sep * N(0, I)`, class-specific rank-{RANK} spread, noise `0.5 N(0, I)`, ReLU. "
          "`sep = 0.3` clusters almost perfectly; `sep = 0.15` overlaps heavily.", "",
          "## Clustering alone (no silhouette)", "",
          f"Median over {repeats} data seed(s) of the wall time of one `cluster(...)` call; "
          "Acc / ARI of the clustering against the true classes, mean over the same seeds.",
          "", "| sep | method / options | wall s (median) | wall s (max) | CPU s (median) "
          "| Acc | ARI |", "|---|---|---|---|---|---|---|"]
    md += [f"| {sep} | {name} | {t:.2f} | {tmax:.2f} | {c:.2f} | {acc:.3f} | {ari:.3f} |"
           for sep, name, t, tmax, c, acc, ari in rows_a]
    md += ["", "## Silhouette: fixed-seed sample vs all points", "",
           "Time of `score_assignment` (Acc, ARI, V-M and silhouette) on the K-Means "
           "assignment; the sampled silhouette's mean and std over sample seeds 0-2 against "
           f"the exact value on all {N:,} points.", "",
           "| sep | sample | s (median) | Sil. (mean ± std over 3 samples) | Sil. all points "
           "| s, all points |", "|---|---|---|---|---|---|"]
    md += [f"| {sep} | {n:,} | {t:.2f} | {m:.4f} ± {sd:.4f} | {full:.4f} | {tf:.2f} |"
           for sep, n, t, m, sd, full, tf in sil_rows]
    md += ["", "## Initialisation noise: one set of representations, several clustering seeds",
           "", f"`sep = {noise_sep}`, data seed 7; Acc of `cluster(h, {K}, method, seed=s, "
           f"n_init=...)` for clustering seeds s = 0..{noise_seeds - 1}. The std is what a "
           "single clustering adds to the spread across training seeds that the tables "
           "report.", "", "| method | n_init | Acc (mean) | Acc std over seeds | Acc range |",
           "|---|---|---|---|---|"]
    md += [f"| {m} | {n} | {a:.4f} | {sd:.4f} | {r:.4f} |" for m, n, a, sd, r in noise_rows]
    md += ["", "## The report's workload: 4 losses x 10 seeds, both methods", "",
           f"Measured: {e2e_runs} runs, each `cluster_scores(h, y, 'kmeans')` + "
           "`cluster_scores(h, y, 'gmm')` (GMM diag; silhouette on a 5,000-point fixed-seed "
           f"sample), `sep` cycling through {seps}; once with one initialisation per method "
           "(the defaults before) and once with the current defaults, interleaved run by run.", ""]
    totals = {}
    for label, (per_run, cpu_total) in workloads.items():
        k_mean = float(np.mean([k for _, k, _ in per_run]))
        g_mean = float(np.mean([g for _, _, g in per_run]))
        cluster_total = sum(k + g for _, k, g in per_run)
        totals[label] = cluster_total
        md += [f"- **{label}**: per run K-Means {k_mean:.2f} s, GMM {g_mean:.2f} s (means; "
               f"max run {max(k + g for _, k, g in per_run):.2f} s); total for {e2e_runs} "
               f"runs **{cluster_total:.0f} s** ({cluster_total / 60:.1f} min); process CPU "
               f"time {cpu_total:.0f} s (all threads)."
               + (f" Extrapolated to 40 runs: {cluster_total / e2e_runs * 40:.0f} s."
                  if e2e_runs != 40 else "")]
    (before, t_before), (now, t_now) = totals.items()
    md.append(f"- Now / before: {t_now / t_before:.1f}x the wall time.")
    cluster_total = t_now
    def row(sep, prefix):
        return next(r for r in rows_a if r[0] == sep and r[1].startswith(prefix))

    k1, k10 = row(0.15, "K-Means, n_init=1"), row(0.15, f"K-Means, n_init={kd}")
    k1s, k10s = row(0.3, "K-Means, n_init=1"), row(0.3, f"K-Means, n_init={kd}")
    gd = [row(sep, "GMM diag") for sep in (0.3, 0.15)]
    gf = [row(sep, "GMM full") for sep in (0.3, 0.15)]
    s5 = [r for r in sil_rows if r[1] == 5000]
    per = cluster_total / e2e_runs
    md += ["", "## Reading", "",
           f"- Evaluating one run (both methods, all scores, current defaults) costs "
           f"{per:.1f} s of wall time on "
           f"average here, so 40 runs cost {per * 40 / 60:.1f} min. How that compares with "
           "training is not measured here (the training engine is benchmarked separately); "
           "for evaluation to dominate, a whole training run would have to take under "
           f"{per:.0f} s.",
           f"- GMM covariance: 'diag' (default) took {gd[0][2]:.2f} / {gd[1][2]:.2f} s "
           f"(separated / overlapping data) against {gf[0][2]:.2f} / {gf[1][2]:.2f} s for "
           f"'full', with Acc {gd[0][5]:.3f} / {gd[1][5]:.3f} against {gf[0][5]:.3f} / "
           f"{gf[1][5]:.3f}. 'full' fits {K} x {D} x {D + 1} / 2 = {K * D * (D + 1) // 2:,} "
           f"covariance parameters from ~{N // K:,} points per class (rank-deficient when "
           "there are fewer points than D(D+1)/2, held up by `reg_covar`) at "
           "O(N K D^2) per EM step instead of O(N K D). 'spherical' is cheap but clusters "
           "worse. Default: 'diag'.",
           f"- K-Means restarts: on the overlapping data n_init={kd} took {k10[2]:.1f} s "
           f"against {k1[2]:.1f} s for n_init=1, for Acc {k10[5]:.3f} vs {k1[5]:.3f}; on the "
           f"separated data {k10s[2]:.1f} s vs {k1s[2]:.1f} s for Acc {k10s[5]:.3f} vs "
           f"{k1s[5]:.3f}. Default: n_init={kd} for K-Means and {gd_n} for the GMM "
           "(initialisation noise above); `--n-init` (or `n_init=`) sets both.",
           "- Silhouette on a 5,000-point fixed-seed sample (default) differs from the exact "
           "value by "
           + " / ".join(f"{abs(r[3] - r[5]):.4f}" for r in s5)
           + " and costs "
           + " / ".join(f"{r[2]:.2f} s against {r[6]:.2f} s" for r in s5)
           + f" for all {N:,} points (the exact value is O(N^2 D)).", ""]
    raw = {"clustering": rows_a, "silhouette": sil_rows, "init_noise": noise_rows,
           "end_to_end": {k: v[0] for k, v in workloads.items()},
           "end_to_end_cpu_s": {k: v[1] for k, v in workloads.items()},
           "load_start": load_start, "load_end": load_end}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    Path(args.out).write_text("\n".join(md))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
