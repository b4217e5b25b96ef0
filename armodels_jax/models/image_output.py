"""The output layer shared by the image models: per-pixel features to sub-pixel raw parameters.

Every image model computes a feature map ``h [B, H, W, F]`` whose pixel (i, j)
sees only pixels strictly before (i, j) in raster order, then applies
:class:`ChannelOutput`, which adds the channel autoregression within a pixel
(R, then G given R, then B given R and G; van den Oord et al. 2016, "Pixel
Recurrent Neural Networks", section 3.4):

* ``"bernoulli"`` / ``"categorical"`` (PixelCNN's 256-way softmax, section
  5.1 there): channel c's raw parameters are a per-channel linear map of h plus
  a learned table of the values of the pixel's channels < c (a strictly
  lower-triangular map of their one-hot codes), optionally through one ReLU
  hidden layer masked the same way.
* ``"logistic_mixture"`` (Salimans et al. 2017, "PixelCNN++", sections 2.1-2.2):
  a linear map of h to the pixel's mixture parameters; the head itself links
  the channels (see :mod:`armodels_jax.distributions.logistic_mixture`).

Precision: the layers compute in the dtype of ``h`` and of the parameters
(bfloat16 in a mixed-precision model); the raw parameters come out float32, so
the head (log-softmax, logistic CDFs) always computes in float32.

``__call__`` and ``decode`` share parameters (``setup``), so a model's decode
path reuses the trained output layer: ``decode(h_ij, pixel, c)`` returns channel
c's raw vector of one pixel given the values of its channels < c.

:class:`ImageModel` is the base of the models that end in ``ChannelOutput``: it
gives them the ``head`` property, the checks of the image event shape and of
``head_kind``, and the ``ChannelOutput`` that fits their fields.

Dimensions: B batch, H height, W width, C channels, F features, L levels,
P raw parameters per sub-pixel, N hidden units.
"""

from __future__ import annotations

from typing import ClassVar, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.distributions.heads import Bernoulli, Categorical
from armodels_jax.distributions.logistic_mixture import DiscretizedLogisticMixture
from armodels_jax.models.base import ARModel

IMAGE_HEADS = ("auto", "bernoulli", "categorical", "logistic_mixture")


def image_head(kind: str, num_levels: int, channels: int, num_components: Optional[int] = 5):
  """The head of an image model by name.

  Args:
    kind: one of :data:`IMAGE_HEADS`. ``"auto"`` is Bernoulli for binary
      single-channel images, else categorical.
    num_levels: L >= 2 values per sub-pixel.
    channels: C >= 1 image channels.
    num_components: mixture components (``"logistic_mixture"`` only).

  Returns:
    A hashable head (``num_params``, ``log_prob``, ``log_probs``, ``sample``).
  """
  if kind not in IMAGE_HEADS:
    raise ValueError(f"expected an image head in {list(IMAGE_HEADS)}, got {kind!r}")
  if isinstance(num_levels, bool) or not isinstance(num_levels, (int, np.integer)) \
      or num_levels < 2:
    raise ValueError(f"image heads expect an integer num_levels >= 2, got {num_levels!r}")
  if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
    raise ValueError(f"image heads expect an integer channels >= 1, got {channels!r}")
  if kind == "auto":
    kind = "bernoulli" if num_levels == 2 and channels == 1 else "categorical"
  if kind == "bernoulli":
    if num_levels != 2:
      raise ValueError(f"the Bernoulli head expects num_levels=2, got {num_levels}")
    return Bernoulli()
  if kind == "categorical":
    return Categorical(int(num_levels))
  if isinstance(num_components, bool) or not isinstance(num_components, (int, np.integer)) \
      or num_components < 1:
    raise ValueError(
        f"the logistic_mixture head expects an integer num_components >= 1, got "
        f"{num_components!r}")
  return DiscretizedLogisticMixture(int(num_levels), int(num_components), int(channels))


