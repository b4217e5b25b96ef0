"""conv_ops.conv2d: the matrix-product forms equal XLA's convolution, values and gradients.

The reference is ``lax.conv_general_dilated`` of the masked kernel (method "xla"); every shape below
takes one of the "matmul" paths (one tap, im2col, XLA forward with per-tap kernel gradient, XLA).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armodels_jax.layers import conv_ops, masks


def _case(kh, kw, c, f, mask_kind):
  if mask_kind == "pixelcnn_B":  # cropped PixelCNN mask over 3 channel groups
    return masks.spatial_mask(kw, c, f, "B", num_groups=3)[:kh]
  if mask_kind == "pixelcnn_A":
    return masks.spatial_mask(kw, c, f, "A", num_groups=1)[:kh]
  return None


@pytest.mark.parametrize("kh,kw,c,f,strides,mask_kind", [
    (1, 1, 6, 9, (1, 1), None),            # one tap: a product
    (1, 1, 6, 9, (1, 1), "pixelcnn_B"),    # one partially masked tap
    (4, 7, 1, 8, (1, 1), "pixelcnn_A"),    # few channels: im2col, taps right of centre skipped
    (2, 3, 96, 6, (1, 1), "pixelcnn_B"),   # many channels: per-tap kernel gradient, a partial tap
    (2, 3, 130, 4, (1, 1), None),
    (2, 3, 130, 4, (2, 2), None),          # strided (PixelCNN++ downsampling)
    (2, 2, 3, 4, (2, 1), None),
    (3, 5, 32, 8, (1, 1), None),           # few channels, many taps: XLA's convolution
    (3, 5, 32, 8, (1, 1), "in_loop"),      # the same in a loop body: per-tap kernel gradient
    (3, 3, 16, 4, (2, 2), "in_loop"),      # strided, in a loop body
])
def test_matmul_equals_xla(kh, kw, c, f, strides, mask_kind):
  if mask_kind == "in_loop":
    with conv_ops.loop_body():
      test_matmul_equals_xla(kh, kw, c, f, strides, None)
    return
  mask = _case(kh, kw, c, f, mask_kind)
  kx, kk, kg = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, (2, 9, 10, c))
  kernel = jax.random.normal(kk, (kh, kw, c, f))
  probe = jax.random.normal(kg, conv_ops.conv2d(x, kernel, strides, mask, "xla").shape)

  def loss(method):
    return lambda x, k: jnp.sum(jnp.tanh(conv_ops.conv2d(x, k, strides, mask, method)) * probe)

  want = jax.value_and_grad(loss("xla"), argnums=(0, 1))(x, kernel)
  got = jax.jit(jax.value_and_grad(loss("matmul"), argnums=(0, 1)))(x, kernel)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-4)
  for g, w in zip(got[1], want[1]):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
  if mask is not None:  # masked weights get exactly zero gradient
    dk = np.asarray(got[1][1])
    assert np.all(dk[np.broadcast_to(mask, dk.shape) == 0] == 0)


def test_methods_and_validation():
  x = jnp.ones((1, 3, 3, 2))
  k = jnp.ones((2, 2, 2, 1))
  with pytest.raises(ValueError, match="convolution method"):
    conv_ops.conv2d(x, k, method="fft")
  with pytest.raises(ValueError, match="convolution method"):
    conv_ops.set_default_method("fft")
  with pytest.raises(ValueError, match="smaller than kernel"):
    conv_ops.conv2d(jnp.ones((1, 1, 1, 2)), k, method="matmul")
  try:
    conv_ops.set_default_method("xla")
    assert conv_ops.default_method() == "xla"
  finally:
    conv_ops.set_default_method("auto")
  assert conv_ops.default_method() == ("matmul" if jax.default_backend() == "cpu" else "xla")


def _conv_layouts(hlo_text: str) -> set:
  return set(re.findall(r"dim_labels=([a-z0-9_]+->[a-z0-9]+)", hlo_text))


def test_a_scanned_models_backward_convolutions_take_the_cpu_fast_layout():
  """XLA's CPU backend canonicalizes convolutions only at a program's top level; in a loop body a
  kernel gradient's layout (``f01b_i01o->01bf``) ran 20x slower. Under `loop_body` (which
  `scanned.scan` enters) every convolution of the compiled train step has the fast layout."""
  from armodels_jax.layers import scanned  # pylint: disable=g-import-not-at-top
  kx, kk = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, (2, 8, 9, 16))  # 6 taps x 16 channels: not im2col
  kernels = jax.random.normal(kk, (3, 2, 3, 16, 16)) * 0.2

  def loss(x, kernels, scan):
    def step(h, k):
      return jnp.tanh(conv_ops.conv2d(jnp.pad(h, ((0, 0), (1, 0), (1, 1), (0, 0))), k,
                                      method="matmul")), None
    h = scan(step, x, kernels)[0]
    return jnp.sum(h ** 2)

  layouts = {}
  for name, scan in (("plain", jax.lax.scan), ("scanned", scanned.scan)):
    grad = jax.jit(jax.grad(lambda x, k, scan=scan: loss(x, k, scan), argnums=(0, 1)))
    layouts[name] = _conv_layouts(grad.lower(x, kernels).compile().as_text())
    np.testing.assert_allclose(grad(x, kernels)[1], jax.grad(
        lambda k: loss(x, k, jax.lax.scan))(kernels), rtol=1e-4, atol=1e-4)
  if jax.default_backend() == "cpu":  # the check can fail: a plain scan keeps the slow layouts
    assert layouts["plain"] - {"b01f_01io->b01f"}, layouts["plain"]
  assert layouts["scanned"] <= {"b01f_01io->b01f"}, layouts["scanned"]
