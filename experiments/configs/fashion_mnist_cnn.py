"""Fashion-MNIST, image CNN (convs 15/30/60, 3×3, LeakyReLU, 2×2 max-pool; dense 500-500):
the paper's ``fashion-mnist-cnn`` setting.

Commands (from the repository root)::

    # cpu profile: ~20 min on 2 shared CPU cores
    python experiments/reproduce.py --setting fashion-mnist-cnn --profile cpu \
        --data-dir ../shared/data
    # paper profile: 150 epochs; for a GPU
    python experiments/reproduce.py --setting fashion-mnist-cnn --profile paper --data-dir DATA

On 2 idle CPU cores one CNN run-epoch (55,000 + 5,000 images) takes ~10.5 s with 10 runs in
one program (``experiments/results/bench_vs_pytorch.md``; 20-40 s on a shared machine), ~5× an
FFNN run-epoch; 11.7-12.1 s with 4 runs per program in mnist-cnn's ``curve`` sweeps. The
``curve`` profile runs the paper's protocol (20 λ × 1 seed, 10 final seeds, γ fixed) at 10
epochs per run, 4-5 h (the stages' wall times: 5.0 h
for mnist-cnn, 4.0 h for fashion-mnist-cnn)::

    python experiments/reproduce.py --setting fashion-mnist-cnn --profile curve \
        --data-dir ../shared/data --commit

The ``cpu`` profile is much thinner than the FFNN's; it keeps the model, optimiser, batch
size and selection rule, and reduces:

- λ grid: 4 values (0.25, 0.5, 0.75, 1.0) instead of 20 (0.05 … 1.00), 1 epoch per run
  instead of 150; the original-code Gaussian variant is not swept (the FFNN settings answer
  that question);
- final runs: 3 seeds × 3 epochs per loss instead of 10 seeds × 150 epochs.

That is (3·4 + 1) · 1 + 4 · 3 · 3 = 49 run-epochs.
"""

from . import image_cnn_cpu_profile, image_cnn_curve_profile, paper_profile

PAPER = paper_profile("fashion-mnist-cnn", "fashion_mnist", "cnn",
                      expected_runtime="a few hours on one GPU; weeks on 2 CPU cores")
CPU = image_cnn_cpu_profile(PAPER)
CURVE = image_cnn_curve_profile(PAPER)
PROFILES = {"paper": PAPER, "cpu": CPU, "curve": CURVE}

#: the paper's best validation accuracy (%) at its tuned λ (supplement)
PAPER_BEST_VAL = {"center": 92.27, "cosine": 92.24, "gaussian": 92.65}
