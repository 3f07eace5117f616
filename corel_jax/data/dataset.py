"""The :class:`Dataset` container every loader returns: three labelled splits as numpy arrays."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from corel_jax.errors import DataError

KINDS = ("image", "tokens", "features")
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset with train / validation / test splits (numpy, host memory).

    Attributes:
      name: ``"mnist"``, ``"fashion_mnist"``, ``"digits"`` or ``"ag_news"``.
      x_train, x_val, x_test: inputs. ``kind="image"``: float32 ``[N, H, W, C]`` in [0, 1].
        ``kind="tokens"``: int32 ``[N, L]`` token ids, 0 = padding, 1 = unknown word.
        ``kind="features"``: float32 ``[N, ...]``, any finite values (your own data).
      y_train, y_val, y_test: int32 ``[N]`` class indices in ``[0, num_classes)``.
      num_classes: ``K``.
      class_names: ``K`` names, in label order.
      kind: ``"image"``, ``"tokens"`` or ``"features"``.
      embeddings: tokens only, or None: float32 ``[V, E]`` embedding table for the ids (initial
        or frozen, see ``info["frozen"]``); row 0 (padding) is zeros.
      vocab: tokens only, or None: the ``V`` words of the ids (``vocab[0] == "<pad>"``).
      info: provenance (source, data_dir, split_seed, text options, ...); JSON-friendly values.

    Validation happens on construction (shapes agree, dtypes, labels in range) and raises
    :class:`corel_jax.errors.DataError`.

    >>> x = np.zeros((4, 2, 2, 1), np.float32); y = np.array([0, 1, 0, 1], np.int32)
    >>> Dataset("toy", x, y, x[:2], y[:2], x[:2], y[:2], 2, ("a", "b"), "image")
    Dataset('toy', image [2, 2, 1], 2 classes, train 4 / val 2 / test 2)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]
    kind: str
    embeddings: np.ndarray | None = None
    vocab: tuple[str, ...] | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if self.vocab is not None:
            object.__setattr__(self, "vocab", tuple(self.vocab))
        _validate(self)

    # -- access ----------------------------------------------------------------------------

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        if which not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {which!r}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example: ``(H, W, C)`` for images, ``(L,)`` for tokens."""
        return tuple(self.x_train.shape[1:])

    @property
    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        return {s: len(self.split(s)[1]) for s in SPLITS}

    # -- derived datasets ------------------------------------------------------------------

    def subset(
        self,
        n_train: int | None = None,
        n_val: int | None = None,
        n_test: int | None = None,
        *,
        seed: int | None = None,
    ) -> Dataset:
        """A smaller copy for quick sweeps and tests: ``n_*`` examples of each split.

        ``None`` keeps a split whole. With ``seed=None`` the first ``n`` examples are kept;
        otherwise a fixed-seed random sample (in original order). Embeddings and vocabulary are
        shared, not copied.

        >>> from corel_jax.data import load_dataset
        >>> load_dataset("digits").subset(200, 50, 50, seed=0).sizes
        {'train': 200, 'val': 50, 'test': 50}
        """
        rng = None if seed is None else np.random.default_rng(seed)
        changes: dict[str, Any] = {}
        for which, n in zip(SPLITS, (n_train, n_val, n_test)):
            x, y = self.split(which)
            if n is None:
                continue
            if not 0 <= n <= len(y):
                raise ValueError(f"n_{which} must be in [0, {len(y)}]; got {n}")
            idx = np.arange(n) if rng is None else np.sort(rng.choice(len(y), n, replace=False))
            changes[f"x_{which}"], changes[f"y_{which}"] = x[idx], y[idx]
        info = {**self.info, "subset": {"sizes": [n_train, n_val, n_test], "seed": seed}}
        return dataclasses.replace(self, info=info, **changes)

    # -- display ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        s = self.sizes
        shape = list(self.input_shape)
        return (
            f"Dataset({self.name!r}, {self.kind} {shape}, {self.num_classes} classes, "
            f"train {s['train']} / val {s['val']} / test {s['test']})"
        )

    def summary(self) -> str:
        """A few human-readable lines: splits, shapes, classes, class balance, embeddings."""
        lines = [repr(self)]
        lines.append(f"  classes: {', '.join(self.class_names)}")
        for which in SPLITS:
            x, y = self.split(which)
            counts = np.bincount(y, minlength=self.num_classes).tolist()
            lines.append(f"  {which:<5} x {list(x.shape)} {x.dtype}, per class {counts}")
        if self.kind == "tokens":
            nonpad = float(np.mean(self.x_train != 0)) if self.x_train.size else 0.0
            lines.append(f"  tokens: {nonpad:.1%} of train positions are words (not padding)")
            v = len(self.vocab) if self.vocab is not None else None
            if self.embeddings is not None:
                frozen = "frozen" if self.info.get("frozen", True) else "initial"
                lines.append(
                    f"  embeddings: {frozen} [{self.embeddings.shape[0]}, "
                    f"{self.embeddings.shape[1]}] from {self.info.get('embeddings', '?')}"
                )
            elif v is not None:
                lines.append(f"  vocabulary: {v} ids, no embedding table")
        for key in ("source", "data_dir", "split_seed"):
            if key in self.info:
                lines.append(f"  {key}: {self.info[key]}")
        return "\n".join(lines)


