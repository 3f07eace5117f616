"""Fashion-MNIST, FFNN (two LeakyReLU layers of 500): the paper's ``fashion-mnist-mlp``.

Commands (from the repository root)::

    # cpu profile: ~30 min on 2 shared CPU cores (both FFNN settings together: about an hour)
    python experiments/reproduce.py --setting fashion-mnist-mlp --profile cpu \
        --data-dir ../shared/data
    # paper profile: up to 150 epochs, patience 30; ~6-8 h on 2 CPU cores (estimated from
    # the measured MNIST FFNN stages), spread over sessions with --commit
    python experiments/reproduce.py --setting fashion-mnist-mlp --profile paper \
        --data-dir DATA

The ``cpu`` profile keeps the paper's λ grid (20 values, 0.05 … 1.00), model, optimiser,
batch size and selection rule, and reduces only the training length and seeds:

- λ sweep: 3 epochs per run instead of 150 (1 seed per λ, as in the paper);
- final runs: 5 seeds × 10 epochs per loss instead of 10 seeds × 150 epochs.

That is (3·20 + 1 + 20) · 3 + 4 · 5 · 10 = 443 run-epochs (one run-epoch = 55,000 training
examples + 5,000 validation examples), about 2.5 s each on an idle 2-core AMD EPYC and 4-5 s
when the machine is shared.
"""

from . import image_mlp_cpu_profile, paper_profile

PAPER = paper_profile("fashion-mnist-mlp", "fashion_mnist", "mlp",
                      expected_runtime="~6-8 h on 2 AVX-512 CPU cores (estimated from the measured "
                                       "MNIST FFNN stages); a few hours on one GPU")
CPU = image_mlp_cpu_profile(PAPER)
PROFILES = {"paper": PAPER, "cpu": CPU}

#: the paper's best validation accuracy (%) at its tuned λ (supplement)
PAPER_BEST_VAL = {"center": 89.76, "cosine": 89.50, "gaussian": 89.74}
