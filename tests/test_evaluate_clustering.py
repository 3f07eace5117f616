"""Tests for corel_jax.evaluate.clustering: constructed cases with known answers."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corel_jax.evaluate import (
    agreement,
    aligned_assignment,
    cluster,
    cluster_accuracy,
    cluster_scores,
    l2_normalize,
    prototype_accuracy,
    score_assignment,
    similarity_scores,
)


def blobs(n_per=50, k=4, d=8, spread=0.3, sep=10.0, seed=0):
    """k well-separated Gaussian blobs: class c centred at sep * e_c."""
    rng = np.random.default_rng(seed)
    centers = sep * np.eye(k, d)
    h = np.concatenate([c + spread * rng.normal(size=(n_per, d)) for c in centers])
    return h.astype(np.float32), np.repeat(np.arange(k), n_per)


# --------------------------------------------------------------------------- Hungarian accuracy


def test_cluster_accuracy_hand_computed():
    # class 0 -> cluster 0 (2 points), class 1 -> cluster 1 (3 points): 5 of 6 matched
    assert cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]) == pytest.approx(5 / 6)
    # The per-class majority map would send both classes to cluster 7 (6/7); Hungarian is
    # one-to-one: class 0 = {7,7,7}, class 1 = {7,7,7,8} -> 0->7 (3) + 1->8 (1) = 4/7
    assert cluster_accuracy([0, 0, 0, 1, 1, 1, 1], [7, 7, 7, 7, 7, 7, 8]) == pytest.approx(4 / 7)


def test_cluster_accuracy_more_clusters_than_classes():
    # 3 clusters, 2 classes: cluster 2's single point is unmatched and counts as an error
    assert cluster_accuracy([0, 0, 1, 1, 1], [0, 0, 1, 1, 2]) == pytest.approx(4 / 5)
    # fewer clusters than classes: class 2 gets no cluster
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]) == pytest.approx(4 / 6)


def test_aligned_assignment_and_agreement():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assignment = np.array([5, 5, 9, 9, 9, 1])  # 5->0, 9->1 (2 vs 1 for class 2), 1->2
    np.testing.assert_array_equal(aligned_assignment(labels, assignment), [0, 0, 1, 1, 1, 2])
    # the output layer predicts the true classes; the aligned clusters differ at point 4 only
    assert agreement(labels, assignment, [0, 0, 1, 1, 2, 2]) == pytest.approx(5 / 6)
    # unmatched clusters map to -1: 3 -> 0 (2 points), 5 -> 1, cluster 4 is left over
    np.testing.assert_array_equal(aligned_assignment([0, 0, 0, 1], [3, 3, 4, 5]), [0, 0, -1, 1])


@settings(max_examples=30, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=2, max_size=60),
    ids=st.permutations(list(range(-3, 97, 11))),
)
def test_perfect_clustering_scores_one_whatever_the_ids(labels, ids):
    labels = np.array(labels)
    if np.unique(labels).size < 2:
        labels[0], labels[1] = 0, 1
    # any injective renaming of the classes is a perfect clustering
    assignment = np.array([ids[c] for c in labels])
    h = np.eye(6, 3, dtype=np.float32)[labels] * 5 + 0.01 * np.arange(labels.size)[:, None]
    s = score_assignment(h, labels, assignment)
    assert (s.acc, s.ari, s.v_measure) == (1.0, pytest.approx(1.0), pytest.approx(1.0))


def test_random_assignment_has_ari_near_zero():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 5000)
    assignment = rng.integers(0, 10, 5000)
    h = rng.normal(size=(5000, 4)).astype(np.float32)
    s = score_assignment(h, labels, assignment, silhouette_sample=1000)
    assert abs(s.ari) < 0.01
    assert s.v_measure < 0.02
    # chance accuracy of the best one-to-one map is a little above 1/10
    assert 0.1 <= s.acc < 0.14
    assert abs(s.silhouette) < 0.05  # random labels: no cluster structure


# --------------------------------------------------------------------------- full pipeline


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_well_separated_blobs(method):
    h, y = blobs()
    s = cluster_scores(h, y, method)
    assert (s.acc, s.ari, s.v_measure) == (1.0, pytest.approx(1.0), pytest.approx(1.0))
    # intra-cluster distance ~ 0.3*sqrt(2*8) = 1.2, inter ~ 10*sqrt(2) = 14.1 -> sil ~ 0.9
    assert s.silhouette > 0.85


def test_overlapping_blobs_have_low_silhouette_and_accuracy():
    h, y = blobs(spread=4.0, sep=1.0)
    s = cluster_scores(h, y, "kmeans")
    assert s.silhouette < 0.2
    assert s.acc < 0.7
    assert s.ari < 0.3


def test_clusters_permuted_by_seed_still_score_one():
    h, y = blobs(k=5)
    scores = {cluster_scores(h, y, "kmeans", seed=s) for s in range(3)}
    assert all(x.acc == 1.0 for x in scores)
    a = cluster(h, 5, "kmeans", seed=0)
    b = cluster(h, 5, "kmeans", seed=0)
    np.testing.assert_array_equal(a, b)  # a fixed seed is reproducible


def test_n_clusters_defaults_to_number_of_classes_and_can_be_set():
    h, y = blobs(k=3)
    _, a = cluster_scores(h, y, "kmeans", return_assignment=True)
    assert np.unique(a).size == 3
    s, a = cluster_scores(h, y, "gmm", n_clusters=6, return_assignment=True)
    assert np.unique(a).size == 6
    assert s.acc < 1.0  # 6 clusters for 3 classes: split classes lose points


def test_normalize_recovers_directional_clusters():
    # Two classes along directions (1, 0) and (0, 1), with norms spread over 3 decades:
    # Euclidean K-Means splits by norm, K-Means on the unit circle splits by direction.
    rng = np.random.default_rng(0)
    r = 10 ** rng.uniform(-1, 2, 400)
    y = np.repeat([0, 1], 200)
    angle = np.where(y == 0, 0.0, np.pi / 2) + rng.normal(0, 0.05, 400)
    h = np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
    raw = cluster_scores(h, y, "kmeans")
    unit = cluster_scores(h, y, "kmeans", normalize=True)
    assert unit.acc == 1.0
    assert raw.acc < 0.9
    np.testing.assert_allclose(np.linalg.norm(l2_normalize(h), axis=1), 1.0)


def test_silhouette_sample_is_fixed_seed_and_close_to_full():
    h, y = blobs(n_per=300, k=3, spread=2.0, sep=5.0)
    full = cluster_scores(h, y, "kmeans", silhouette_sample=None)
    a = cluster_scores(h, y, "kmeans", silhouette_sample=200, seed=0)
    b = cluster_scores(h, y, "kmeans", silhouette_sample=200, seed=0)
    assert a.silhouette == b.silhouette
    assert a.silhouette != full.silhouette
    assert a.silhouette == pytest.approx(full.silhouette, abs=0.05)


def test_silhouette_cosine_metric():
    # direction-separated data: cosine silhouette high, and different from the Euclidean one
    h, y = blobs(k=3, spread=0.05, sep=1.0)
    h = h * np.random.default_rng(0).uniform(0.1, 10, size=(h.shape[0], 1)).astype(np.float32)
    a = score_assignment(h, y, y, silhouette_metric="cosine")
    b = score_assignment(h, y, y, silhouette_metric="euclidean")
    assert a.silhouette > 0.9
    assert b.silhouette < a.silhouette - 0.3


@pytest.mark.parametrize("cov", ["full", "tied", "diag", "spherical"])
def test_gmm_covariance_types(cov):
    h, y = blobs(k=3, d=4)
    assert cluster_scores(h, y, "gmm", covariance_type=cov).acc == 1.0


def test_single_cluster_silhouette_is_nan():
    s = score_assignment(np.arange(8.0).reshape(4, 2), [0, 0, 1, 1], [0, 0, 0, 0])
    assert np.isnan(s.silhouette)
    assert s.acc == 0.5 and s.ari == 0.0


# --------------------------------------------------------------------------- prototypes


def test_prototype_accuracy_per_similarity_hand_computed():
    W = np.array([[1.0, 0.1], [3.0, 3.0]])
    h = np.array([[2.0, 0.0], [10.0, 1.0]])
    y = np.array([0, 0])
    # dot: [2, 6] and [10.1, 33] -> class 1 twice
    assert prototype_accuracy(h, W, y, "dot") == 0.0
    # cosine: h0 is ~ along w0 (0.995 vs 0.707), h1 is exactly along w0 -> class 0 twice
    assert prototype_accuracy(h, W, y, "cosine") == 1.0
    # gaussian: squared distances [1.01, 10] -> 0; [81.81, 53] -> 1
    assert prototype_accuracy(h, W, y, "gaussian") == 0.5
    np.testing.assert_allclose(similarity_scores(h, W, "gaussian"), [[-1.01, -10], [-81.81, -53]])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"h": np.zeros(5)}, r"h must be a 2-D array"),
        ({"labels": np.zeros((5, 2), int)}, r"labels must be a 1-D array.*argmax"),
        ({"labels": np.zeros(4, int)}, r"labels has 4 entries but h has 5 rows"),
        ({"labels": np.array([0.5] * 5)}, r"integer class indices"),
        ({"method": "dbscan"}, r"method must be one of \('kmeans', 'gmm'\)"),
        ({"method": "gmm", "covariance_type": "ful"}, r"covariance_type must be one of"),
        ({"n_clusters": 6}, r"n_clusters must be between 1 and"),
        ({"n_init": 0}, r"n_init must be a positive integer"),
        ({"h": np.full((5, 2), np.nan)}, r"NaN or inf.*diverged"),
        ({"silhouette_metric": "nope"}, r"silhouette_metric 'nope'"),
    ],
)
def test_bad_input_raises_clear_value_error(kwargs, match):
    args = {"h": np.arange(10.0).reshape(5, 2), "labels": np.array([0, 0, 1, 1, 1])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cluster_scores(**args)


def test_prototype_shape_mismatch():
    with pytest.raises(ValueError, match=r"same feature size D"):
        prototype_accuracy(np.zeros((3, 2)), np.zeros((2, 3)), [0, 1, 0])
    with pytest.raises(ValueError, match=r"similarity must be one of"):
        prototype_accuracy(np.zeros((3, 2)), np.zeros((2, 2)), [0, 1, 0], "l2")


# --------------------------------------------------------------------------- no JAX


def test_importing_and_using_evaluate_does_not_import_jax():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import corel_jax.evaluate as ev
        import corel_jax.evaluate.cli
        assert "jax" not in sys.modules, "import corel_jax.evaluate imported jax"
        h = np.eye(4, 3)[np.arange(40) % 3] + 0.01 * np.arange(40)[:, None]
        ev.cluster_scores(h, np.arange(40) % 3, "kmeans")
        ev.cluster_scores(h, np.arange(40) % 3, "gmm")
        ev.compare_losses([{"setting": "s", "loss": "cce", "seed": 0, "test_acc": 0.5}])
        bad = sorted(m for m in sys.modules if m == "jax" or m.startswith(("jax.", "flax")))
        print("JAXMODULES", bad)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "JAXMODULES []" in out.stdout


def test_default_is_several_initialisations_and_n_init_still_applies(monkeypatch):
    import sklearn.cluster
    import sklearn.mixture

    seen = []

    def recording(cls):
        def make(**kwargs):
            # (only corel_jax's own calls: the mixture makes its K-Means initialisations too)
            if sys._getframe(1).f_globals["__name__"] == "corel_jax.evaluate.clustering":
                seen.append((cls.__name__, kwargs["n_init"]))
            return cls(**kwargs)

        return make

    monkeypatch.setattr(sklearn.cluster, "KMeans", recording(sklearn.cluster.KMeans))
    monkeypatch.setattr(sklearn.mixture, "GaussianMixture",
                        recording(sklearn.mixture.GaussianMixture))
    h, y = blobs()
    for method in ("kmeans", "gmm"):
        assert cluster_scores(h, y, method).acc == 1.0
        cluster(h, 4, method, n_init=2)
    assert seen == [("KMeans", 10), ("KMeans", 2), ("GaussianMixture", 5),
                    ("GaussianMixture", 2)]