def _validate(d: Dataset) -> None:
    def fail(msg: str) -> None:
        raise DataError(f"dataset {d.name!r}: {msg}")

    if d.kind not in KINDS:
        fail(f"kind must be one of {KINDS}; got {d.kind!r}")
    if not isinstance(d.num_classes, (int, np.integer)) or d.num_classes < 1:
        fail(f"num_classes must be a positive int; got {d.num_classes!r}")
    if len(d.class_names) != d.num_classes:
        fail(f"{len(d.class_names)} class_names for {d.num_classes} classes")
    want_ndim, want_dtype = {"image": (4, np.float32), "tokens": (2, np.int32),
                             "features": (None, np.float32)}[d.kind]
    for which in SPLITS:
        x, y = d.split(which)
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            fail(f"x_{which} and y_{which} must be numpy arrays")
        if (x.ndim < 2 if want_ndim is None else x.ndim != want_ndim) or x.dtype != want_dtype:
            layout = {"image": "[N, H, W, C]", "tokens": "[N, L]", "features": "[N, ...]"}[
                d.kind]
            fail(
                f"x_{which} must be {np.dtype(want_dtype)} {layout} for kind {d.kind!r}; "
                f"got {x.dtype} of shape {list(x.shape)}"
            )
        if x.shape[1:] != d.x_train.shape[1:]:
            fail(f"x_{which} has example shape {list(x.shape[1:])}, x_train has "
                 f"{list(d.x_train.shape[1:])}")
        if y.ndim != 1 or y.dtype != np.int32:
            fail(f"y_{which} must be int32 [N]; got {y.dtype} of shape {list(y.shape)}")
        if len(x) != len(y):
            fail(f"x_{which} has {len(x)} examples but y_{which} has {len(y)} labels")
        if y.size and (y.min() < 0 or y.max() >= d.num_classes):
            fail(f"y_{which} holds labels outside [0, {d.num_classes}): "
                 f"min {y.min()}, max {y.max()}")
        if x.size and d.kind == "image" and (x.min() < 0.0 or x.max() > 1.0):
            fail(f"x_{which} pixels must be in [0, 1]; got [{x.min()}, {x.max()}]")
        if x.size and d.kind == "features" and not np.all(np.isfinite(x)):
            fail(f"x_{which} holds NaN or inf")
        if x.size and d.kind == "tokens" and x.min() < 0:
            fail(f"x_{which} holds negative token ids")
    if d.kind != "tokens" and (d.embeddings is not None or d.vocab is not None):
        fail("embeddings and vocab are for kind 'tokens' only")
    if d.embeddings is not None:
        e = d.embeddings
        if not isinstance(e, np.ndarray) or e.ndim != 2 or e.dtype != np.float32:
            fail(f"embeddings must be float32 [V, E]; got {getattr(e, 'dtype', type(e))} "
                 f"of shape {list(np.shape(e))}")
        if e.shape[0] < 2 or np.any(e[0] != 0):
            fail("embeddings row 0 (padding) must be zeros, and row 1 is the unknown word")
    if d.vocab is not None and d.embeddings is not None and len(d.vocab) != len(d.embeddings):
        fail(f"{len(d.vocab)} vocab words but {len(d.embeddings)} embedding rows")
    size = len(d.embeddings) if d.embeddings is not None else None
    size = len(d.vocab) if size is None and d.vocab is not None else size
    for which in SPLITS:
        x = d.split(which)[0]
        if size is not None and x.size and x.max() >= size:
            fail(f"x_{which} holds token id {x.max()} >= vocabulary size {size}")
