"""The VQ-VAE network: a convolutional encoder, the codebook, and a decoder with an exact pixel head.

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning", section 4.1: the
encoder is two strided 4x4 convolutions (stride 2) and two residual 3x3 blocks (ReLU, 3x3 conv, ReLU,
1x1 conv), all with 256 hidden units; the decoder mirrors it with two residual blocks and two 4x4
transposed convolutions. CIFAR-10's 32x32x3 images become 8x8x1 maps of K = 512 codes. The embedding
size D is not stated for that experiment; 64 is our choice.

``p(x | z)`` is exact and normalised over the pixel levels: every pixel's decoder output goes to a head
of :mod:`armodels_jax.distributions`, either the discretized logistic mixture of PixelCNN++ (Salimans et
al. 2017, eqs. 2-3: the channels of a pixel are coupled through the mixture, so the joint over C channels
is exact) or an independent L-way categorical per sub-pixel. The pixels are conditionally independent
given the code map.

Dimensions: B batch, H W C the image, h w the code map (``H / 2^n``), D embedding size, K codes, F hidden
features, P raw head parameters per pixel.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from armodels_jax import distributions
from armodels_jax.vqvae import quantizer

__all__ = ["VQVAE", "create", "options", "SIZES", "HEADS", "CODEBOOK_MODES"]

SIZES = ("tiny", "small", "paper")
HEADS = ("logistic_mixture", "categorical")
CODEBOOK_MODES = ("ema", "loss")


class _Residual(nn.Module):
  """``x + conv1x1(relu(conv3x3(relu(x))))`` (section 4.1)."""
  features: int
  hidden: int

  @nn.compact
  def __call__(self, x):
    h = nn.Conv(self.hidden, (3, 3), padding="SAME")(nn.relu(x))
    return x + nn.Conv(self.features, (1, 1))(nn.relu(h))


class _Encoder(nn.Module):
  features: int
  res_hidden: int
  num_res_blocks: int
  num_downsamples: int
  embedding_dim: int

  @nn.compact
  def __call__(self, x):  # [B, H, W, C] in [-1, 1]
    for i in range(self.num_downsamples):
      width = self.features // 2 if i < self.num_downsamples - 1 else self.features
      x = nn.relu(nn.Conv(width, (4, 4), strides=(2, 2), padding="SAME")(x))
    x = nn.Conv(self.features, (3, 3), padding="SAME")(x)
    for _ in range(self.num_res_blocks):
      x = _Residual(self.features, self.res_hidden)(x)
    return nn.Conv(self.embedding_dim, (1, 1))(nn.relu(x))  # [B, h, w, D]


class _Decoder(nn.Module):
  features: int
  res_hidden: int
  num_res_blocks: int
  num_downsamples: int
  out_features: int

  @nn.compact
  def __call__(self, z):  # [B, h, w, D]
    x = nn.Conv(self.features, (3, 3), padding="SAME")(z)
    for _ in range(self.num_res_blocks):
      x = _Residual(self.features, self.res_hidden)(x)
    x = nn.relu(x)
    for i in range(self.num_downsamples - 1):
      width = self.features // 2 if i == self.num_downsamples - 2 else self.features
      x = nn.relu(nn.ConvTranspose(width, (4, 4), strides=(2, 2), padding="SAME")(x))
    return nn.ConvTranspose(self.out_features, (4, 4), strides=(2, 2), padding="SAME")(x)  # [B, H, W, P]


class VQVAE(nn.Module):
  """Encoder, codebook (``params['codebook']``, ``[K, D]``) and decoder.

  The training fields (``beta``, ``codebook_mode``, ``codebook_decay``, ``dead_code_fraction``) are read
  by :mod:`armodels_jax.vqvae.train`; they live here so a run's options are validated and saved in one
  place.

  Attributes:
    event_shape: ``(H, W, C)``; H and W divisible by ``2 ** num_downsamples``.
    num_levels: L >= 2 pixel levels.
    num_codes: K.
    embedding_dim: D.
    features: F, hidden features of the convolutions.
    res_hidden: hidden features inside a residual block.
    num_res_blocks: residual blocks in the encoder and in the decoder.
    num_downsamples: n, stride-2 stages: the code map is ``(H / 2^n, W / 2^n)``.
    head: ``'logistic_mixture'`` or ``'categorical'``.
    num_mixtures: components of the logistic mixture.
    beta: the commitment weight (0.25 in the paper).
    codebook_mode: ``'ema'`` (appendix A.1) or ``'loss'`` (the codebook term of eq. 3).
    codebook_decay: the EMA decay gamma (0.99).
    dead_code_fraction: a code is dead (re-initialised) when its EMA count falls below this fraction of
      an even share ``N / K`` of a batch's N encoder vectors (0: never).
  """
  event_shape: tuple[int, ...]
  num_levels: int
  num_codes: int = 64
  embedding_dim: int = 16
  features: int = 64
  res_hidden: int = 32
  num_res_blocks: int = 2
  num_downsamples: int = 2
  head: str = "logistic_mixture"
  num_mixtures: int = 5
  beta: float = 0.25
  codebook_mode: str = "ema"
  codebook_decay: float = 0.99
  dead_code_fraction: float = 0.03

  # ---- shapes and the head --------------------------------------------------

  @property
  def code_shape(self) -> tuple[int, int]:
    """``(h, w)`` of the code map."""
    s = 2 ** self.num_downsamples
    return (self.event_shape[0] // s, self.event_shape[1] // s)

  @property
  def num_dims(self) -> int:
    return math.prod(self.event_shape)

  @property
  def pixel_head(self):
    c = self.event_shape[-1]
    if self.head == "logistic_mixture":
      return distributions.DiscretizedLogisticMixture(self.num_levels, self.num_mixtures, c)
    return distributions.Categorical(self.num_levels)

  @property
  def _out_features(self) -> int:
    head = self.pixel_head
    if self.head == "logistic_mixture":
      return head.pixel_params
    return self.event_shape[-1] * self.num_levels

  # ---- the network ----------------------------------------------------------

  def setup(self):
    self.encoder = _Encoder(self.features, self.res_hidden, self.num_res_blocks, self.num_downsamples,
                            self.embedding_dim)
    self.decoder = _Decoder(self.features, self.res_hidden, self.num_res_blocks, self.num_downsamples,
                            self._out_features)
    k = self.num_codes
    self.codebook = self.param(
        "codebook", nn.initializers.uniform(scale=2.0 / k), (k, self.embedding_dim))

  def _scaled(self, x):
    return x.astype(jnp.float32) * (2.0 / (self.num_levels - 1)) - 1.0

  def encode(self, x: jax.Array) -> jax.Array:
    """int ``[B, H, W, C]`` -> float ``[B, h, w, D]`` encoder outputs ``z_e``."""
    return self.encoder(self._scaled(x))

  def codes(self, x: jax.Array) -> jax.Array:
    """int ``[B, H, W, C]`` -> int32 ``[B, h, w]`` code maps."""
    return quantizer.nearest_codes(self.encode(x), self.codebook)

  def decode_raw(self, codes: jax.Array) -> jax.Array:
    """int ``[B, h, w]`` codes -> the head's raw parameters ``[B, H, W, P]``."""
    return self.decoder(jnp.take(self.codebook, codes, axis=0))

  def pixel_log_prob(self, raw: jax.Array, x: jax.Array) -> jax.Array:
    """``log p(x | z)`` per example ``[B]`` (nats) from the decoder's ``raw [B, H, W, P]``."""
    head = self.pixel_head
    if self.head == "logistic_mixture":
      per_pixel = head.pixel_log_prob(raw, x.astype(jnp.int32))  # [B, H, W]
    else:
      logits = raw.reshape(raw.shape[:-1] + (self.event_shape[-1], self.num_levels))
      per_pixel = head.log_prob(logits, x.astype(jnp.int32))  # [B, H, W, C]
    return jnp.sum(per_pixel.reshape(per_pixel.shape[0], -1), axis=-1)

  def log_px_given_codes(self, x: jax.Array, codes: jax.Array) -> jax.Array:
    """``log p(x | z = codes)`` ``[B]`` in nats."""
    return self.pixel_log_prob(self.decode_raw(codes), x)

  def sample_pixels(self, codes: jax.Array, key: jax.Array, temperature: float = 0.0) -> jax.Array:
    """Images from code maps: int ``[B, h, w]`` -> int32 ``[B, H, W, C]``.

    ``temperature = 0`` takes the most probable level of each sub-pixel (greedily over the channels of
    the logistic mixture); ``> 0`` samples ``p(x | z)`` at that temperature.
    """
    raw = self.decode_raw(codes)
    head = self.pixel_head
    c = self.event_shape[-1]
    if self.head == "categorical":
      logits = raw.reshape(raw.shape[:-1] + (c, self.num_levels))
      return head.sample(logits, key, temperature)
    pixel = jnp.zeros(raw.shape[:-1] + (c,), jnp.int32)
    for ch in range(c):  # Channel autoregression within a pixel (eq. 3).
      values = head.sample(head.expand_one(raw, pixel, ch), jax.random.fold_in(key, ch), temperature)
      pixel = pixel.at[..., ch].set(values)
    return pixel

  def __call__(self, x: jax.Array) -> dict[str, Any]:
    """The training pass on int ``[B, H, W, C]``.

    Returns:
      ``{'log_px': [B] log p(x | z_q) in nats, 'z_e': [B, h, w, D], 'indices': int32 [B, h, w],
      'codebook_loss': [B], 'commitment_loss': [B]}``, with the straight-through gradient from the
      decoder to the encoder.
    """
    z_e = self.encode(x)
    q = quantizer.quantize(z_e, self.codebook)
    raw = self.decoder(q.z_q)
    return {"log_px": self.pixel_log_prob(raw, x), "z_e": z_e, "indices": q.indices,
            "codebook_loss": q.codebook_loss, "commitment_loss": q.commitment_loss}


