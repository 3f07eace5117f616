"""What a report computes: :class:`ReportOptions`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from corel_jax._flags import option
from corel_jax.errors import ConfigError
from corel_jax.evaluate.clustering import COVARIANCE_TYPES, DEFAULT_N_INIT, METHODS

NORMALIZE_CHOICES = ("auto", "always", "never")


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise ValueError(f"expected a positive integer, got {v}")
    return v


def _sample(text: str) -> int | None:
    """``--silhouette-sample``: a number of points >= 2, or ``all``."""
    if text.lower() in ("all", "none", "0"):
        return None
    return _positive_int(text)


@dataclass(frozen=True)
class ReportOptions:
    """What a report computes. ``methods``: clustering methods (``"kmeans"``, ``"gmm"``);
    ``normalize``: ``"auto"`` (cosine losses only), ``"always"`` or ``"never"``; the
    silhouette and clustering options as in :func:`~corel_jax.evaluate.cluster_scores`;
    ``seed``: clustering / sampling seed (the same for every run, so differences between
    runs come from training); ``pca_points``: points per Figure 1 panel; ``plots`` /
    ``clustering``: skip the PNGs / the clustering tables when ``False``.
    """

    methods: tuple[str, ...] = option(METHODS, "clustering methods", choices=METHODS,
                                      nargs="+", shown_default="both")
    normalize: str = option(
        "auto", "L2-normalise representations before clustering and PCA ('auto': the cosine "
                "loss only)", choices=NORMALIZE_CHOICES)
    silhouette_metric: str = option("euclidean", "silhouette distance, e.g. euclidean or "
                                                 "cosine")
    silhouette_sample: int | None = option(
        5000, "silhouette on a fixed-seed sample of N points when there are more ('all': "
              "every point)", type=lambda text: _sample(text))
    n_init: int | None = option(
        None, "K-Means / EM initialisations, the best kept (default 10 for K-Means, 5 for the "
              "GMM)", type=lambda text: _positive_int(text))
    covariance_type: str = option("diag", "GMM covariance type", flag="--gmm-covariance",
                                  choices=COVARIANCE_TYPES)
    max_iter: int | None = option(
        None, "K-Means / EM iterations (default: scikit-learn's, 300 / 100)",
        type=lambda text: _positive_int(text))
    seed: int = option(0, "clustering and sampling seed")
    pca_points: int = option(2000, "points per PCA panel", type=lambda text: _positive_int(text))
    plots: bool = option(True, "skip the PNG figures", flag="--no-plots", invert=True)
    clustering: bool = option(True, "skip the clustering tables (accuracy and plots only)",
                              flag="--no-clustering", invert=True)

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(
                f"methods must be a non-empty subset of {METHODS}; got {self.methods}"
            )
        if self.normalize not in NORMALIZE_CHOICES:
            raise ConfigError(
                f"normalize must be one of {NORMALIZE_CHOICES}; got {self.normalize!r}"
            )
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ConfigError(
                f"covariance_type must be one of {COVARIANCE_TYPES}; got {self.covariance_type!r}"
            )
        if self.n_init is not None and self.n_init < 1:
            raise ConfigError(f"n_init must be >= 1 (or None for the default); got "
                              f"{self.n_init}")
        if self.silhouette_sample is not None and self.silhouette_sample < 2:
            raise ConfigError(f"silhouette_sample must be >= 2; got {self.silhouette_sample}")
        if isinstance(self.silhouette_metric, str):
            from sklearn.metrics import pairwise

            known = getattr(pairwise, "_VALID_METRICS", None)  # scikit-learn's own list
            if known is not None and self.silhouette_metric not in known:
                raise ConfigError(
                    f"unknown silhouette metric {self.silhouette_metric!r}; use one of "
                    f"scikit-learn's: {', '.join(sorted(known))}")
        if self.pca_points < 2:
            raise ConfigError(f"pca_points must be >= 2; got {self.pca_points}")

    def normalizes(self, similarity: str) -> bool:
        """Whether representations of a loss that predicts with ``similarity`` (the run
        directory's, see :func:`corel_jax.rundir.similarity_of`) are L2-normalised before
        clustering / PCA."""
        if self.normalize == "auto":
            return similarity == "cosine"
        return self.normalize == "always"


def options_text(o: ReportOptions) -> str:
    """The clustering options as the report states them (``key=value, ...``)."""
    d = asdict(o)
    keys = ("normalize", "silhouette_metric", "silhouette_sample", "n_init", "covariance_type",
            "max_iter", "seed")
    if d["n_init"] is None:
        d["n_init"] = "default (" + ", ".join(f"{m} {n}" for m, n in DEFAULT_N_INIT.items()) + ")"
    return ", ".join(f"{k}={d[k]}" for k in keys)
