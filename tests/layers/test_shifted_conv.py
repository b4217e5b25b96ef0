"""Shifted convolutions of PixelCNN++: full mode against a direct NumPy loop over
each layer's receptive field, decode forms against the full mode, the gated
resnet block (decode forms, dropout), and the configuration errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armodels_jax.layers import shifted_conv as sc


def _rand(shape, seed=0):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _loop_conv(x, kernel, bias, stride, left):
  """y[I, J] = b + sum_{a, c} x[s I - kh + 1 + a, s J - left + c] K[a, c] (zeros outside)."""
  x, kernel, bias = (np.asarray(a, np.float64) for a in (x, kernel, bias))
  batch, height, width, _ = x.shape
  kh, kw, _, feats = kernel.shape
  out = np.zeros((batch, height // stride, width // stride, feats)) + bias
  for i in range(height // stride):
    for j in range(width // stride):
      for a in range(kh):
        for c in range(kw):
          r, q = stride * i - kh + 1 + a, stride * j - left + c
          if 0 <= r < height and 0 <= q < width:
            out[:, i, j] += x[:, r, q] @ kernel[a, c]
  return out


def _loop_deconv(x, kernel, bias, stride, offset):
  """y[s i + a, s j + c - offset] += x[i, j] K[a, c], cropped to [s H, s W]."""
  x, kernel, bias = (np.asarray(a, np.float64) for a in (x, kernel, bias))
  batch, height, width, _ = x.shape
  kh, kw, _, feats = kernel.shape
  out = np.zeros((batch, stride * height, stride * width, feats)) + bias
  for i in range(height):
    for j in range(width):
      for a in range(kh):
        for c in range(kw):
          r, q = stride * i + a, stride * j + c - offset
          if 0 <= r < stride * height and 0 <= q < stride * width:
            out[:, r, q] += x[:, i, j] @ kernel[a, c]
  return out


def _init(layer, x):
  variables = layer.init(jax.random.key(1, impl="rbg"), jnp.asarray(x))
  # A non-zero bias, so a bias applied twice or not at all is caught.
  return jax.tree.map(lambda p: p + 0.1 if p.ndim == 1 else p, variables)


CONVS = [
    (sc.DownShiftedConv2D, (2, 3), 1), (sc.DownShiftedConv2D, (1, 3), 1),
    (sc.DownShiftedConv2D, (3, 5), 1), (sc.DownShiftedConv2D, (2, 3), 2),
    (sc.DownRightShiftedConv2D, (2, 2), 1), (sc.DownRightShiftedConv2D, (2, 1), 1),
    (sc.DownRightShiftedConv2D, (3, 2), 1), (sc.DownRightShiftedConv2D, (2, 2), 2),
]


@pytest.mark.parametrize("cls,kernel,stride", CONVS)
def test_conv_full_mode_matches_loop(cls, kernel, stride):
  x = _rand((2, 4, 6, 3))
  layer = cls(5, kernel, stride)
  v = _init(layer, x)
  y = np.asarray(layer.apply(v, x))
  left = (kernel[1] - 1) // 2 if cls is sc.DownShiftedConv2D else kernel[1] - 1
  ref = _loop_conv(x, v["params"]["kernel"], v["params"]["bias"], stride, left)
  assert y.shape == ref.shape
  np.testing.assert_allclose(y, ref, atol=1e-5)


@pytest.mark.parametrize("cls,kernel,offset", [
    (sc.DownShiftedDeconv2D, (2, 3), 1), (sc.DownShiftedDeconv2D, (1, 3), 1),
    (sc.DownRightShiftedDeconv2D, (2, 2), 0), (sc.DownRightShiftedDeconv2D, (1, 2), 0)])
def test_deconv_full_mode_matches_loop(cls, kernel, offset):
  x = _rand((2, 2, 3, 3))
  layer = cls(4, kernel, 2)
  v = _init(layer, x)
  y = np.asarray(layer.apply(v, x))
  ref = _loop_deconv(x, v["params"]["kernel"], v["params"]["bias"], 2, offset)
  assert y.shape == (2, 4, 6, 4)
  np.testing.assert_allclose(y, ref, atol=1e-5)


def test_shifts_and_concat_elu():
  x = np.arange(2 * 3 * 2 * 1, dtype=np.float32).reshape(2, 3, 2, 1)
  d = np.asarray(sc.down_shift(x))
  np.testing.assert_array_equal(d[:, 0], 0)
  np.testing.assert_array_equal(d[:, 1:], x[:, :-1])
  r = np.asarray(sc.right_shift(x))
  np.testing.assert_array_equal(r[:, :, 0], 0)
  np.testing.assert_array_equal(r[:, :, 1:], x[:, :, :-1])
  e = np.asarray(sc.concat_elu(np.array([[1.0, -2.0]], np.float32)))
  np.testing.assert_allclose(e, [[1.0, np.expm1(-2.0), np.expm1(-1.0), 2.0]], rtol=1e-6)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _call(layer, variables, cache, method, *args):
  out, upd = layer.apply({**variables, "cache": cache}, *args, method=method, mutable=["cache"])
  return out, upd["cache"]


@pytest.mark.parametrize("kernel,stride", [((2, 3), 1), ((3, 5), 1), ((2, 3), 2)])
def test_down_shifted_decode_row_equals_full(kernel, stride):
  x = _rand((2, 4, 6, 3), seed=1)
  layer = sc.DownShiftedConv2D(5, kernel, stride)
  v = _init(layer, x)
  full = np.asarray(layer.apply(v, x))
  cache = {}
  for i in range(x.shape[1]):
    out, cache = _call(layer, v, cache, sc.DownShiftedConv2D.decode_row, x[:, i], i)
    if i % stride == 0:
      np.testing.assert_allclose(out, full[:, i // stride], atol=1e-5)
  cls = sc.DownShiftedConv2D
  row_from = jax.jit(lambda i: layer.apply(v, x, i, method=cls.decode_row_from))
  pixel_from = jax.jit(lambda i, j: layer.apply(v, x, i, j, method=cls.decode_pixel_from))
  for i in range(full.shape[1]):
    np.testing.assert_allclose(row_from(i), full[:, i], atol=1e-5)
    for j in range(full.shape[2]):
      np.testing.assert_allclose(pixel_from(i, j), full[:, i, j], atol=1e-5)


@pytest.mark.parametrize("kernel,stride", [((2, 2), 1), ((3, 2), 1), ((2, 1), 1), ((2, 2), 2)])
def test_down_right_decode_pixel_equals_full(kernel, stride):
  x = _rand((2, 4, 6, 3), seed=2)
  layer = sc.DownRightShiftedConv2D(5, kernel, stride, width=6)
  v = _init(layer, x)
  full = np.asarray(layer.apply(v, x))
  cache = {}
  for i in range(4):
    for j in range(6):
      out, cache = _call(layer, v, cache, sc.DownRightShiftedConv2D.decode_pixel, x[:, i, j], i, j)
      if i % stride == 0 and j % stride == 0:
        np.testing.assert_allclose(out, full[:, i // stride, j // stride], atol=1e-5)
  cls = sc.DownRightShiftedConv2D
  row_from = jax.jit(lambda i: layer.apply(v, x, i, method=cls.decode_row_from))
  pixel_from = jax.jit(lambda i, j: layer.apply(v, x, i, j, method=cls.decode_pixel_from))
  for i in range(full.shape[1]):
    np.testing.assert_allclose(row_from(i), full[:, i], atol=1e-5)
    for j in range(full.shape[2]):
      np.testing.assert_allclose(pixel_from(i, j), full[:, i, j], atol=1e-5)


def test_decode_without_its_cache_entries_is_wrong():
  """The ring buffer matters: skipping the writes of earlier rows changes the output."""
  x = _rand((1, 3, 4, 2), seed=3)
  layer = sc.DownRightShiftedConv2D(3, (2, 2), width=4)
  v = _init(layer, x)
  full = np.asarray(layer.apply(v, x))
  _, cache = _call(layer, v, {}, sc.DownRightShiftedConv2D.decode_pixel, x[:, 0, 0], 0, 0)
  out, _ = _call(layer, v, cache, sc.DownRightShiftedConv2D.decode_pixel, x[:, 1, 1], 1, 1)
  assert not np.allclose(out, full[:, 1, 1], atol=1e-3)


@pytest.mark.parametrize("kernel", [(2, 3), (1, 3)])
def test_down_shifted_deconv_decode_row_equals_full(kernel):
  x = _rand((2, 3, 4, 3), seed=4)
  layer = sc.DownShiftedDeconv2D(5, kernel, 2)
  v = _init(layer, x)
  full = np.asarray(layer.apply(v, x))
  cache = {}
  for r in range(6):
    if r % 2 == 0:
      out, cache = _call(layer, v, cache, sc.DownShiftedDeconv2D.decode_row, x[:, r // 2], r)
    else:
      out, cache = _call(layer, v, cache, sc.DownShiftedDeconv2D.read_row, r)
    np.testing.assert_allclose(out, full[:, r], atol=1e-5)


@pytest.mark.parametrize("kernel", [(2, 2), (1, 2), (2, 1)])
def test_down_right_deconv_decode_pixel_equals_full(kernel):
  """Low-res inputs written when their high-res pixel (s I, s J) comes up, as in sampling."""
  x = _rand((2, 2, 3, 3), seed=5)
  layer = sc.DownRightShiftedDeconv2D(5, kernel, 2, width=3)
  v = _init(layer, x)
  full = np.asarray(layer.apply(v, x))
  cache = {}
  for r in range(4):
    for c in range(6):
      if r % 2 == 0 and c % 2 == 0:
        _, cache = _call(layer, v, cache, sc.DownRightShiftedDeconv2D.write_pixel,
                         x[:, r // 2, c // 2], c // 2)
      out, cache = _call(layer, v, cache, sc.DownRightShiftedDeconv2D.read_pixel, r, c)
      np.testing.assert_allclose(out, full[:, r, c], atol=1e-5)


def test_gated_resnet_down_decode_row_equals_full():
  x, a, h = _rand((2, 3, 4, 6), 6), _rand((2, 3, 4, 5), 7), _rand((2, 3), 8)
  block = sc.GatedResnet(6, "down")
  v = block.init(jax.random.key(0, impl="rbg"), x, a, h)
  full = np.asarray(block.apply(v, x, a, h))
  cache = {}
  for i in range(3):
    out, cache = _call(block, v, cache, sc.GatedResnet.decode_row, x[:, i], i, a[:, i], h)
    np.testing.assert_allclose(out, full[:, i], atol=1e-5)
  # The conditioning vector and the auxiliary input do reach the output.
  assert not np.allclose(block.apply(v, x, a, 2 * h), full, atol=1e-4)
  assert not np.allclose(block.apply(v, x, 2 * a, h), full, atol=1e-4)


def test_gated_resnet_down_right_decode_pixel_equals_full():
  x, a = _rand((2, 3, 4, 6), 9), _rand((2, 3, 4, 5), 10)
  block = sc.GatedResnet(6, "down_right", width=4)
  v = block.init(jax.random.key(0, impl="rbg"), x, a)
  full = np.asarray(block.apply(v, x, a))
  cache = {}
  for i in range(3):
    for j in range(4):
      out, cache = _call(block, v, cache, sc.GatedResnet.decode_pixel, x[:, i, j], i, j, a[:, i, j])
      np.testing.assert_allclose(out, full[:, i, j], atol=1e-5)


def test_gated_resnet_dropout():
  x = _rand((2, 3, 4, 6), 11)
  block = sc.GatedResnet(6, "down_right", dropout_rate=0.5)
  v = block.init(jax.random.key(0, impl="rbg"), x)
  plain = sc.GatedResnet(6, "down_right", dropout_rate=0.0)
  ref = np.asarray(plain.apply(v, x))
  np.testing.assert_array_equal(np.asarray(block.apply(v, x)), ref)  # train=False: no dropout
  run = lambda k: np.asarray(block.apply(v, x, train=True, rngs={"dropout": jax.random.key(k)}))
  np.testing.assert_array_equal(run(1), run(1))
  assert not np.allclose(run(1), run(2))
  assert not np.allclose(run(1), ref)


@pytest.mark.parametrize("make,message", [
    (lambda: sc.DownShiftedConv2D(4, (2, 2)), r"expects an odd kernel width, got kernel \(2, 2\)"),
    (lambda: sc.DownShiftedConv2D(4, (2,)), r"expects kernel \(kh, kw\) of positive ints, got \(2,\)"),
    (lambda: sc.DownRightShiftedConv2D(4, (2, 2), stride=0), "expects a positive int stride, got 0"),
    (lambda: sc.DownShiftedDeconv2D(4, (2, 4)), r"expects an odd kernel width, got kernel \(2, 4\)"),
])
def test_bad_config_raises(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_bad_block_and_decode_requests_raise():
  x = _rand((1, 2, 2, 4))
  with pytest.raises(ValueError, match="conv"):
    sc.GatedResnet(4, "up").init(jax.random.key(0, impl="rbg"), x)
  with pytest.raises(ValueError, match="features"):
    sc.GatedResnet(5, "down").init(jax.random.key(0, impl="rbg"), x)
  layer = sc.DownRightShiftedConv2D(3)
  v = layer.init(jax.random.key(0, impl="rbg"), x)
  with pytest.raises(ValueError, match="width"):
    layer.apply(v, x[:, 0, 0], 0, 0, method=sc.DownRightShiftedConv2D.decode_pixel, mutable=["cache"])
  deconv = sc.DownShiftedDeconv2D(3, (3, 3), 2)
  v = deconv.init(jax.random.key(0, impl="rbg"), x)
  with pytest.raises(ValueError, match="stride"):
    deconv.apply(v, x[:, 0], 0, method=sc.DownShiftedDeconv2D.decode_row, mutable=["cache"])
