"""Encoders: shapes and dtypes, dropout, registry, text masking, frozen embeddings, vmapped init."""

import flax.errors
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from corel_jax.errors import ConfigError
from corel_jax.models import (
    ENCODERS,
    MLP,
    FrozenTable,
    ImageCNN,
    TextCNN,
    TextMLP,
    masked_max_over_time,
)

IMAGES = jnp.linspace(0.0, 1.0, 3 * 28 * 28).reshape(3, 28, 28, 1)
IDS = jnp.array([[4, 9, 2, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8], [7, 0, 0, 0, 0, 0, 0, 0]])
SMALL_TEXT = dict(vocab_size=10, embed_dim=6, hidden=(12, 10))


def _models():
    return [
        (MLP(hidden=(32, 16)), IMAGES, 16),
        (ImageCNN(features=(4, 5, 6), hidden=(20, 12)), IMAGES, 12),
        (TextMLP(**SMALL_TEXT), IDS, 10),
        (TextCNN(**SMALL_TEXT, num_filters=4), IDS, 10),
    ]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("index", range(4))
def test_encoder_shape_and_dtype(index, dtype):
    model, x, d = _models()[index]
    model = model.replace(dtype=dtype) if hasattr(model, "replace") else model.clone(dtype=dtype)
    # jitted (here and below): op-by-op dispatch compiles every primitive on its own
    params = jax.jit(model.init)(jax.random.key(0), x)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
    h = jax.jit(model.apply)(params, x)
    assert h.shape == (x.shape[0], d)
    assert h.dtype == dtype
    assert bool(jnp.all(jnp.isfinite(h.astype(jnp.float32))))


def test_paper_defaults():
    params = jax.eval_shape(ImageCNN().init, jax.random.key(0), IMAGES)["params"]
    shapes = {k: jax.tree.map(jnp.shape, v) for k, v in params.items()}
    assert shapes["conv0"]["kernel"] == (3, 3, 1, 15)
    assert shapes["conv2"]["kernel"] == (3, 3, 30, 60)
    assert shapes["fc0"]["kernel"] == (3 * 3 * 60, 500)
    assert shapes["fc1"]["kernel"] == (500, 500)
    mlp = jax.eval_shape(MLP().init, jax.random.key(0), IMAGES)["params"]
    assert mlp["fc0"]["kernel"].shape == (784, 500) and mlp["fc1"]["kernel"].shape == (500, 500)


def test_leaky_relu_slope():
    # h is after the activation: with slope 0.2 no entry is below 0.2 * (its pre-activation).
    model = MLP(hidden=(8,))
    params = model.init(jax.random.key(0), IMAGES)
    h = model.apply(params, IMAGES)
    fc0 = params["params"]["fc0"]
    pre = IMAGES.reshape(3, -1) @ fc0["kernel"] + fc0["bias"]
    np.testing.assert_allclose(h, jnp.where(pre > 0, pre, 0.2 * pre), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "model,x",
    [
        (MLP(hidden=(16, 16), dropout=0.5), IMAGES),
        (ImageCNN(features=(2, 2, 2), hidden=(16, 16), dropout=0.5), IMAGES),
        (TextMLP(**SMALL_TEXT), IDS),
        (TextCNN(**SMALL_TEXT, num_filters=3), IDS),
    ],
)
def test_dropout_only_when_training(model, x):
    params = jax.jit(model.init)(jax.random.key(0), x)
    apply = jax.jit(model.apply, static_argnames="train")
    a = apply(params, x)
    np.testing.assert_array_equal(a, apply(params, x, train=False))
    rngs = lambda k: {"dropout": jax.random.key(k)}
    t1 = apply(params, x, train=True, rngs=rngs(1))
    t2 = apply(params, x, train=True, rngs=rngs(2))
    assert not np.allclose(t1, t2)
    with pytest.raises(flax.errors.InvalidRngError, match='needs PRNG for "dropout"'):
        model.apply(params, x, train=True)  # needs the 'dropout' rng stream


