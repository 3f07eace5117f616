"""Conv and pooling: every implementation equals flax.linen's, in values and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from corel_jax.errors import ConfigError
from corel_jax.models import Conv, max_pool
from corel_jax.models.conv import conv_padding, im2col, resolve_conv_impl

CASES = [
    # (window, spatial, cin, cout)
    ((3, 3), (9, 8), 3, 5),
    ((1, 1), (5, 5), 2, 4),
    ((2, 3), (7, 6), 2, 3),
    ((5, 5), (8, 9), 1, 4),
    ((3,), (11,), 4, 6),
    ((4,), (9,), 3, 2),
    ((5,), (12,), 5, 7),
]


def _loss(y):
    # A fixed, non-symmetric readout so gradients are not all equal.
    w = jnp.linspace(-1.0, 2.0, y.size).reshape(y.shape)
    return jnp.sum(jnp.sin(y) * w)


@pytest.mark.parametrize("impl", ["xla", "im2col"])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("window,spatial,cin,cout", CASES)
def test_conv_matches_flax(impl, padding, window, spatial, cin, cout):
    key_x, key_p = jax.random.split(jax.random.key(sum(window) + cin))
    x = jax.random.normal(key_x, (2, *spatial, cin))
    ours = Conv(cout, window, padding=padding, impl=impl)
    ref = nn.Conv(cout, window, padding=padding)
    # jitted throughout: op-by-op dispatch compiles each primitive of the layer and its
    # gradient on its own, several times the compile work of one program
    params = jax.jit(ref.init)(key_p, x)
    # Same param tree and same default initialisation.
    ours_params = jax.jit(ours.init)(key_p, x)
    assert jax.tree.structure(ours_params) == jax.tree.structure(params)
    np.testing.assert_array_equal(ours_params["params"]["kernel"], params["params"]["kernel"])
    # Non-zero bias so the bias path is exercised.
    params = jax.tree.map(lambda a: a + 0.1 * jnp.arange(a.size).reshape(a.shape) / a.size, params)

    y, y_ref = jax.jit(ours.apply)(params, x), jax.jit(ref.apply)(params, x)
    assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)

    grad = jax.jit(jax.grad(lambda p, x: _loss(ours.apply(p, x)), argnums=(0, 1)))(params, x)
    grad_ref = jax.jit(jax.grad(lambda p, x: _loss(ref.apply(p, x)), argnums=(0, 1)))(params,
                                                                                         x)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    jax.tree.map(close, grad, grad_ref)


def test_conv_extra_batch_axes_and_jit_vmap():
    x = jax.random.normal(jax.random.key(0), (3, 2, 6, 6, 2))
    layer = Conv(4, (3, 3), impl="im2col")
    params = layer.init(jax.random.key(1), x[0])
    y = layer.apply(params, x)
    assert y.shape == (3, 2, 6, 6, 4)
    y_vmap = jax.jit(jax.vmap(layer.apply, in_axes=(None, 0)))(params, x)
    np.testing.assert_allclose(y, y_vmap, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", ["xla", "im2col"])
def test_conv_grads_under_vmap_over_runs(impl):
    # The engine's case: per-run kernels and per-run inputs, vmapped, differentiated.
    runs, x = 3, jax.random.normal(jax.random.key(0), (3, 4, 7, 6, 2))
    ours, ref = Conv(5, (3, 3), impl=impl), nn.Conv(5, (3, 3))
    params = jax.vmap(lambda k: ref.init(k, x[0]))(jax.random.split(jax.random.key(1), runs))

    def grads(layer):
        loss = lambda p, x: _loss(layer.apply(p, x))
        return jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))(params, x)

    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    jax.tree.map(close, grads(ours), grads(ref))


def test_conv_bf16_compute_keeps_fp32_params():
    x = jnp.ones((1, 5, 5, 2))
    layer = Conv(3, (3, 3), dtype=jnp.bfloat16)
    params = layer.init(jax.random.key(0), x)
    assert params["params"]["kernel"].dtype == jnp.float32
    assert layer.apply(params, x).dtype == jnp.bfloat16


def test_conv_padding_and_bad_config():
    assert conv_padding("same", (3, 4)) == ((1, 1), (1, 2))
    assert conv_padding([(0, 2)], (3,)) == ((0, 2),)
    with pytest.raises(ConfigError, match="unknown padding"):
        conv_padding("CIRCULAR", (3,))
    with pytest.raises(ConfigError, match="valid: auto, xla, im2col"):
        resolve_conv_impl("fft")
    assert resolve_conv_impl("auto") in ("xla", "im2col")
    with pytest.raises(ValueError, match="larger than the padded input"):
        im2col(jnp.ones((1, 2, 2, 1)), (3, 3), "VALID")


def test_explicit_padding_matches_flax():
    x = jax.random.normal(jax.random.key(0), (2, 7, 3))
    ours, ref = Conv(4, (3,), padding=[(2, 0)], impl="im2col"), nn.Conv(4, (3,), padding=[(2, 0)])
    params = ref.init(jax.random.key(1), x)
    np.testing.assert_allclose(ours.apply(params, x), ref.apply(params, x), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("impl", ["reshape", "reduce_window", "auto"])
@pytest.mark.parametrize(
    "shape,window",
    [
        ((2, 28, 28, 3), (2, 2)),
        ((2, 7, 7, 2), (2, 2)),
        ((1, 9, 5, 1), (3, 2)),
        ((2, 11, 4), (2,)),
        ((2, 14, 14, 3), (2, 2)),
    ],
)
def test_max_pool_matches_flax(impl, shape, window):
    # Continuous random values: no ties, so every impl has the same (unique) gradient.
    x = jax.random.normal(jax.random.key(shape[1]), shape)
    y, y_ref = max_pool(x, window, impl=impl), nn.max_pool(x, window, strides=window)
    assert y.shape == y_ref.shape
    np.testing.assert_array_equal(y, y_ref)
    g = jax.grad(lambda x: _loss(max_pool(x, window, impl=impl)))(x)
    g_ref = jax.grad(lambda x: _loss(nn.max_pool(x, window, strides=window)))(x)
    np.testing.assert_allclose(g, g_ref, rtol=1e-6, atol=1e-6)


def test_max_pool_sizes_floor_like_pytorch():
    x = jnp.zeros((1, 28, 28, 1))
    sizes = []
    for _ in range(3):
        x = max_pool(x)
        sizes.append(x.shape[1])
    assert sizes == [14, 7, 3]


def test_max_pool_overlapping_and_errors():
    x = jax.random.normal(jax.random.key(0), (1, 6, 6, 2))
    np.testing.assert_array_equal(
        max_pool(x, (3, 3), strides=(1, 1)), nn.max_pool(x, (3, 3), strides=(1, 1))
    )
    with pytest.raises(ConfigError, match="strides == window"):
        max_pool(x, (3, 3), strides=(1, 1), impl="reshape")
    with pytest.raises(ConfigError, match="unknown pool impl"):
        max_pool(x, impl="avg")
    with pytest.raises(ValueError, match="larger than the input"):
        max_pool(jnp.zeros((1, 1, 1, 1)))


# --------------------------------------------------------------------------- image CNN blocks


class _FlaxReferenceCNN(nn.Module):
    """The paper's image CNN written the textbook way: flax Conv, bias, LeakyReLU, then pool."""

    features: tuple = (5, 7, 6)

    @nn.compact
    def __call__(self, x):
        for i, f in enumerate(self.features):
            x = nn.Conv(f, (3, 3), padding="SAME", name=f"conv{i}")(x)
            x = nn.max_pool(nn.leaky_relu(x, 0.2), (2, 2), strides=(2, 2), padding="VALID")
        return x.reshape(x.shape[0], -1)


