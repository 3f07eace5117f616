"""Tests for corel_jax.similarity and corel_jax.losses.

Each loss is checked against a small independent numpy version of its equation, plus the
paper's identities, gradients (check_grads), jit/vmap behaviour, numerics and bad input.
"""

import chex
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from corel_jax import losses, similarity


def enable_x64():
    """A context with float64 enabled: ``jax.enable_x64`` in newer JAX (the experimental one is
    gone there), ``jax.experimental.enable_x64`` in older JAX (no ``jax.enable_x64`` yet)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64 as old_enable_x64

    return old_enable_x64(True)


# --------------------------------------------------------------------------- numpy references


def np_logsumexp(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).squeeze(axis)


def np_cos(h, W):
    return (h @ W.T) / (np.linalg.norm(h, axis=1)[:, None] * np.linalg.norm(W, axis=1)[None])


def np_sqdist(h, W):
    return ((h[:, None, :] - W[None, :, :]) ** 2).sum(-1)


def np_cce(h, W, y, b):
    s = h @ W.T + b
    return -s[np.arange(len(y)), y] + np_logsumexp(s)


def np_cosine_corel(h, W, y, lam):
    c = np_cos(h, W)
    out = []
    for i, yi in enumerate(y):
        others = np.delete(c[i], yi)
        out.append(-lam * c[i, yi] + (1 - lam) * others.max() ** 2)
    return np.array(out)


def np_gaussian_corel(h, W, y, lam, gamma):
    d = np_sqdist(h, W)
    return lam * gamma * d[np.arange(len(y)), y] + (1 - lam) * np_logsumexp(-gamma * d)


def np_center_loss(h, C, y):
    return 0.5 * ((h - C[y]) ** 2).sum(-1)


def np_update_centers(C, h, y, alpha):
    C = C.copy()
    new = C.copy()
    for j in range(C.shape[0]):
        idx = np.flatnonzero(y == j)
        new[j] = C[j] - alpha * (C[j] - h[idx]).sum(0) / (1 + len(idx))
    return new


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    N, D, K = 7, 5, 4
    h = rng.normal(size=(N, D)).astype(np.float32)
    W = rng.normal(size=(K, D)).astype(np.float32)
    b = rng.normal(size=(K,)).astype(np.float32)
    y = rng.integers(0, K, size=N).astype(np.int32)
    return h, W, b, y


# --------------------------------------------------------------------------- similarity


def test_similarity_matrices_match_numpy(data):
    h, W, _, _ = data
    np.testing.assert_allclose(similarity.dot(h, W), h @ W.T, rtol=1e-5)
    np.testing.assert_allclose(similarity.cosine(h, W), np_cos(h, W), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(similarity.sqdist(h, W), np_sqdist(h, W), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        similarity.gaussian(h, W, 0.3), -0.3 * np_sqdist(h, W), rtol=1e-4, atol=1e-4
    )
    assert similarity.dot(h, W).shape == (7, 4)


def test_sqdist_never_negative_for_identical_points():
    h = jnp.full((3, 50), 123.456)
    assert float(similarity.sqdist(h, h).min()) >= 0.0


# --------------------------------------------------------------------------- losses vs numpy


def test_cce_matches_numpy_and_optax(data):
    h, W, b, y = data
    got = losses.cce(h, W, y, b)
    chex.assert_shape(got, (7,))
    np.testing.assert_allclose(got, np_cce(h, W, y, b), rtol=1e-5)
    ref = optax.softmax_cross_entropy_with_integer_labels(h @ W.T + b, y)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_cosine_corel_matches_numpy(data):
    h, W, _, y = data
    for lam in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(
            losses.cosine_corel(h, W, y, lam=lam), np_cosine_corel(h, W, y, lam),
            rtol=1e-5, atol=1e-6,
        )


def test_cosine_corel_excludes_true_class_from_max_without_clamping():
    # Every other cosine is negative: the max over j != y is -0.6, not 0 as in the original
    # PyTorch code (which zeroed the true class's entry).
    h = jnp.array([[1.0, 0.0]])
    W = jnp.array([[1.0, 0.0], [-0.6, 0.8]])
    got = losses.cosine_corel(h, W, jnp.array([0]), lam=0.5)
    np.testing.assert_allclose(got, [-0.5 * 1.0 + 0.5 * 0.36], rtol=1e-6)


def test_gaussian_corel_matches_numpy(data):
    h, W, _, y = data
    for lam, gamma in ((0.5, 0.5), (0.1, 2.0), (1.0, 0.05), (0.0, 1.0)):
        np.testing.assert_allclose(
            losses.gaussian_corel(h, W, y, lam=lam, gamma=gamma),
            np_gaussian_corel(h, W, y, lam, gamma), rtol=1e-4, atol=1e-5,
        )


def test_gaussian_corel_applies_lambda_once():
    # Hand-computed: h = 0, w_0 = 0, w_1 = (1, 1), gamma = 1, lam = 0.2.
    # d = [0, 2]; L = 0.2 * 1 * 0 + 0.8 * log(1 + e^-2).
    got = losses.gaussian_corel(jnp.zeros((1, 2)), jnp.array([[0.0, 0.0], [1.0, 1.0]]),
                                jnp.array([0]), lam=0.2, gamma=1.0)
    np.testing.assert_allclose(got, [0.8 * np.log1p(np.exp(-2.0))], rtol=1e-6)


def test_center_loss_and_update_match_numpy(data):
    h, W, _, y = data
    np.testing.assert_allclose(losses.center_loss(h, W, y), np_center_loss(h, W, y), rtol=1e-5)
    np.testing.assert_allclose(
        losses.update_centers(W, h, y, alpha=0.3), np_update_centers(W, h, y, 0.3),
        rtol=1e-5, atol=1e-6,
    )


def test_update_centers_ignores_masked_examples(data):
    h, W, _, y = data
    where = np.arange(len(y)) < 4
    got = losses.update_centers(W, h, y, alpha=0.5, where=where)
    np.testing.assert_allclose(got, np_update_centers(W, h[:4], y[:4], 0.5), rtol=1e-5, atol=1e-6)


def test_predict_is_argmax():
    sim = jnp.array([[0.0, 3.0, 1.0], [5.0, -1.0, 0.0]])
    np.testing.assert_array_equal(losses.predict(sim), [1, 0])


# --------------------------------------------------------------------------- identities


def test_ar_half_dot_is_half_cce(data):
    h, W, _, y = data
    ar = losses.attractive_repulsive(similarity.dot(h, W), y, lam=0.5, repulsion="logsumexp")
    np.testing.assert_allclose(ar, 0.5 * losses.cce(h, W, y), rtol=1e-6)


def test_gaussian_corel_half_is_half_softmax_ce_on_negative_distances(data):
    h, W, _, y = data
    gamma = 0.7
    logits = -gamma * np_sqdist(h, W)
    ref = 0.5 * optax.softmax_cross_entropy_with_integer_labels(logits, y)
    got = losses.gaussian_corel(h, W, y, lam=0.5, gamma=gamma)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_lambda_one_gaussian_is_minimised_by_class_means(data):
    # Eq. 7: at lam = 1 the loss is gamma * sum of squared distances to the class prototype,
    # so for fixed h the class means are the minimiser (the K-Means relation).
    h, W, _, y = data
    K = W.shape[0]
    y = np.arange(len(y)) % K  # every class present
    means = np.stack([h[y == k].mean(0) for k in range(K)])
    f = lambda W_: losses.gaussian_corel(h, W_, y, lam=1.0, gamma=0.5).sum()
    grad = jax.grad(f)(jnp.asarray(means))
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)
    rng = np.random.default_rng(1)
    for _ in range(5):
        assert f(means) < f(means + 0.1 * rng.normal(size=means.shape))


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "fn",
    [
        lambda h, W, y: losses.cce(h, W, y, b=jnp.arange(W.shape[0], dtype=h.dtype) / 10),
        lambda h, W, y: losses.cosine_corel(h, W, y, lam=0.3),
        lambda h, W, y: losses.gaussian_corel(h, W, y, lam=0.3, gamma=0.4),
        lambda h, W, y: losses.center_loss(h, W, y),
    ],
    ids=["cce", "cosine", "gaussian", "center"],
)
def test_check_grads(fn):
    rng = np.random.default_rng(3)
    h = jnp.asarray(rng.normal(size=(5, 4)))
    W = jnp.asarray(rng.normal(size=(3, 4)))
    y = jnp.array([0, 1, 2, 1, 0])
    with enable_x64():
        h, W = h.astype(jnp.float64), W.astype(jnp.float64)
        # jitted: check_grads evaluates the function and its derivatives many times, and
        # op-by-op dispatch would compile each primitive of each on its own
        check_grads(jax.jit(lambda h_, W_: fn(h_, W_, y).sum()), (h, W), order=2,
                    modes=["rev"])


def test_gaussian_gamma_is_learnable(data):
    h, W, _, y = data
    g = jax.grad(lambda gam: losses.gaussian_corel(h, W, y, lam=0.3, gamma=gam).mean())(0.5)
    assert np.isfinite(g) and g != 0.0


# --------------------------------------------------------------------------- jit / vmap


def test_jit_matches_eager(data):
    h, W, _, y = data
    f = jax.jit(lambda h, W, y, lam, gamma: losses.gaussian_corel(h, W, y, lam=lam, gamma=gamma))
    # atol: a loss near 0 is the sum of O(1) terms, and jit may fuse (round) them differently.
    np.testing.assert_allclose(
        f(h, W, y, 0.3, 0.5), losses.gaussian_corel(h, W, y, lam=0.3, gamma=0.5), rtol=1e-6,
        atol=1e-6,
    )


def test_vmap_over_runs_with_per_run_lambda(data):
    h, W, _, y = data
    R = 3
    hs = jnp.stack([h * (r + 1) for r in range(R)])
    Ws = jnp.stack([W + r for r in range(R)])
    lams = jnp.array([0.1, 0.5, 0.9])
    for name, fn in (("cosine", losses.cosine_corel), ("gaussian", losses.gaussian_corel)):
        got = jax.vmap(lambda h_, W_, lam, fn=fn: fn(h_, W_, y, lam=lam))(hs, Ws, lams)
        chex.assert_shape(got, (R, 7))
        for r in range(R):
            np.testing.assert_allclose(
                got[r], fn(hs[r], Ws[r], y, lam=float(lams[r])), rtol=1e-5, err_msg=name
            )


def test_changing_hyperparameters_does_not_recompile(data):
    h, W, _, y = data

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(lam, gamma):
        return losses.gaussian_corel(h, W, y, lam=lam, gamma=gamma).mean()

    chex.clear_trace_counter()
    for lam, gamma in ((0.1, 0.5), (0.7, 2.0), (1.0, 0.01)):
        f(jnp.float32(lam), jnp.float32(gamma))


def test_where_masks_examples(data):
    h, W, _, y = data
    where = np.array([True, False] * 3 + [True])
    got = losses.cosine_corel(h, W, y, lam=0.4, where=where)
    full = losses.cosine_corel(h, W, y, lam=0.4)
    np.testing.assert_allclose(got, np.where(where, full, 0.0), rtol=1e-6)


# --------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("name", ["cce", "cosine", "gaussian", "center"])
@pytest.mark.parametrize("case", ["zero", "far", "bf16"])
def test_finite_values_and_gradients(name, case):
    rng = np.random.default_rng(0)
    W = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)
    h = jnp.asarray(rng.normal(size=(3, 6)), jnp.float32)
    if case == "zero":
        h = h.at[0].set(0.0)
    elif case == "far":
        h = 1e3 * h / jnp.linalg.norm(h, axis=1, keepdims=True)
    else:
        h, W = h.astype(jnp.bfloat16), W.astype(jnp.bfloat16)
    y = jnp.array([0, 1, 3])
    fn = {
        "cce": lambda h, W: losses.cce(h, W, y),
        "cosine": lambda h, W: losses.cosine_corel(h, W, y, lam=0.5),
        "gaussian": lambda h, W: losses.gaussian_corel(h, W, y, lam=0.5, gamma=0.5),
        "center": lambda h, W: losses.center_loss(h, W, y),
    }[name]
    value = fn(h, W)
    assert value.dtype == jnp.float32  # compute dtype is at least float32
    grads = jax.grad(lambda h, W: fn(h, W).sum(), argnums=(0, 1))(h, W)
    assert np.all(np.isfinite(np.asarray(value, np.float32)))
    for g in grads:
        assert np.all(np.isfinite(np.asarray(g, np.float32)))


def test_far_points_gaussian_is_stable():
    # Naive exp(-gamma d) underflows to 0 for every class; log(0) would be -inf.
    h = jnp.full((1, 2), 1e3)
    W = jnp.array([[0.0, 0.0], [1.0, 0.0]])
    got = losses.gaussian_corel(h, W, jnp.array([0]), lam=0.5, gamma=0.5)
    np.testing.assert_allclose(got, np_gaussian_corel(np.asarray(h), np.asarray(W), [0], .5, .5),
                               rtol=1e-4)


@pytest.mark.parametrize("lam", [0.5, 0.3, 1.0])
def test_gaussian_corel_keeps_float32_precision_far_from_the_prototypes(lam):
    # ‖h‖ = 1e3·√D: ‖h‖² ≈ 1.3e8 would swamp the λ = ½ loss (≈ 1e4) if it were added to every
    # distance and cancelled again (max error ≈ 1e-4 of the largest loss); float64 reference.
    rng = np.random.default_rng(0)
    N, D, K = 64, 128, 10
    h = rng.normal(size=(N, D))
    h = 1e3 * np.sqrt(D) * h / np.linalg.norm(h, axis=1, keepdims=True)
    W = rng.normal(size=(K, D))
    y = rng.integers(0, K, size=N)
    h32, W32 = h.astype(np.float32), W.astype(np.float32)
    ref = np_gaussian_corel(h32.astype(np.float64), W32.astype(np.float64), y, lam, 0.5)
    got = np.asarray(losses.gaussian_corel(h32, W32, jnp.asarray(y), lam=lam, gamma=0.5),
                     np.float64)
    assert np.abs(got - ref).max() <= 1e-6 * np.abs(ref).max()


def test_out_of_range_label_gives_nan_not_a_wrong_number(data):
    h, W, b, _ = data
    y = jnp.array([0, 1, 4, -1, 2, 3, 0])
    for fn in (lambda: losses.cce(h, W, y, b), lambda: losses.cosine_corel(h, W, y),
               lambda: losses.gaussian_corel(h, W, y), lambda: losses.center_loss(h, W, y)):
        out = np.asarray(jax.jit(fn)())
        assert np.isnan(out[2]) and np.isnan(out[3])
        assert np.all(np.isfinite(np.delete(out, [2, 3])))


# --------------------------------------------------------------------------- bad input


def test_bad_lambda_gamma_alpha(data):
    h, W, _, y = data
    with pytest.raises(ValueError, match="lam must lie in"):
        losses.cosine_corel(h, W, y, lam=1.5)
    with pytest.raises(ValueError, match="lam must lie in"):
        losses.gaussian_corel(h, W, y, lam=-0.1)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        losses.gaussian_corel(h, W, y, gamma=0.0)
    with pytest.raises(ValueError, match="alpha"):
        losses.update_centers(W, h, y, alpha=2.0)


def test_bad_shapes_and_dtypes(data):
    h, W, _, y = data
    with pytest.raises(ValueError, match="same feature size D"):
        losses.gaussian_corel(h, W[:, :3], y)
    with pytest.raises(ValueError, match=r"labels must have shape .* pass labels.argmax"):
        losses.cce(h, W, jax.nn.one_hot(y, 4).astype(jnp.int32))
    with pytest.raises(TypeError, match="integer class indices"):
        losses.cce(h, W, y.astype(np.float32))
    with pytest.raises(ValueError, match=r"labels must have shape h.shape\[:-1\] = \(7,\)"):
        losses.cosine_corel(h, W, y[:3])
    with pytest.raises(ValueError, match=r"labels must have shape h.shape\[:-1\] = \(\)"):
        losses.cce(h[0], W, y)  # one example h: [D] needs a scalar label
    with pytest.raises(ValueError, match="2-D array"):
        losses.cce(h, W[None], y)
    with pytest.raises(ValueError, match="b must have shape"):
        losses.cce(h, W, y, b=jnp.zeros(3))
    with pytest.raises(ValueError, match="unknown repulsion"):
        losses.attractive_repulsive(h @ W.T, y, lam=0.5, repulsion="nope")
    with pytest.raises(ValueError, match="K >= 2"):
        losses.cosine_corel(h, W[:1], jnp.zeros(7, jnp.int32))


def test_check_labels():
    losses.check_labels(np.array([0, 1, 2]), 3)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        losses.check_labels(np.array([0, 5]), 3)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        losses.check_labels(np.array([-1, 0]), 3)
    with pytest.raises(TypeError):
        losses.check_labels(np.array([0.0, 1.0]), 3)


# --------------------------------------------------------------------------- leading dims

# Every public loss, as f(h, W, labels, where) -> per-example losses (or, for update_centers,
# the new centers). Each is checked on h: [2, 3, D] against the flattened h: [6, D].
LOSSES_BY_NAME = {
    "cce": lambda h, W, y, where=None: losses.cce(
        h, W, y, b=jnp.arange(W.shape[0], dtype=jnp.float32) / 10, where=where),
    "cosine_corel": lambda h, W, y, where=None: losses.cosine_corel(
        h, W, y, lam=0.3, where=where),
    "gaussian_corel": lambda h, W, y, where=None: losses.gaussian_corel(
        h, W, y, lam=0.3, gamma=0.4, where=where),
    "center_loss": lambda h, W, y, where=None: losses.center_loss(h, W, y, where=where),
    "attractive_repulsive_logsumexp": lambda h, W, y, where=None: losses.attractive_repulsive(
        similarity.gaussian(h, W, 0.4), y, lam=0.3, repulsion="logsumexp", where=where),
    "attractive_repulsive_max_other": lambda h, W, y, where=None: losses.attractive_repulsive(
        similarity.cosine(h, W), y, lam=0.3, repulsion="max_other_squared", where=where),
    "attraction": lambda h, W, y, where=None: losses.attractive_repulsive(
        similarity.dot(h, W), y, lam=1.0, where=where),
    "repulsion": lambda h, W, y, where=None: losses.attractive_repulsive(
        similarity.dot(h, W), y, lam=0.0, where=where),
    "logsumexp_repulsion": lambda h, W, y, where=None: losses.logsumexp_repulsion(
        similarity.dot(h, W), y),
    "max_other_squared_repulsion": lambda h, W, y, where=None: (
        losses.max_other_squared_repulsion(similarity.cosine(h, W), y)),
}
PER_EXAMPLE_WHERE = [n for n in LOSSES_BY_NAME if not n.endswith("_repulsion")]


@pytest.fixture
def batched():
    rng = np.random.default_rng(5)
    h = jnp.asarray(rng.normal(size=(2, 3, 5)), jnp.float32)
    W = jnp.asarray(rng.normal(size=(4, 5)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 4, size=(2, 3)), jnp.int32)
    where = jnp.array([[True, False, True], [False, True, True]])
    return h, W, y, where


@pytest.mark.parametrize("name", LOSSES_BY_NAME)
def test_leading_dims_equal_the_flattened_batch(name, batched):
    h, W, y, _ = batched
    f = LOSSES_BY_NAME[name]
    got = f(h, W, y)
    chex.assert_shape(got, (2, 3))
    assert got.dtype == jnp.float32
    want = f(h.reshape(6, 5), W, y.reshape(6)).reshape(2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # under jit, and as a vmap over the leading axis
    np.testing.assert_allclose(jax.jit(f)(h, W, y), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(f, in_axes=(0, None, 0))(h, W, y), want, rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("name", PER_EXAMPLE_WHERE)
def test_leading_dims_with_where(name, batched):
    h, W, y, where = batched
    f = LOSSES_BY_NAME[name]
    got = f(h, W, y, where)
    want = f(h.reshape(6, 5), W, y.reshape(6), where.reshape(6)).reshape(2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, np.where(where, f(h, W, y), 0.0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", LOSSES_BY_NAME)
def test_one_example_without_batch_dims(name, batched):
    # h: [D] with a scalar label is one example: a scalar loss.
    h, W, y, where = batched
    f = LOSSES_BY_NAME[name]
    for i in np.ndindex(2, 3):
        got = f(h[i], W, y[i])
        chex.assert_shape(got, ())
        np.testing.assert_allclose(got, f(h[i][None], W, y[i][None])[0], rtol=1e-6, atol=1e-7)
        if name in PER_EXAMPLE_WHERE:
            masked = f(h[i], W, y[i], where[i])
            np.testing.assert_allclose(masked, got if where[i] else 0.0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(f(h[0, 0], W, int(y[0, 0])), f(h[0, 0], W, y[0, 0]))


@pytest.mark.parametrize("name", ["cce", "cosine_corel", "gaussian_corel", "center_loss"])
def test_leading_dims_gradients_equal_the_flattened_batch(name, batched):
    h, W, y, where = batched
    f = LOSSES_BY_NAME[name]
    g = jax.grad(lambda h_, W_: f(h_, W_, y, where).sum(), argnums=(0, 1))(h, W)
    g_flat = jax.grad(lambda h_, W_: f(h_, W_, y.reshape(6), where.reshape(6)).sum(),
                      argnums=(0, 1))(h.reshape(6, 5), W)
    np.testing.assert_allclose(g[0], g_flat[0].reshape(2, 3, 5), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g[1], g_flat[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["cce", "cosine_corel", "gaussian_corel", "center_loss"])
def test_leading_dims_bf16_gives_float32(name, batched):
    h, W, y, _ = batched
    f = LOSSES_BY_NAME[name]
    got = f(h.astype(jnp.bfloat16), W.astype(jnp.bfloat16), y)
    assert got.dtype == jnp.float32 and got.shape == (2, 3)
    want = f(h.astype(jnp.bfloat16).reshape(6, 5), W.astype(jnp.bfloat16), y.reshape(6))
    np.testing.assert_allclose(got, want.reshape(2, 3), rtol=1e-6, atol=1e-7)


def test_similarities_take_leading_dims(batched):
    h, W, _, _ = batched
    for f in (similarity.dot, similarity.cosine, similarity.sqdist,
              lambda h, W: similarity.gaussian(h, W, 0.3)):
        got = f(h, W)
        chex.assert_shape(got, (2, 3, 4))
        np.testing.assert_allclose(got, f(h.reshape(6, 5), W).reshape(2, 3, 4), rtol=1e-6,
                                   atol=1e-6)
        chex.assert_shape(f(h[0, 0], W), (4,))
        np.testing.assert_allclose(f(h[0, 0], W), f(h[0, :1], W)[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(losses.predict(similarity.cosine(h, W)),
                                  losses.predict(similarity.cosine(h.reshape(6, 5), W))
                                  .reshape(2, 3))
    chex.assert_shape(losses.predict(similarity.dot(h[0, 0], W)), ())


def test_update_centers_counts_every_leading_dim_as_batch(batched):
    h, W, y, where = batched
    got = losses.update_centers(W, h, y, alpha=0.3, where=where)
    chex.assert_shape(got, W.shape)
    np.testing.assert_allclose(
        got, losses.update_centers(W, h.reshape(6, 5), y.reshape(6), alpha=0.3,
                                   where=where.reshape(6)), rtol=1e-6, atol=1e-7)
    keep = np.asarray(where).reshape(6)
    np.testing.assert_allclose(
        got, np_update_centers(np.asarray(W), np.asarray(h).reshape(6, 5)[keep],
                               np.asarray(y).reshape(6)[keep], 0.3), rtol=1e-5, atol=1e-6)
    one = losses.update_centers(W, h[0, 0], y[0, 0], alpha=0.3)  # one example
    np.testing.assert_allclose(one, losses.update_centers(W, h[0, :1], y[0, :1], alpha=0.3))


def test_custom_repulsion_sees_flattened_examples(batched):
    h, W, y, _ = batched
    seen = []

    def rep(sim, labels):
        seen.append((sim.shape, labels.shape))
        return jnp.zeros(sim.shape[:-1])

    losses.attractive_repulsive(similarity.dot(h, W), y, lam=0.5, repulsion=rep)
    assert seen == [((6, 4), (6,))]


@pytest.mark.parametrize("name", LOSSES_BY_NAME)
def test_mismatched_leading_dims_raise(name, batched):
    h, W, y, where = batched
    f = LOSSES_BY_NAME[name]
    of = "sim" if name.startswith(("attr", "repulsion")) else "h"
    if name.endswith("_repulsion"):  # no shape checks of their own: only the similarity's
        with pytest.raises(ValueError, match="same feature size D"):
            f(h, W[:, :4], y)
        return
    for bad in (y.T, y.reshape(6), y[..., None], y[0]):
        with pytest.raises(ValueError, match=rf"labels must have shape {of}.shape\[:-1\] = "
                                             r"\(2, 3\)"):
            f(h, W, bad)
    for bad in (where.T, where.reshape(6), where[0]):
        with pytest.raises(ValueError, match=rf"where must be a boolean mask of shape "
                                             rf"{of}.shape\[:-1\] = \(2, 3\)"):
            f(h, W, y, bad)
    with pytest.raises(ValueError, match="same feature size D"):
        f(h, W[:, :4], y)


def test_scalar_representations_and_bad_prototypes_raise(batched):
    h, W, y, _ = batched
    with pytest.raises(ValueError, match=r"h must be an array \[\.\.\., D\].*got a scalar"):
        losses.gaussian_corel(jnp.float32(1.0), W, jnp.int32(0))
    with pytest.raises(ValueError, match=r"sim must be an array \[\.\.\., K\]"):
        losses.attractive_repulsive(jnp.float32(1.0), jnp.int32(0), lam=0.5)
    with pytest.raises(ValueError, match=r"sim must be an array \[\.\.\., K\]"):
        losses.predict(jnp.float32(1.0))
    for fn in (similarity.dot, losses.center_loss):
        args = (h, W[None]) if fn is similarity.dot else (h, W[None], y)
        with pytest.raises(ValueError, match=r"must be a 2-D array \[K, D\]"):
            fn(*args)
    with pytest.raises(TypeError, match="floating-point"):
        losses.cce(h.astype(jnp.int32), W, y)


def test_check_labels_any_shape():
    losses.check_labels(np.array([[0, 1], [2, 0]]), 3)
    losses.check_labels(np.int32(2), 3)
    with pytest.raises(ValueError, match=r"e\.g\. 5 at index \(1, 0\)"):
        losses.check_labels(np.array([[0, 1], [5, 0]]), 3)
    with pytest.raises(ValueError, match=r"1 of 1 labels lie outside \[0, 3\) .*e\.g\. 3\)"):
        losses.check_labels(np.int32(3), 3)


# --------------------------------------------------------------------------- properties

_finite = st.floats(-10, 10, allow_nan=False, width=32)


@settings(max_examples=25, deadline=None)
@given(
    h=hnp.arrays(np.float32, (5, 3), elements=_finite),
    W=hnp.arrays(np.float32, (4, 3), elements=_finite),
    y=hnp.arrays(np.int32, (5,), elements=st.integers(0, 3)),
    perm_seed=st.integers(0, 2**16),
    lam=st.floats(0, 1),
)
def test_class_permutation_equivariance(h, W, y, perm_seed, lam):
    # Relabelling the classes (permuting W's rows and the labels alike) changes no loss.
    perm = np.random.default_rng(perm_seed).permutation(4)
    inv = np.argsort(perm)
    W_p, y_p = W[perm], inv[y].astype(np.int32)
    for fn in (
        lambda W_, y_: losses.cce(h, W_, y_),
        lambda W_, y_: losses.cosine_corel(h, W_, y_, lam=lam),
        lambda W_, y_: losses.gaussian_corel(h, W_, y_, lam=lam, gamma=0.3),
    ):
        np.testing.assert_allclose(fn(W, y), fn(W_p, y_p), rtol=1e-4, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(
    h=hnp.arrays(np.float32, (4, 3), elements=st.floats(0.125, 5, width=32)),
    W=hnp.arrays(np.float32, (3, 3), elements=st.floats(-5, 5, width=32)),
    scale=st.floats(0.01, 100),
    lam=st.floats(0, 1),
)
def test_cosine_corel_scale_invariance(h, W, scale, lam):
    y = np.array([0, 1, 2, 0], np.int32)
    np.testing.assert_allclose(
        losses.cosine_corel(h, W, y, lam=lam), losses.cosine_corel(scale * h, W, y, lam=lam),
        rtol=1e-4, atol=1e-5,
    )
