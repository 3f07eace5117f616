"""MNIST, FFNN (two LeakyReLU layers of 500): the paper's ``mnist-mlp`` setting.

Commands (from the repository root)::

    # cpu profile: ~30 min on 2 shared CPU cores (both FFNN settings together: about an hour)
    python experiments/reproduce.py --setting mnist-mlp --profile cpu --data-dir ../shared/data
    # paper profile: up to 150 epochs; ~8 h on 2 CPU cores (measured: see the report's
    # stage table), spread over sessions with --commit
    python experiments/reproduce.py --setting mnist-mlp --profile paper --data-dir DATA

The ``cpu`` profile keeps the paper's λ grid (20 values, 0.05 … 1.00), model, optimiser,
batch size and selection rule, and reduces only the training length and seeds:

- λ sweep: 3 epochs per run instead of 150 (1 seed per λ, as in the paper);
- final runs: 5 seeds × 10 epochs per loss instead of 10 seeds × 150 epochs.

That is (3·20 + 1 + 20) · 3 + 4 · 5 · 10 = 443 run-epochs (one run-epoch = 55,000 training
examples + 5,000 validation examples), about 2.5 s each on an idle 2-core AMD EPYC and 4-5 s
when the machine is shared.
"""

from . import image_mlp_cpu_profile, paper_profile

#: the λ sweeps of CCE, Cosine and Gaussian train all 150 epochs: they are the measurement
#: that chooses the early-stopping patience of every other stage and setting
MEASURED_STAGES = ("sweep-cce", "sweep-cosine", "sweep-gaussian")
PAPER = paper_profile("mnist-mlp", "mnist", "mlp", full_stages=MEASURED_STAGES,
                      expected_runtime="~8 h on 2 AVX-512 CPU cores (measured: 7.3 h for the five "
                                       "sweeps and four finals, three sweeps in full); "
                                       "a few hours on one GPU")
CPU = image_mlp_cpu_profile(PAPER)
PROFILES = {"paper": PAPER, "cpu": CPU}

#: the paper's best validation accuracy (%) at its tuned λ (supplement)
PAPER_BEST_VAL = {"center": 98.39, "cosine": 97.38, "gaussian": 97.89}
