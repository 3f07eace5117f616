"""Clustering scores of learned representations (numpy / scikit-learn / scipy, no JAX).

The paper (Kenyon-Dean et al. 2019, Tables 3-4) clusters the test-set representations
``h`` with K-Means and a Gaussian mixture, ``K`` = number of classes, and reports accuracy
(Acc, cluster ids aligned to classes), the adjusted Rand index (ARI), the V-measure (V-M)
and the silhouette (Sil.) of the cluster assignment. It leaves several choices open; here
they are options of :func:`cluster_scores`:

``normalize``
    L2-normalise each row of ``h`` before clustering (and before the silhouette). Sensible
    for cosine spaces, where only directions carry meaning. Default ``False``.
``silhouette_metric``
    The distance of the silhouette: ``"euclidean"`` (default) or ``"cosine"`` (or any metric
    :func:`sklearn.metrics.silhouette_score` accepts).
``silhouette_sample``
    The silhouette costs ``O(N^2 D)``; when ``N`` exceeds this it is computed on a sample of
    this many points drawn with ``seed`` (fixed, so reruns agree). ``None``: all points.
    Default 5,000.
``n_init``
    Initialisations of K-Means (the best inertia wins) or of the mixture's EM (the best
    likelihood wins). ``None`` (default): :data:`DEFAULT_N_INIT`, 10 for K-Means
    (scikit-learn's classic default) and 5 for the mixture (each of its initialisations is
    itself a K-Means run). A single initialisation would put its own luck into the spread of
    the scores across training seeds (see ``experiments/results/bench_evaluate.md``).
``covariance_type``
    The mixture's covariance (``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``). Default
    ``"diag"``: at ``D = 500`` ``"full"`` has 10 x 125,250 covariance parameters per class
    set and is much slower (see ``experiments/results/bench_evaluate.md``).
``max_iter``
    Iterations of K-Means / EM (scikit-learn defaults 300 / 100 if ``None``).

Beside the clustering accuracy, :func:`prototype_accuracy` gives the accuracy of the learned
prototypes (argmax similarity of ``h`` to the head's class rows ``W``), so the paper's claim
that clustering matches the output layer can be read off directly, and :func:`agreement`
the fraction of points where the aligned cluster and the output layer agree.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

METHODS = ("kmeans", "gmm")
SIMILARITIES = ("dot", "cosine", "gaussian")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: Initialisations per clustering when ``n_init`` is None: the best of several, so the
#: clustering's own initialisation adds little to the spread of scores across runs.
DEFAULT_N_INIT = {"kmeans": 10, "gmm": 5}


class ClusterScores(NamedTuple):
    """Scores of one clustering of ``h`` against the true labels (all floats).

    ``acc``: accuracy after aligning cluster ids to classes (Hungarian algorithm), in [0, 1].
    ``ari``: adjusted Rand index (0 for chance, 1 for a perfect clustering).
    ``v_measure``: V-measure (harmonic mean of homogeneity and completeness), in [0, 1].
    ``silhouette``: mean silhouette of the cluster assignment, in [-1, 1]; NaN when the
    assignment has a single cluster.
    """

    acc: float
    ari: float
    v_measure: float
    silhouette: float


# --------------------------------------------------------------------------- input checks


def check_representations(h: Any, name: str = "h") -> np.ndarray:
    """``h`` as a finite float ``[N, D]`` array, or a ``ValueError`` saying what is wrong."""
    h = np.asarray(h)
    if h.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of representations [N, D]; got shape {h.shape} "
            f"(reshape to (N, -1) for feature maps)"
        )
    if not (np.issubdtype(h.dtype, np.floating) or np.issubdtype(h.dtype, np.integer)):
        raise ValueError(f"{name} must hold numbers; got dtype {h.dtype}")
    if h.shape[0] == 0 or h.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {h.shape}); it needs N >= 1 rows and D >= 1")
    h = h.astype(np.float64 if h.dtype == np.float64 else np.float32, copy=False)
    if not np.all(np.isfinite(h)):
        raise ValueError(
            f"{name} holds NaN or inf ({int((~np.isfinite(h)).sum())} entries); a diverged run "
            f"cannot be clustered -- drop it or report it as diverged"
        )
    return h


def check_labels(labels: Any, n: int | None = None, name: str = "labels") -> np.ndarray:
    """``labels`` as an integer ``[N]`` array, or a ``ValueError`` saying what is wrong."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of integer class indices [N]; got shape {labels.shape}"
            f" (for one-hot labels pass labels.argmax(-1))"
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer class indices; got dtype {labels.dtype}")
    if n is not None and labels.shape[0] != n:
        raise ValueError(
            f"{name} has {labels.shape[0]} entries but h has {n} rows; pass one label per row"
        )
    return labels.astype(np.int64, copy=False)


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def l2_normalize(h: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``h: [N, D]`` scaled to unit L2 norm (zero rows stay zero).

    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    norms = np.linalg.norm(h, axis=1, keepdims=True)
    return h / np.maximum(norms, eps)


# --------------------------------------------------------------------------- scores


def cluster_accuracy(labels: Any, assignment: Any) -> float:
    """Accuracy of a cluster assignment after the best one-to-one map of clusters to classes.

    ``labels: [N]`` true classes, ``assignment: [N]`` cluster ids (any integers). The map
    maximises the number of matched points (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`, on the contingency table). When there are
    more clusters than classes (or fewer), the unmatched clusters' points count as errors.

    >>> cluster_accuracy([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 9, 9])
    1.0
    >>> cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1])
    0.8333333333333334
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    labels = check_labels(labels)
    assignment = check_labels(assignment, labels.shape[0], name="assignment")
    if labels.size == 0:
        raise ValueError("labels is empty; cluster_accuracy needs at least one point")
    table = contingency_matrix(labels, assignment)  # [classes, clusters]
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / labels.shape[0])


def aligned_assignment(labels: Any, assignment: Any) -> np.ndarray:
    """Cluster ids ``[N]`` renamed to the class each is matched to (Hungarian algorithm).

    Points in clusters left unmatched (more clusters than classes) get ``-1``.

    >>> aligned_assignment([0, 0, 1, 1], [7, 7, 4, 4])
    array([0, 0, 1, 1])
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    labels = check_labels(labels)
    assignment = check_labels(assignment, labels.shape[0], name="assignment")
    classes = np.unique(labels)
    clusters, inverse = np.unique(assignment, return_inverse=True)
    table = contingency_matrix(labels, assignment)
    rows, cols = linear_sum_assignment(table, maximize=True)
    mapping = np.full(clusters.shape[0], -1, dtype=np.int64)
    mapping[cols] = classes[rows]
    return mapping[inverse]


def similarity_scores(h: Any, prototypes: Any, similarity: str = "dot") -> np.ndarray:
    """Similarity ``[N, K]`` of each representation ``h: [N, D]`` to each prototype ``[K, D]``.

    ``"dot"``: ``h @ W.T`` (the CCE / center-loss logits, bias ignored). ``"cosine"``: dot
    product of L2-normalised rows. ``"gaussian"``: ``-||h - w||^2`` (monotone in
    ``exp(-gamma ||h - w||^2)`` for any ``gamma > 0``, so the argmax is the same).
    """
    _check_choice(similarity, SIMILARITIES, "similarity")
    h = check_representations(h)
    w = check_representations(prototypes, name="prototypes")
    if h.shape[1] != w.shape[1]:
        raise ValueError(
            f"h and prototypes must have the same feature size D: h is {h.shape} and prototypes "
            f"is {w.shape} (prototypes holds one row per class, [K, D])"
        )
    if similarity == "cosine":
        return l2_normalize(h) @ l2_normalize(w).T
    if similarity == "gaussian":
        return -(
            (h * h).sum(1, keepdims=True) - 2.0 * (h @ w.T) + (w * w).sum(1)[None, :]
        )
    return h @ w.T


def prototype_accuracy(h: Any, prototypes: Any, labels: Any, similarity: str = "dot") -> float:
    """Accuracy of the learned prototypes: class = argmax similarity of ``h`` to each row of W.

    ``h: [N, D]``, ``prototypes: [K, D]`` (row ``k`` is class ``k``), ``labels: [N]``.
    ``similarity`` is the output layer's (see :func:`similarity_scores`;
    a run directory records it, see :func:`corel_jax.rundir.similarity_of`).

    >>> W = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> prototype_accuracy([[2.0, 0.1], [0.3, 1.0], [1.0, 0.9]], W, [0, 1, 1])
    0.6666666666666666
    """
    h = check_representations(h)
    labels = check_labels(labels, h.shape[0])
    pred = similarity_scores(h, prototypes, similarity).argmax(axis=1)
    return float(np.mean(pred == labels))


def agreement(labels: Any, assignment: Any, predictions: Any) -> float:
    """Fraction of points whose aligned cluster (see :func:`aligned_assignment`) equals the
    output layer's prediction ``predictions: [N]``.

    >>> agreement([0, 0, 1, 1], [3, 3, 8, 8], [0, 1, 1, 1])
    0.75
    """
    aligned = aligned_assignment(labels, assignment)
    predictions = check_labels(predictions, aligned.shape[0], name="predictions")
    return float(np.mean(aligned == predictions))


def score_assignment(
    h: Any,
    labels: Any,
    assignment: Any,
    *,
    silhouette_metric: str = "euclidean",
    silhouette_sample: int | None = 5000,
    seed: int = 0,
) -> ClusterScores:
    """Acc, ARI, V-measure and silhouette of ``assignment: [N]`` (cluster ids) of ``h: [N, D]``.

    ``h`` is used as given (normalise it first if wanted); the silhouette is computed on
    ``silhouette_sample`` points drawn with ``seed`` when ``N`` is larger (``None``: all).
    """
    from sklearn.metrics import adjusted_rand_score, silhouette_score, v_measure_score

    h = check_representations(h)
    labels = check_labels(labels, h.shape[0])
    assignment = check_labels(assignment, h.shape[0], name="assignment")
    if silhouette_sample is not None and int(silhouette_sample) < 2:
        raise ValueError(f"silhouette_sample must be >= 2 or None; got {silhouette_sample}")
    n_clusters = np.unique(assignment).shape[0]
    if 2 <= n_clusters < h.shape[0]:
        sample = None
        if silhouette_sample is not None and h.shape[0] > int(silhouette_sample):
            sample = int(silhouette_sample)
        try:
            sil = float(
                silhouette_score(
                    h, assignment, metric=silhouette_metric, sample_size=sample,
                    random_state=seed,
                )
            )
        except ValueError as e:
            if "metric" in str(e).lower():
                raise ValueError(
                    f"silhouette_metric {silhouette_metric!r} is not a metric scikit-learn "
                    f"knows; use 'euclidean' or 'cosine' ({e})"
                ) from e
            sil = float("nan")  # the sample drew a single cluster
    else:
        sil = float("nan")
    return ClusterScores(
        acc=cluster_accuracy(labels, assignment),
        ari=float(adjusted_rand_score(labels, assignment)),
        v_measure=float(v_measure_score(labels, assignment)),
        silhouette=sil,
    )


def cluster(
    h: Any,
    n_clusters: int,
    method: str = "kmeans",
    *,
    seed: int = 0,
    n_init: int | None = None,
    covariance_type: str = "diag",
    max_iter: int | None = None,
) -> np.ndarray:
    """Cluster ids ``[N]`` of ``h: [N, D]`` from K-Means or a Gaussian mixture.

    ``method``: ``"kmeans"`` (:class:`sklearn.cluster.KMeans`, ``k-means++`` seeding) or
    ``"gmm"`` (:class:`sklearn.mixture.GaussianMixture`, K-Means initialisation, the
    component of highest posterior). ``seed`` fixes the initialisation; ``n_init``,
    ``covariance_type`` and ``max_iter`` are as in the module docstring.
    """
    _check_choice(method, METHODS, "method")
    h = check_representations(h)
    if int(n_clusters) < 1 or int(n_clusters) > h.shape[0]:
        raise ValueError(
            f"n_clusters must be between 1 and the number of rows of h ({h.shape[0]}); "
            f"got {n_clusters}"
        )
    if n_init is None:
        n_init = DEFAULT_N_INIT[method]
    if int(n_init) < 1:
        raise ValueError(f"n_init must be a positive integer (or None for the default); got "
                         f"{n_init}")
    if method == "kmeans":
        from sklearn.cluster import KMeans

        model = KMeans(
            n_clusters=int(n_clusters), n_init=int(n_init), random_state=seed,
            max_iter=300 if max_iter is None else int(max_iter),
        )
        return model.fit_predict(h)
    _check_choice(covariance_type, COVARIANCE_TYPES, "covariance_type")
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(
        n_components=int(n_clusters), covariance_type=covariance_type, n_init=int(n_init),
        random_state=seed, max_iter=100 if max_iter is None else int(max_iter),
        reg_covar=1e-6,
    )
    return model.fit(h).predict(h)


def cluster_scores(
    h: Any,
    labels: Any,
    method: str = "kmeans",
    n_clusters: int | None = None,
    seed: int = 0,
    *,
    normalize: bool = False,
    silhouette_metric: str = "euclidean",
    silhouette_sample: int | None = 5000,
    n_init: int | None = None,
    covariance_type: str = "diag",
    max_iter: int | None = None,
    return_assignment: bool = False,
) -> ClusterScores | tuple[ClusterScores, np.ndarray]:
    """Cluster ``h: [N, D]`` and score the clusters against ``labels: [N]``.

    ``method``: ``"kmeans"`` or ``"gmm"``. ``n_clusters``: defaults to the number of distinct
    labels. ``seed`` fixes the clustering's initialisation and the silhouette sample. The
    other options are documented in the module docstring. Returns :class:`ClusterScores`
    (and the cluster ids ``[N]`` if ``return_assignment``).

    Raises ``ValueError`` when ``h`` is not a finite numeric ``[N, D]`` array (a diverged
    run's NaN included), ``labels`` are not ``N`` integer class indices, or an option is
    outside its choices.

    >>> rng = np.random.default_rng(0)
    >>> centers = 10.0 * np.eye(3)
    >>> h = np.concatenate([c + rng.normal(size=(20, 3)) for c in centers])
    >>> s = cluster_scores(h, np.repeat([0, 1, 2], 20), "kmeans")
    >>> (s.acc, s.ari, s.v_measure), s.silhouette > 0.7
    ((1.0, 1.0, 1.0), True)
    """
    _check_choice(method, METHODS, "method")
    h = check_representations(h)
    labels = check_labels(labels, h.shape[0])
    if n_clusters is None:
        n_clusters = int(np.unique(labels).shape[0])
    if normalize:
        h = l2_normalize(h)
    assignment = cluster(
        h, n_clusters, method, seed=seed, n_init=n_init, covariance_type=covariance_type,
        max_iter=max_iter,
    )
    scores = score_assignment(
        h, labels, assignment, silhouette_metric=silhouette_metric,
        silhouette_sample=silhouette_sample, seed=seed,
    )
    return (scores, assignment) if return_assignment else scores
