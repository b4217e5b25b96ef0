"""Autoregressive masks as pure NumPy functions of shapes and orders.

Nothing here touches parameters: layers multiply their kernels by these masks at
every call, so the masks never drift and are never learned.

Spatial masks (van den Oord et al. 2016, "Pixel Recurrent Neural Networks",
section 3.4, figure 2): a masked convolution sees the rows above the centre and
the pixels left of the centre in the centre row. Within the centre pixel the
feature maps are split into ``num_groups`` contiguous groups (R, G, B for
colour images); mask A connects output group g to input groups < g, mask B to
input groups <= g.

Because every row below the centre is masked out, the kernels in this library
store only the top ``k // 2 + 1`` rows (the centre row last): the masks below
have that cropped shape ``[k//2 + 1, k, C_in, C_out]``.

MADE masks (Germain et al. 2015, "MADE: Masked Autoencoder for Distribution
Estimation", section 4 and eq. 12-13): each unit gets a degree; a hidden unit of
degree m sees inputs of degree <= m, an output of degree d sees hidden units of
degree < d.

Dimensions: D input dimensions, K hidden units, C channels, k kernel size.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def channel_groups(num_channels: int, num_groups: int) -> np.ndarray:
  """Group index of each of ``num_channels`` feature maps (contiguous blocks).

  Args:
    num_channels: number of feature maps; a multiple of ``num_groups``.
    num_groups: number of colour groups (1 for grey images, 3 for RGB).

  Returns:
    int array ``[num_channels]`` with values in ``[0, num_groups)``.
  """
  if num_groups < 1 or num_channels % num_groups:
    raise ValueError(
        f"expected a channel count divisible by num_groups={num_groups}, "
        f"got {num_channels} channels")
  return np.arange(num_channels) // (num_channels // num_groups)


def spatial_mask(kernel_size: int, in_channels: int, out_channels: int,
                 mask_type: str, num_groups: int = 1) -> np.ndarray:
  """Mask A or B for a cropped ``kernel_size`` x ``kernel_size`` convolution.

  Args:
    kernel_size: odd kernel width k.
    in_channels: input feature maps, a multiple of ``num_groups``.
    out_channels: output feature maps, a multiple of ``num_groups``.
    mask_type: ``"A"`` (excludes the current channel group: first layer) or
      ``"B"`` (includes it: every later layer).
    num_groups: channel groups of the autoregressive order within a pixel.

  Returns:
    float32 array ``[k // 2 + 1, k, in_channels, out_channels]``; row
    ``k // 2`` is the centre row.
  """
  if kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"expected an odd kernel size >= 1, got {kernel_size}")
  if mask_type not in ("A", "B"):
    raise ValueError(f"expected mask_type 'A' or 'B', got {mask_type!r}")
  half = kernel_size // 2
  mask = np.ones((half + 1, kernel_size, in_channels, out_channels), np.float32)
  mask[half, half + 1:] = 0.0  # right of the centre in the centre row
  g_in = channel_groups(in_channels, num_groups)[:, None]  # [C_in, 1]
  g_out = channel_groups(out_channels, num_groups)[None, :]  # [1, C_out]
  allowed = g_in < g_out if mask_type == "A" else g_in <= g_out
  mask[half, half] = allowed.astype(np.float32)
  return mask


def pixel_mask(in_channels: int, out_channels: int, mask_type: str,
               num_groups: int = 1) -> np.ndarray:
  """The centre-pixel part of a spatial mask: a 1x1 masked convolution.

  Returns:
    float32 array ``[in_channels, out_channels]``.
  """
  return spatial_mask(1, in_channels, out_channels, mask_type, num_groups)[0, 0]


def made_degrees(order: Sequence[int], hidden_sizes: Sequence[int],
                 rng: np.random.Generator | None) -> list[np.ndarray]:
  """Degrees of the input and hidden units of one MADE mask set.

  Args:
    order: a permutation of ``range(D)``; ``order[t]`` is the dimension at
      position t of the autoregressive order.
    hidden_sizes: units per hidden layer.
    rng: draws hidden degrees uniformly from ``[min degree below, D - 1]``
      (connectivity-agnostic MADE, section 4.1); ``None`` spreads them evenly
      and deterministically over that range instead.

  Returns:
    ``[m_0 (D,), m_1 (K_1,), ...]``: input degrees ``m_0[d]`` in ``1..D`` (the
    position of dimension d in the order, plus one) and hidden degrees.
  """
  order = np.asarray(order)
  num_dims = order.shape[0]
  if sorted(order.tolist()) != list(range(num_dims)):
    raise ValueError(f"expected a permutation of range({num_dims}), got {order}")
  m_in = np.empty(num_dims, np.int64)
  m_in[order] = np.arange(1, num_dims + 1)
  degrees = [m_in]
  for size in hidden_sizes:
    low = int(min(degrees[-1].min(), num_dims - 1))
    high = max(num_dims - 1, 1)
    if rng is None:
      m = low + (np.arange(size) * max(high - low + 1, 1)) // max(size, 1)
      m = np.minimum(m, high)
    else:
      m = rng.integers(low, high + 1, size=size)
    degrees.append(m.astype(np.int64))
  return degrees


def made_connectivity(degrees, params_per_dim: int = 1):
  """Boolean MADE masks from degrees, for NumPy or (traced) JAX arrays alike.

  Args:
    degrees: ``[m_0, m_1, ..., m_L]`` input and hidden degrees (:func:`made_degrees`), each ``[units]``
      or with leading dimensions shared by all (``[B, units]``: one mask set per example).
    params_per_dim: output units per dimension; the output for dimension d occupies units
      ``d * params_per_dim ... (d + 1) * params_per_dim - 1``.

  Returns:
    ``(layers, direct)``: ``[..., in, out]`` per hidden layer and the output layer (a hidden unit of
    degree m sees inputs of degree <= m; output d sees hidden units of degree < m_0(d)), and the
    direct input-to-output connections ``[..., D, D * params_per_dim]`` (input d' feeds output d iff
    ``m_0(d') < m_0(d)``).
  """
  out_degrees = degrees[0].repeat(params_per_dim, axis=-1)  # [..., D * P]
  layers = [below[..., :, None] <= above[..., None, :]
            for below, above in zip(degrees[:-1], degrees[1:])]
  layers.append(degrees[-1][..., :, None] < out_degrees[..., None, :])
  return layers, degrees[0][..., :, None] < out_degrees[..., None, :]


def made_masks(degrees: Sequence[np.ndarray],
               params_per_dim: int = 1) -> list[np.ndarray]:
  """Connectivity masks from the degrees of :func:`made_degrees`.

  Args:
    degrees: ``[m_0, m_1, ..., m_L]`` input and hidden degrees.
    params_per_dim: output units per dimension (1 for a Bernoulli logit, L for
      an L-way categorical); the output for dimension d occupies units
      ``d * params_per_dim ... (d + 1) * params_per_dim - 1``.

  Returns:
    float32 masks ``[in, out]`` for each hidden layer and the output layer.
  """
  layers, _ = made_connectivity([np.asarray(d) for d in degrees], params_per_dim)
  return [m.astype(np.float32) for m in layers]


def made_direct_mask(input_degrees: np.ndarray, params_per_dim: int = 1) -> np.ndarray:
  """Mask of MADE's direct input-to-output connections: output d sees input d' iff
  ``m_0(d') < m_0(d)`` (a logistic autoregression beside the hidden layers).

  Returns:
    float32 ``[D, D * params_per_dim]``.
  """
  _, direct = made_connectivity([np.asarray(input_degrees)], params_per_dim)
  return direct.astype(np.float32)