def test_vmapped_init_gives_per_run_params():
    model = ImageCNN(features=(3, 4, 5), hidden=(8, 8))
    keys = jax.random.split(jax.random.key(0), 4)
    params = jax.jit(jax.vmap(model.init, in_axes=(0, None)))(keys, IMAGES)
    kernel = params["params"]["conv0"]["kernel"]
    assert kernel.shape == (4, 3, 3, 1, 3)
    assert not np.allclose(kernel[0], kernel[1])
    # The same with a per-run batch axis on x, as jax.vmap(model.init)(keys, x) does.
    params2 = jax.jit(jax.vmap(model.init))(keys, jnp.stack([IMAGES] * 4))
    np.testing.assert_array_equal(params2["params"]["conv0"]["kernel"], kernel)
    h = jax.jit(jax.vmap(model.apply, in_axes=(0, None)))(params, IMAGES)
    assert h.shape == (4, 3, 8)
    np.testing.assert_allclose(h[2], jax.jit(model.apply)(jax.tree.map(lambda p: p[2], params),
                                                          IMAGES), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- text


def test_masked_max_over_time_ignores_padding():
    x = jnp.array([[[1.0, -5.0], [100.0, 100.0], [-3.0, -1.0]]])
    mask = jnp.array([[True, False, True]])
    np.testing.assert_array_equal(masked_max_over_time(x, mask), [[1.0, -1.0]])
    g = jax.grad(lambda x: masked_max_over_time(x, mask).sum())(x)
    assert float(g[0, 1].sum()) == 0.0
    # All-padding row: zeros, finite gradient.
    empty = jnp.zeros((1, 3), bool)
    np.testing.assert_array_equal(masked_max_over_time(x, empty), [[0.0, 0.0]])
    assert np.all(jax.grad(lambda x: masked_max_over_time(x, empty).sum())(x) == 0)


@pytest.mark.parametrize("cls", [TextCNN, TextMLP])
def test_text_padding_does_not_change_h(cls):
    kw = dict(SMALL_TEXT, num_filters=4) if cls is TextCNN else SMALL_TEXT
    model = cls(**kw)
    ids = jnp.array([[3, 1, 4, 1, 5]])
    padded = jnp.concatenate([ids, jnp.zeros((1, 7), ids.dtype)], axis=1)
    params = jax.jit(model.init)(jax.random.key(0), ids)
    # Make the padding row large so that any leak would show.
    params["params"]["embed"]["embedding"]["embedding"] = (
        params["params"]["embed"]["embedding"]["embedding"].at[0].set(1e3)
    )
    apply = jax.jit(model.apply)
    np.testing.assert_allclose(apply(params, ids), apply(params, padded), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [TextCNN, TextMLP])
def test_frozen_embeddings_are_constants(cls):
    vectors = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    kw = dict(frozen=FrozenTable(vectors), hidden=(12, 10))
    if cls is TextCNN:
        kw["num_filters"] = 4
    model = cls(**kw)
    params = jax.jit(model.init)(jax.random.key(0), IDS)
    assert "embed" not in params["params"]
    assert all(6 * 10 != p.size or p.shape != (10, 6) for p in jax.tree.leaves(params))
    grads = jax.jit(jax.grad(lambda p: model.apply(p, IDS).sum()))(params)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    # Not copied per run either: vmapped params hold no table.
    many = jax.jit(jax.vmap(model.init, in_axes=(0, None)))(jax.random.split(jax.random.key(1),
                                                                             3), IDS)
    assert "embed" not in many["params"]
    h = jax.jit(jax.vmap(model.apply, in_axes=(0, None)))(many, IDS)
    assert h.shape == (3, 3, 10)
    # The vectors are what the model sees: changing them changes h.
    other = model.clone(frozen=FrozenTable(vectors * 2))
    assert not np.allclose(jax.jit(model.apply)(params, IDS), jax.jit(other.apply)(params, IDS))


def test_frozen_table_hash_eq_and_validation():
    a = FrozenTable(np.eye(3))
    assert a == FrozenTable(np.eye(3)) and hash(a) == hash(FrozenTable(np.eye(3)))
    assert a != FrozenTable(np.eye(3) * 2)
    assert not a.array.flags.writeable
    hash(TextMLP(frozen=a))  # a hashable module field
    with pytest.raises(ValueError, match="\\[V, E\\]"):
        FrozenTable(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        FrozenTable(np.full((2, 2), np.nan))


def test_text_bad_input():
    model = TextMLP(**SMALL_TEXT)
    with pytest.raises(ValueError, match="\\[B, L\\]"):
        model.init(jax.random.key(0), jnp.zeros((2, 3, 4), jnp.int32))
    with pytest.raises(TypeError, match="integers"):
        model.init(jax.random.key(0), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="vocab_size"):
        TextMLP().init(jax.random.key(0), IDS)


# --------------------------------------------------------------------------- registry


def test_registry():
    """The built-in encoders are registered specs that build their module from the config."""
    from types import SimpleNamespace

    assert ENCODERS.names()[:4] == ("mlp", "cnn", "text_mlp", "text_cnn")
    cfg = SimpleNamespace(width=7, negative_slope=0.1, dropout=None)
    for name, cls in (("mlp", MLP), ("cnn", ImageCNN)):
        module = ENCODERS.get(name).build(cfg, None)
        assert type(module) is cls and module.hidden == (7, 7) and module.negative_slope == 0.1
    assert ENCODERS.get("text_cnn").accepts("tokens") and not ENCODERS.get("mlp").accepts(
        "tokens")
    # a configuration calls its encoder the model (SweepConfig.model, --model)
    with pytest.raises(ConfigError, match="unknown model 'resnet'; the registered encoders are "
                                          "mlp, cnn, text_mlp, text_cnn"):
        ENCODERS.get("resnet")


def test_image_cnn_input_checks():
    model = ImageCNN(features=(2, 2, 2), hidden=(4, 4))
    params = model.init(jax.random.key(0), IMAGES[..., 0])  # [B, H, W] reads as one channel
    assert model.apply(params, IMAGES).shape == (3, 4)
    with pytest.raises(ValueError, match="ImageCNN needs images"):
        model.init(jax.random.key(0), IMAGES.reshape(3, -1))