def _conv_stack(multiple, features=(5, 7, 6), impl="im2col"):
    from corel_jax.models.cnn import ConvPoolBlock

    class Stack(nn.Module):
        @nn.compact
        def __call__(self, x):
            pad = 0
            for i, f in enumerate(features):
                block = ConvPoolBlock(f, in_padding=pad, channel_multiple=multiple,
                                      conv_impl=impl, name=f"conv{i}")
                x = block(x)
                pad = block.out_padding()
            return x

    return Stack()


@pytest.mark.parametrize("multiple", [1, 4, 16])
@pytest.mark.parametrize("impl", ["xla", "im2col"])
def test_conv_pool_blocks_equal_textbook_cnn(multiple, impl):
    """Pool-first with zero-padded channels is the same function as flax's conv -> LeakyReLU ->
    pool, in values and in gradients, from the same params (tree and shapes unchanged)."""
    x = jax.random.normal(jax.random.key(1), (3, 16, 16, 1))  # continuous: no ties in a window
    ref = _FlaxReferenceCNN()
    params = jax.jit(ref.init)(jax.random.key(0), x)  # jitted: see test_conv_matches_flax
    stack = _conv_stack(multiple, impl=impl)
    ours_params = jax.jit(stack.init)(jax.random.key(0), x)
    # Same tree, shapes and initial values as flax's Conv (the params of saved runs still load).
    assert jax.tree.map(jnp.shape, ours_params) == jax.tree.map(jnp.shape, params)
    np.testing.assert_array_equal(ours_params["params"]["conv1"]["kernel"],
                                  params["params"]["conv1"]["kernel"])
    pad = -6 % multiple
    out = jax.jit(stack.apply)(params, x)
    assert out.shape == (3, 2, 2, 6 + pad)
    np.testing.assert_array_equal(out[..., 6:], 0.0)  # the padded channels are exactly zero
    flat = lambda y: y[..., :6].reshape(y.shape[0], -1)
    np.testing.assert_allclose(flat(out), jax.jit(ref.apply)(params, x), rtol=1e-5, atol=1e-6)
    g_ours = jax.jit(jax.grad(lambda p: _loss(flat(stack.apply(p, x)))))(params)
    g_ref = jax.jit(jax.grad(lambda p: _loss(ref.apply(p, x))))(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 g_ours, g_ref)


def test_image_cnn_pads_channels_only_inside():
    """ImageCNN with channel padding (the CPU default) equals ImageCNN without, on params of
    unchanged shapes; the padding is a layout, not a model change."""
    from corel_jax.models import ImageCNN

    x = jax.random.uniform(jax.random.key(2), (4, 28, 28, 1))
    padded, plain = ImageCNN(channel_multiple=16), ImageCNN(channel_multiple=1)
    # jitted: op-by-op dispatch of the CNN and its gradient takes twice as long here
    params = jax.jit(plain.init)(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, jax.eval_shape(padded.init, jax.random.key(0), x)) == \
        jax.tree.map(jnp.shape, params)
    np.testing.assert_allclose(jax.jit(padded.apply)(params, x), jax.jit(plain.apply)(params, x),
                               rtol=1e-5, atol=1e-5)
    g1 = jax.jit(jax.grad(lambda p: _loss(padded.apply(p, x))))(params)
    g2 = jax.jit(jax.grad(lambda p: _loss(plain.apply(p, x))))(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), g1, g2)