def _sizes(size: str) -> dict[str, Any]:
  if size == "tiny":
    return dict(num_codes=8, embedding_dim=4, features=8, res_hidden=4, num_res_blocks=1,
                num_mixtures=2)
  if size == "small":
    return dict(num_codes=64, embedding_dim=16, features=32, res_hidden=16, num_res_blocks=1,
                num_mixtures=5)
  return dict(num_codes=512, embedding_dim=64, features=256, res_hidden=256, num_res_blocks=2,
              num_mixtures=10)


_RESERVED = ("event_shape", "num_levels", "parent", "name")


def options() -> list[str]:
  """The keyword overrides `create` accepts."""
  return sorted(f.name for f in dataclasses.fields(VQVAE) if f.name not in _RESERVED)


def create(event_shape, num_levels: int, size: str = "small", **overrides: Any) -> VQVAE:
  """A `VQVAE` of a named size (``tiny``, ``small``, ``paper``: section 4.1's CIFAR-10 network) with
  field overrides.

  Raises:
    ValueError: an unknown size or override, an event that is not ``(H, W, C)`` with H and W divisible
      by ``2 ** num_downsamples``, or an option out of its range.
  """
  if size not in SIZES:
    raise ValueError(f"unknown VQ-VAE size {size!r}; expected one of {list(SIZES)}")
  unknown = sorted(set(overrides) - set(options()))
  if unknown:
    raise ValueError(f"unknown VQ-VAE option(s) {unknown}; expected among {options()}")
  try:
    shape = tuple(int(d) for d in event_shape)
  except TypeError:
    raise ValueError(f"expected event_shape (H, W, C), got {event_shape!r}") from None
  if len(shape) != 3 or min(shape) < 1:
    raise ValueError(f"a VQ-VAE expects image events (H, W, C), got event_shape {event_shape!r}")
  if not isinstance(num_levels, int) or isinstance(num_levels, bool) or num_levels < 2:
    raise ValueError(f"expected an integer num_levels >= 2, got {num_levels!r}")
  kwargs = {**_sizes(size), **overrides}
  n = int(kwargs.get("num_downsamples", 2))
  if n < 1 or shape[0] % 2 ** n or shape[1] % 2 ** n:
    raise ValueError(f"num_downsamples={n} needs H and W divisible by {2 ** n} (and n >= 1), got "
                     f"event_shape {shape}")
  for field in ("num_codes", "embedding_dim", "features", "res_hidden", "num_mixtures"):
    if field in kwargs and int(kwargs[field]) < (2 if field == "num_codes" else 1):
      raise ValueError(f"VQ-VAE option {field} must be positive (num_codes >= 2), got {kwargs[field]!r}")
  if kwargs.get("head", "logistic_mixture") not in HEADS:
    raise ValueError(f"VQ-VAE head must be one of {list(HEADS)}, got {kwargs['head']!r}")
  if kwargs.get("codebook_mode", "ema") not in CODEBOOK_MODES:
    raise ValueError(f"VQ-VAE codebook_mode must be one of {list(CODEBOOK_MODES)}, got "
                     f"{kwargs['codebook_mode']!r}")
  if not 0.0 <= float(kwargs.get("codebook_decay", 0.99)) < 1.0:
    raise ValueError(f"VQ-VAE codebook_decay must be in [0, 1), got {kwargs['codebook_decay']!r}")
  return VQVAE(event_shape=shape, num_levels=num_levels, **kwargs)
