"""Tests for corel_jax.evaluate.stats: mean +- std, the paired t-test and compare_losses."""

import math

import numpy as np
import pytest
from scipy.stats import ttest_rel

from corel_jax.evaluate import compare_losses, mean_std, paired_ttest, significance_marker


def records(setting, per_loss):
    """{loss: [value per seed 0, 1, ...]} -> compare_losses records."""
    return [
        {"setting": setting, "loss": loss, "seed": seed, "test_acc": v}
        for loss, vals in per_loss.items()
        for seed, v in enumerate(vals)
    ]


def test_mean_std_is_sample_std():
    m, s = mean_std([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert s == pytest.approx(math.sqrt(5 / 3))  # sum of squares 5, n - 1 = 3
    m, s = mean_std([0.7, float("nan")])  # NaN (e.g. a missing score) is ignored
    assert m == 0.7 and math.isnan(s)
    assert all(math.isnan(x) for x in mean_std([]))


def test_paired_ttest_hand_computed():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641; with 2 d.o.f. the
    # t CDF is 1/2 + t / (2 sqrt(2 + t^2)), so p = 1 - t / sqrt(2 + t^2) = 1 - sqrt(12/14)
    t, p, n = paired_ttest({0: 11.0, 1: 22.0, 2: 33.0}, {0: 10.0, 1: 20.0, 2: 30.0})
    assert n == 3
    assert t == pytest.approx(2 * math.sqrt(3))
    assert p == pytest.approx(1 - math.sqrt(12 / 14))


@pytest.mark.parametrize("seed", range(5))
def test_paired_ttest_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.9, 0.01, 10)
    b = a - rng.normal(0.003, 0.004, 10)
    t, p, n = paired_ttest(dict(enumerate(a)), dict(enumerate(b)))
    ref = ttest_rel(a, b)
    assert n == 10
    assert t == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-12)


def test_paired_ttest_pairs_by_seed_not_by_position():
    a = {3: 0.95, 1: 0.91, 2: 0.90, 7: 0.5}  # seed 7 has no partner: dropped
    b = {1: 0.90, 2: 0.88, 3: 0.92, 9: 0.1}
    t, p, n = paired_ttest(a, b)
    ref = ttest_rel([0.91, 0.90, 0.95], [0.90, 0.88, 0.92])
    assert n == 3
    assert (t, p) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))


def test_paired_ttest_undefined_cases():
    assert all(math.isnan(x) for x in paired_ttest({0: 1.0}, {0: 0.0})[:2])  # one pair
    t, p, n = paired_ttest({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5})  # constant difference
    assert n == 2 and math.isnan(t) and math.isnan(p)
    with pytest.raises(ValueError, match=r"\{seed: value\} mappings"):
        paired_ttest([1.0, 2.0], [0.0, 1.0])


def test_significance_markers():
    assert significance_marker(0.0099) == "**"
    assert significance_marker(0.01) == "*"
    assert significance_marker(0.0499) == "*"
    assert significance_marker(0.05) == ""
    assert significance_marker(float("nan")) == ""


def test_compare_losses_best_runner_up_and_markers():
    recs = records("mnist-mlp", {
        "cce": [0.980, 0.981, 0.979, 0.982],
        "gaussian": [0.986, 0.986, 0.984, 0.987],  # best, consistently above cosine
        "cosine": [0.983, 0.983, 0.982, 0.984],
    })
    recs += records("fashion-cnn", {
        "cce": [0.90, 0.92, 0.91],
        "cosine": [0.91, 0.91, 0.92],  # best by mean, not significantly
    })
    out = compare_losses(recs)
    assert list(out) == ["mnist-mlp", "fashion-cnn"]
    m = out["mnist-mlp"]
    assert list(m.losses) == ["cce", "cosine", "gaussian"]  # the paper's order
    assert (m.best, m.runner_up, m.n_pairs) == ("gaussian", "cosine", 4)
    ref = ttest_rel([0.986, 0.986, 0.984, 0.987], [0.983, 0.983, 0.982, 0.984])
    assert m.p == pytest.approx(ref.pvalue)
    assert m.p < 0.01 and m.marker == "**"
    assert m.losses["gaussian"].mean == pytest.approx(0.98575)
    assert m.losses["gaussian"].std == pytest.approx(np.std([0.986, 0.986, 0.984, 0.987],
                                                            ddof=1))
    f = out["fashion-cnn"]
    assert (f.best, f.runner_up) == ("cosine", "cce")
    # differences 0.01, -0.01, 0.01: mean 1/300, sd 0.011547, t = 0.5, p = 0.6667 (2 d.o.f.)
    assert f.t == pytest.approx(0.5)
    assert f.p == pytest.approx(1 - 0.5 / math.sqrt(2.25))
    assert f.marker == ""


def test_compare_losses_lower_is_better_and_single_loss():
    out = compare_losses(records("s", {"cce": [0.3, 0.2], "center": [0.1, 0.15]}),
                         higher_is_better=False)
    assert out["s"].best == "center"
    one = compare_losses(records("s", {"cce": [0.9, 0.8]}))["s"]
    assert one.best == "cce" and one.runner_up is None and math.isnan(one.p)


def test_compare_losses_marks_only_a_best_that_beats_the_runner_up():
    # "a" is best by mean over its six seeds, but on the three seeds both losses share it is
    # significantly *below* "b" (t < 0, p < 0.01): no marker for a best that is worse.
    recs = records("s", {"a": [0.90, 0.91, 0.92, 1.0, 1.0, 1.0], "b": [0.93, 0.94, 0.951]})
    c = compare_losses(recs)["s"]
    assert (c.best, c.runner_up, c.n_pairs) == ("a", "b", 3)
    assert c.t < 0 and c.p < 0.01 and c.marker == ""
    # The same, lower-is-better: best "a" has the lower mean but is significantly higher on
    # the shared seeds.
    recs = records("s", {"a": [0.10, 0.09, 0.08, 0.0, 0.0, 0.0], "b": [0.07, 0.06, 0.049]})
    c = compare_losses(recs, higher_is_better=False)["s"]
    assert (c.best, c.runner_up) == ("a", "b") and c.t > 0 and c.p < 0.01 and c.marker == ""
    # And a best that is significantly better on the shared seeds keeps its marker.
    c = compare_losses(records("s", {"a": [0.90, 0.91, 0.92], "b": [0.80, 0.81, 0.821]}))["s"]
    assert c.t > 0 and c.marker == "**"
    c = compare_losses(records("s", {"a": [0.10, 0.11, 0.12], "b": [0.20, 0.21, 0.221]}),
                       higher_is_better=False)["s"]
    assert c.t < 0 and c.marker == "**"


def test_compare_losses_bad_records():
    with pytest.raises(ValueError, match=r"seed 0 twice.*single lambda"):
        compare_losses(records("s", {"cce": [0.9]}) * 2)
    with pytest.raises(ValueError, match=r"missing \['test_acc'\]"):
        compare_losses([{"setting": "s", "loss": "cce", "seed": 0}])