class ChannelOutput(nn.Module):
  """Per-pixel features to the raw parameters of every sub-pixel.

  Attributes:
    head_kind: one of :data:`IMAGE_HEADS`.
    num_levels: L.
    channels: C.
    num_components: mixture components (logistic mixture only).
    hidden: width of an optional ReLU hidden layer (0: none).
  """

  head_kind: str
  num_levels: int
  channels: int
  num_components: int = 5
  hidden: int = 0

  def setup(self):
    self.head = image_head(self.head_kind, self.num_levels, self.channels,
                           self.num_components)
    if self.hidden < 0:
      raise ValueError(f"ChannelOutput expects hidden >= 0, got {self.hidden}")
    c, n = self.channels, self.hidden
    self._mixture = isinstance(self.head, DiscretizedLogisticMixture)
    if self._mixture:
      if n:
        self.hidden_layer = nn.Dense(n, name="hidden")
      self.pixel_dense = nn.Dense(self.head.pixel_params, name="pixel")
      return
    p = self.head.num_params
    width = n if n else p
    # Channel c's pre-activation from h (a Dense per channel, stacked).
    self.from_h = nn.Dense(c * width, name="from_h")
    if c > 1:
      # U[c, c', value, :], used only where c' < c.
      self.table = self.param(
          "from_values", nn.initializers.normal(1.0 / np.sqrt(c)),
          (c, c, self.num_levels, width))
    if n:
      lecun = nn.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
      self.out_kernel = self.param("out_kernel", lecun, (c, n, p))
      self.out_bias = self.param("out_bias", nn.initializers.zeros, (c, p))

  def _raw(self, h: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``h [..., F]``, ``x [..., C]`` int -> ``[..., C, P]``; channel c reads x[..., :c]."""
    c = self.channels
    if self._mixture:
      if self.hidden:
        h = nn.relu(self.hidden_layer(h))
      return self.head.expand(self.pixel_dense(h).astype(jnp.float32), x)
    lead = h.shape[:-1]
    pre = self.from_h(h).reshape(*lead, c, -1)  # [..., C, width]
    if c > 1:
      before = np.tril(np.ones((c, c), np.float32), -1)  # [c, c'] = c' < c
      table = self.table * jnp.asarray(before, self.table.dtype)[:, :, None, None]
      onehot = jax.nn.one_hot(x, self.num_levels, dtype=pre.dtype)  # [..., C, L]
      pre = pre + jnp.einsum("...dl,cdlw->...cw", onehot, table)
    if not self.hidden:
      return pre.astype(jnp.float32)
    act = nn.relu(pre)
    out = jnp.einsum("...cn,cnp->...cp", act, self.out_kernel)
    return (out + jnp.broadcast_to(self.out_bias, out.shape)).astype(jnp.float32)

  def _check(self, h, x, rank, what):
    if h.ndim != rank or x.shape != h.shape[:-1] + (self.channels,):
      raise ValueError(
          f"ChannelOutput.{what} expects h of rank {rank} and x of shape "
          f"h.shape[:-1] + ({self.channels},), got h {tuple(h.shape)} and x {tuple(x.shape)}")

  def __call__(self, h: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``h [B, H, W, F]``, ``x [B, H, W, C]`` int -> raw ``[B, H, W, C, P]``.

    Channel c's raw parameters at a pixel depend on h at that pixel and on the
    pixel's channels < c only.
    """
    self._check(h, x, 4, "__call__")
    return self._raw(h, x)

  def decode(self, h: jnp.ndarray, pixel: jnp.ndarray, c) -> jnp.ndarray:
    """One sub-pixel's raw parameters (the decode path).

    Args:
      h: ``[B, F]`` features of the pixel.
      pixel: ``[B, C]`` int; channels < c hold their final values (the rest
        are ignored).
      c: channel index, a Python or traced integer scalar.

    Returns:
      ``[B, P]``, equal to ``__call__``'s entry for that pixel and channel.
    """
    self._check(h, pixel, 2, "decode")
    if self._mixture:
      pixel_raw = self.pixel_dense(nn.relu(self.hidden_layer(h)) if self.hidden else h)
      return self.head.expand_one(pixel_raw.astype(jnp.float32), pixel, c)
    raw = self._raw(h, pixel)  # [B, C, P]: C small, the whole output layer is cheap
    return jax.lax.dynamic_index_in_dim(raw, jnp.asarray(c, jnp.int32), axis=1,
                                        keepdims=False)


class ImageModel(ARModel):
  """Base of the image models over ``(H, W, C)`` whose per-pixel features end in
  :class:`ChannelOutput`.

  A subclass sets its fields (``head_kind`` may get another default, e.g.
  ``"logistic_mixture"``), calls ``super().check_config()`` first in its own
  ``check_config`` and builds its output layer with :meth:`channel_output`.

  Attributes:
    num_components: mixture components of the ``"logistic_mixture"`` head.
  """

  num_components: int = 5

  # The model's name in error messages (default: the class name).
  display_name: ClassVar[str] = ""

  @property
  def head(self):
    """:func:`image_head` of ``head_kind`` for this model's levels, channels and components."""
    return image_head(self.head_kind, self.num_levels, self.event_shape[-1], self.num_components)

  def check_config(self) -> None:
    """Raises ValueError unless ``event_shape`` is ``(H, W, C)`` and ``head_kind`` names one of
    :data:`IMAGE_HEADS` that fits ``num_levels``, C and ``num_components``."""
    name = self.display_name or type(self).__name__
    if len(self.event_shape) != 3:
      raise ValueError(f"{name} expects an image event_shape (H, W, C), got {self.event_shape}")
    if self.head_kind not in IMAGE_HEADS:
      raise ValueError(f"{name} expects head_kind in {list(IMAGE_HEADS)}, got {self.head_kind!r}")
    _ = self.head  # raises ValueError for a head that does not fit the data

  def channel_output(self, hidden: int = 0, name: str = "output") -> ChannelOutput:
    """The :class:`ChannelOutput` of this model's head (``hidden``: its ReLU hidden layer)."""
    return ChannelOutput(head_kind=self.head_kind, num_levels=self.num_levels,
                         channels=self.event_shape[-1], num_components=self.num_components,
                         hidden=hidden, name=name)
