"""RNADE: the real-valued neural autoregressive density estimator.

Uria, Murray & Larochelle 2013, "RNADE: The real-valued neural autoregressive
density-estimator" (NIPS). NADE's tied input weights with a mixture density
network per conditional (section 2):

* ``a_1 = c``, ``a_{d+1} = a_d + W[d] x_d`` -- the hidden pre-activations of all
  D conditionals share one weight matrix, so the full pass is an exclusive
  cumulative sum, O(D H) per example, and the decode path keeps ``a`` ``[B, H]``
  in the cache, O(H) per step (plus the output layer).
* ``h_d = act(rho_d a_d)``, a learnt activation rescaling per dimension (the
  paper's rho_d; initialised to 1, as in the authors' released code). ReLU by
  default (that code's default nonlinearity; sigmoid is available).
* per-dimension output layers ``V^alpha_d, V^mu_d, V^sigma_d`` (``[H, K]``
  each, stored together as ``V [D, H, 3K]``) and biases ``b [D, 3K]`` give the
  mixture logits, means and log-scales of dimension d
  (:mod:`armodels_jax.distributions.mixtures`): mixtures of Gaussians
  (RNADE-MoG, ``head_kind='gaussian'``), of Laplace densities (RNADE-MoL,
  ``'laplace'``), or of logistic densities (``'logistic'``, ours).

The model is fixed-order (raster order of the flattened event). The paper's
order-agnostic training of RNADE (its section 3, for the image-patch
experiments) is out of scope here; EoNADE is the order-agnostic family.

Paper numbers, Table 1 (UCI, mean test log-likelihood per datapoint over 10
folds, standardised data, higher is better): red wine RNADE-MoG -9.36
(RNADE-MoL -9.46 as we read the table; not re-checked against the PDF here).
``paper`` size: 50 hidden units and 10 components (the paper chose settings on
validation data; 10 components is the value in the authors' released red-wine
run script). ``experiments/configs/rnade_wine_red.py`` and
``experiments/rnade_wine_folds.py`` run the 10-fold protocol.

Dimensions: B batch, D = prod(event_shape), H hidden units, K mixture
components, P = 3K raw parameters per dimension.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from armodels_jax.distributions import make_head
from armodels_jax.layers.running_sum import RunningSum
from armodels_jax.models import registry
from armodels_jax.models.base import ARModel

ACTIVATIONS = {"relu": nn.relu, "sigmoid": nn.sigmoid}


def _bias_init(num_components: int):
  """Biases ``[D, 3K]``: equal weights, locations spread over [-2, 2] (standardised
  data), unit scales (raw log-scale 0)."""
  def init(key, shape, dtype=jnp.float32):
    del key
    num_dims = shape[0]
    locs = np.linspace(-2.0, 2.0, num_components) if num_components > 1 else np.zeros(1)
    row = np.concatenate([np.zeros(num_components), locs, np.zeros(num_components)])
    return jnp.asarray(np.broadcast_to(row, (num_dims, 3 * num_components)), dtype)
  return init


class RNADE(ARModel):
  """NADE with mixture-density conditionals for real-valued vectors.

  Attributes:
    hidden_size: H.
    num_components: K, mixture components per conditional.
    head_kind: ``'auto'`` or ``'gaussian'`` (MoG), ``'laplace'`` (MoL), ``'logistic'``.
    activation: ``'relu'`` (default, as the authors' code) or ``'sigmoid'``.
    min_scale: the floor added to every component scale (keeps densities
      finite; the paper's ``exp`` has none).
    decode: build the one-dimension-per-call decoder (used by the sampler).
  """

  hidden_size: int = 50
  num_components: int = 10
  activation: str = "relu"
  min_scale: float = 1e-3
  decode: bool = False

  has_decode = True
  real_valued = True

  @property
  def head(self):
    return make_head(self.head_kind, None, self.num_components, self.min_scale)

  def check_config(self) -> None:
    if self.num_levels is not None:
      raise ValueError(f"RNADE is real-valued: expected num_levels=None, got {self.num_levels!r}")
    if self.hidden_size < 1:
      raise ValueError(f"expected hidden_size >= 1, got {self.hidden_size}")
    if self.num_components < 1:
      raise ValueError(f"expected num_components >= 1, got {self.num_components}")
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"expected activation in {sorted(ACTIVATIONS)}, got {self.activation!r}")
    self.head  # noqa: B018  (raises for a head_kind that is not a real-valued mixture)

  def setup(self):
    d, h, p = self.num_dims, self.hidden_size, self.head.num_params
    # W[d] multiplies x_d; its last row feeds no conditional (as NADE's W_{:, <d}).
    self.W = self.param("W", nn.initializers.normal(stddev=1.0 / np.sqrt(d)), (d, h))
    self.c = self.param("c", nn.initializers.zeros, (h,))
    self.rho = self.param("rho", nn.initializers.ones, (d,))
    self.V = self.param("V", nn.initializers.normal(stddev=0.01), (d, h, p))
    self.b = self.param("b", _bias_init(self.num_components), (d, p))
    if self.decode:
      self.running = RunningSum()

  def _act(self, a: jnp.ndarray) -> jnp.ndarray:
    return ACTIVATIONS[self.activation](a)

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False) -> jnp.ndarray:
    """Raw mixture parameters of every conditional.

    Args:
      x: ``[B, *event_shape]`` float.
      cond: unused (RNADE is unconditional).
      train: unused (no training-time randomness).

    Returns:
      ``[B, *event_shape, 3K]``.
    """
    del cond, train
    flat = x.reshape(x.shape[0], -1).astype(jnp.float32)  # [B, D]
    contrib = flat[:, :, None] * self.W[None]  # [B, D, H]: x_d W[d]
    running = jnp.cumsum(contrib, axis=1)  # [B, D, H]: sum_{j <= d}
    before = jnp.concatenate([jnp.zeros_like(running[:, :1]), running[:, :-1]], axis=1)  # j < d
    h = self._act(self.rho[None, :, None] * (self.c[None, None, :] + before))  # [B, D, H]
    raw = jnp.einsum("bdh,dhp->bdp", h, self.V) + self.b[None]  # [B, D, P]
    return raw.reshape(x.shape + (raw.shape[-1],))

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of dimension t, given the canvas ``[B, *event_shape]``
    holding x at the dimensions before t.

    The cache keeps ``s = sum_{j < t} x_j W[j]`` ``[B, H]``; step t adds
    ``x_{t-1} W[t-1]`` (nothing at t = 0).
    """
    del cond
    flat = canvas.reshape(canvas.shape[0], -1).astype(jnp.float32)  # [B, D]
    prev = jnp.maximum(t - 1, 0)
    step_in = flat[:, prev][:, None] * self.W[prev][None, :]  # [B, H]: x_{t-1} W[t-1]
    s = self.running(jnp.zeros_like(step_in), step_in, t == 0)  # [B, H]: nothing at t = 0
    h = self._act(self.rho[t] * (self.c[None, :] + s))  # [B, H]
    return h @ self.V[t] + self.b[t][None, :]  # [B, P]


def _sizes(event_shape: tuple[int, ...], num_levels: Any, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      "tiny": dict(hidden_size=8, num_components=2),
      "small": dict(hidden_size=32, num_components=5),
      "paper": dict(hidden_size=50, num_components=10),
  }[size]


registry.register("rnade", RNADE, _sizes)
