"""Order-agnostic Deep NADE (EoNADE) and NADE-k.

Uria, Murray & Larochelle 2014, "A Deep and Tractable Density Estimator" (ICML):
order-agnostic training of deep NADEs and ensembles of orderings; its binarized
MNIST table (test NLL): EoNADE with 2 hidden layers of 500 rectified linear
units, an ensemble of 128 orderings, 85.10 nats.

Raiko, Li, Cho & Bengio 2014, "Iterative Neural Autoregressive Distribution
Estimator (NADE-k)" (NIPS), Table 1 (binarized MNIST): EoNADE-5 with 2 hidden
layers, an ensemble of 128 orderings, 84.68 nats.

EoNADE (:class:`DeepNADE`, registry name ``eonade``)
  One MLP serves every ordering. Its input is ``[x * m, m]``: the observed
  values (scaled to ``[0, 1]``) and the binary mask ``m`` of observed
  dimensions; it outputs head parameters for every dimension, and those of the
  unobserved ones are the conditionals ``p(x_j | x_obs)``.

  * Training (``log_prob(train=True)``), as in Uria et al.: per example draw
    an ordering o and d uniform in ``{1..D}``, observe ``o_<d`` (d - 1
    dimensions) and return ``D / (D - d + 1) * sum_{j >= d} log p(x_{o_j} |
    x_{o_<d})``, an unbiased estimate of ``E_o[log p_o(x)]`` (the mean over all
    D! orderings of the exact log-likelihoods). The masks come from the
    ``'masks'`` RNG.
  * Evaluation: a fixed set of K orderings (``num_orderings``, drawn from
    ``ordering_seed``; ordering 0 is the identity, the raster order), the exact
    log-likelihood of each with D conditionals, and the uniform mixture
    ``log p(x) = logsumexp_k log p_k(x) - log K`` (probabilities are averaged,
    never logits).
  * Efficiency: the first layer is linear in ``[x * m, m]``, so along an
    ordering its pre-activations for all D prefixes are an exclusive cumulative
    sum of per-dimension contributions (``[B, D, H1]``); the deeper layers run
    on ``B * D`` rows and step t needs only output dimension ``o_t`` (a gather of
    output-weight columns): ``O(D (H1 H2 + H2 P))`` per example and ordering
    instead of ``O(D * network)``.
  * The ensemble's likelihood (:func:`ensemble_log_probs`) batches the
    orderings: a ``lax.scan`` over the D steps carries the first-layer
    pre-activation of every (ordering, example) pair, ``[K, B, H1]``, and adds
    one column per step, the dimension ``o_t`` that ordering just observed (as
    NADE does, Larochelle & Murray 2011, Algorithm 1); each step runs the
    deeper layers on ``K * B`` rows, one matrix product whose working set
    stays in cache. Measured on a shared 2-core CPU (2 hidden layers of 500,
    128 orderings, binarized MNIST, batch 16): 3.4 images per CPU-second
    (about 83 GMAC/s, the speed of a bare chain of the same matrix products)
    against 2.2 for the per-ordering path (a cumulative sum over
    ``[B, D, H1]`` per ordering, ``lax.map`` over the orderings), which
    remains selectable (:meth:`_OrderAgnosticNADE.member_log_probs` with
    ``batched=False``) and is what NADE-k uses.
  * Decode path: the cache holds the first-layer pre-activation ``[B, H1]``;
    step t adds the columns of the dimension visited at t - 1 and runs the deeper
    layers for one output dimension, ``O(H1 H2)`` per step.

NADE-k (:class:`NADEk`, registry name ``nade_k``)
  k steps of mean-field-like refinement with one set of weights (tied across
  the steps): ``v_0 = m * x + (1 - m) * u``, then for i = 1..k
  ``h_i = MLP(v_{i-1}[, m])`` and ``v_i = m * x + (1 - m) * E[x | h_i]`` (the
  expected scaled value under the head: the sigmoid for Bernoulli). The
  conditional of an unobserved dimension is the head applied to the last
  step's output. Raiko et al. initialise the missing values with the training
  mean and give the network no mask input (the authors' released
  configuration: ``use_mask=False``, tanh units, input and output weights
  untied); here ``u = sigmoid(init_logit)`` is a learned per-dimension value
  (a model cannot see the data), and the mask input is an option.

  * Training: the same order-agnostic estimator, on the last step's
    conditionals, or with intermediate reconstructions:
    ``(1 - a) * est_k + a * mean_i est_i`` (``intermediate_weight = a``). The
    authors first train with ``a = 1`` (the mean over the k steps) and then
    fine-tune with ``a = 0``.
  * Evaluation: exact, D steps per ordering, each with k full passes of the
    network (v changes everywhere at every step, so there is no running-sum
    trick): ``O(D k (D H1 + H1 H2 + H2 D P))`` per example and ordering, about
    ``k (1 + 2 D / H)`` times EoNADE's cost for ``H1 = H2 = H`` (binarized
    MNIST, k = 5, H = 500: about 20 times; measured on a CPU: 25 times).
  * Decode path: the cache holds the first pass's first-layer pre-activation
    (as EoNADE's); the k - 1 later passes run in full. One step costs k passes,
    where the naive sampler's full call costs D k passes.

``reduce=False`` and prefixes need one ordering (``num_orderings=1``); an
ensemble raises ``ValueError`` for them in ``check_request``.

Dimensions: B batch, D = prod(event_shape), T steps of an ordering (= D), K
orderings, H hidden units (H1 first layer), P raw parameters per dimension,
L levels.
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from armodels_jax.layers.running_sum import RunningSum
from armodels_jax.models import registry
from armodels_jax.models.base import ARModel

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "sigmoid": nn.sigmoid}
# Rows (examples times steps) NADE-k evaluates at once along an ordering.
_NADEK_ROWS = 2048
# Rows (orderings times examples) of one step of the batched ensemble evaluation: the deeper
# layers' matrix product at each step, sized to stay in cache.
_ENSEMBLE_ROWS = 2048


@functools.lru_cache(maxsize=32)
def orderings(num_dims: int, num_orderings: int, seed: int) -> np.ndarray:
  """The K orderings of an ensemble, ``[K, D]``: the identity, then random
  permutations drawn from ``seed``. ``orderings[k, t]`` is the dimension at
  step t of ordering k."""
  rng = np.random.default_rng(seed)
  out = [np.arange(num_dims)]
  out += [rng.permutation(num_dims) for _ in range(num_orderings - 1)]
  out = np.stack(out).astype(np.int32)
  out.setflags(write=False)
  return out


class Weights(NamedTuple):
  """The parameters as plain arrays (for pure functions inside ``lax.map``).

  Attributes:
    in_kernel: ``[D, H1]`` weights of the (scaled, masked) values.
    mask_kernel: ``[D, H1]`` weights of the mask, or None (NADE-k without it).
    in_bias: ``[H1]``.
    hidden: ``((kernel [H_{l-1}, H_l], bias [H_l]), ...)`` deeper layers.
    out_kernel: ``[H, D, P]``.
    out_bias: ``[D, P]``.
    fill: ``[D]`` the value u of unobserved dimensions in the first pass
      (zeros for EoNADE).
  """

  in_kernel: jnp.ndarray
  mask_kernel: Optional[jnp.ndarray]
  in_bias: jnp.ndarray
  hidden: tuple
  out_kernel: jnp.ndarray
  out_bias: jnp.ndarray
  fill: jnp.ndarray


def _row(v: jnp.ndarray, ndim: int) -> jnp.ndarray:
  """``[N] -> [1, ..., 1, N]`` with ``ndim`` axes (rank promotion is explicit)."""
  return v.reshape((1,) * (ndim - 1) + v.shape)


def first_layer(w: Weights, v: jnp.ndarray, m: jnp.ndarray) -> jnp.ndarray:
  """Pre-activation of the first layer: ``v, m [..., D] -> [..., H1]``."""
  a = v @ w.in_kernel
  if w.mask_kernel is not None:
    a = a + m @ w.mask_kernel
  return a + _row(w.in_bias, a.ndim)


def deeper(w: Weights, a: jnp.ndarray, act) -> jnp.ndarray:
  """First-layer pre-activation ``[..., H1]`` -> last hidden layer ``[..., H]``."""
  h = act(a)
  for kernel, bias in w.hidden:
    h = act(h @ kernel + _row(bias, h.ndim))
  return h


def out_all(w: Weights, h: jnp.ndarray) -> jnp.ndarray:
  """Raw parameters of every dimension: ``[..., H] -> [..., D, P]``."""
  raw = jnp.einsum("...h,hdp->...dp", h, w.out_kernel)
  return raw + w.out_bias.reshape((1,) * (raw.ndim - 2) + w.out_bias.shape)


def out_at(w: Weights, h: jnp.ndarray, dims: jnp.ndarray) -> jnp.ndarray:
  """Raw parameters of one dimension per row: ``h [..., H]``, ``dims [...]``
  int (or ``h [B, T, H]``, ``dims [T]``) -> ``[..., P]``. Only the
  output-weight columns of ``dims`` are used."""
  kernel = jnp.moveaxis(w.out_kernel, 1, 0)[dims]  # [*dims.shape, H, P]
  bias = w.out_bias[dims]  # [*dims.shape, P]
  if dims.ndim == h.ndim - 1:  # one dimension per row
    return jnp.einsum("...h,...hp->...p", h, kernel) + bias
  if dims.ndim == 1 and h.ndim == 3:  # [B, T, H] along an ordering shared by the batch
    return jnp.einsum("bth,thp->btp", h, kernel) + bias[None]
  raise ValueError(f"out_at: dims of shape {dims.shape} do not fit h of shape {h.shape}")


def prefix_preacts(w: Weights, xf: jnp.ndarray, order: jnp.ndarray) -> jnp.ndarray:
  """First-layer pre-activations of every prefix of an ordering.

  With ``v = m * x + (1 - m) * u``, the first layer is
  ``b + u W + sum_{j observed} ((x_j - u_j) W_j + M_j)``: along an ordering, an
  exclusive cumulative sum of per-dimension contributions.

  Args:
    w: the weights.
    xf: ``[B, D]`` scaled values.
    order: ``[D]`` shared or ``[B, D]`` per example.

  Returns:
    ``[B, T, H1]``; step t sees the dimensions at steps < t.
  """
  if order.ndim == 1:  # shared by the batch: gather the weights once
    x_ord = xf[:, order] - w.fill[order][None, :]  # [B, T]
    kernel = w.in_kernel[order][None]  # [1, T, H1]
    mask_kernel = None if w.mask_kernel is None else w.mask_kernel[order][None]
  else:
    x_ord = jnp.take_along_axis(xf, order, axis=1) - w.fill[order]  # [B, T]
    kernel = w.in_kernel[order]  # [B, T, H1]
    mask_kernel = None if w.mask_kernel is None else w.mask_kernel[order]
  contrib = x_ord[..., None] * kernel  # [B, T, H1]
  if mask_kernel is not None:
    contrib = contrib + mask_kernel
  excl = _cumsum(contrib[:, :-1])  # [B, T - 1, H1]
  excl = jnp.concatenate([jnp.zeros_like(contrib[:, :1]), excl], axis=1)  # [B, T, H1]
  base = w.in_bias + w.fill @ w.in_kernel  # [H1]
  return excl + base.reshape(1, 1, -1)


def ensemble_log_probs(w: Weights, act, head, xf: jnp.ndarray, x_flat: jnp.ndarray,
                       orders: jnp.ndarray) -> jnp.ndarray:
  """Exact log-likelihood of each ordering of a deep NADE (EoNADE), orderings batched.

  A ``lax.scan`` over the steps t carries the first-layer pre-activation of
  every (ordering, example) pair; step t runs the deeper layers on the ``K * B``
  rows, reads out dimension ``o_t`` of each ordering, and adds that dimension's
  first-layer column (``(x_j - u_j) W_j + M_j``, as in :func:`prefix_preacts`).

  Args:
    w: the weights.
    act: the hidden activation.
    head: the likelihood head.
    xf: ``[B, D]`` scaled values.
    x_flat: ``[B, D]`` int levels.
    orders: ``[K, D]`` orderings.

  Returns:
    ``[K, B]`` nats, ``log p_k(x)`` of each ordering.
  """
  out_kernel = jnp.moveaxis(w.out_kernel, 1, 0)  # [D, H, P]
  x_ord = jnp.transpose(xf[:, orders], (2, 1, 0))  # [T, K, B]
  levels_ord = jnp.transpose(x_flat[:, orders], (2, 1, 0))  # [T, K, B]
  base = w.in_bias + w.fill @ w.in_kernel  # [H1]

  def step(carry, inputs):
    pre, total = carry  # [K, B, H1], [K, B]
    dims, x_t, level_t = inputs  # [K], [K, B], [K, B]
    h = deeper(w, pre, act)  # [K, B, H]
    raw = jnp.einsum("kbh,khp->kbp", h, out_kernel[dims]) + w.out_bias[dims][:, None, :]
    total = total + head.log_prob(raw, level_t)
    column = (x_t - w.fill[dims][:, None])[..., None] * w.in_kernel[dims][:, None, :]  # [K, B, H1]
    if w.mask_kernel is not None:
      column = column + w.mask_kernel[dims][:, None, :]
    return (pre + column, total), None

  num_orderings, batch = orders.shape[0], xf.shape[0]
  pre = jnp.broadcast_to(base, (num_orderings, batch, base.shape[0]))
  total = jnp.zeros((num_orderings, batch), jnp.float32)
  (_, total), _ = jax.lax.scan(step, (pre, total), (orders.T, x_ord, levels_ord))
  return total


def _cumsum(x: jnp.ndarray) -> jnp.ndarray:
  """Inclusive cumulative sum over axis 1 of ``[B, T, H]``.

  An associative scan: ``jnp.cumsum`` lowers to a ``reduce_window`` of width T
  on the CPU (O(T^2) additions), measured 25% slower for a whole EoNADE
  evaluation on binarized MNIST.
  """
  return jax.lax.associative_scan(jnp.add, x, axis=1)


def expected_scaled(head, raw: jnp.ndarray) -> jnp.ndarray:
  """Mean of the scaled value ``x / (L - 1)`` under the head: ``[..., P] -> [...]``."""
  probs = jnp.exp(head.log_probs(raw))  # [..., L]
  levels = jnp.arange(head.num_levels, dtype=probs.dtype) / (head.num_levels - 1)
  return (probs * _row(levels, probs.ndim)).sum(-1)


class _OrderAgnosticNADE(ARModel):
  """Masking, orderings, the ensemble and the order-agnostic estimator shared
  by :class:`DeepNADE` and :class:`NADEk` (see the module docstring).

  Attributes:
    hidden_sizes: units of each hidden layer (at least one).
    num_orderings: K, the evaluation ensemble.
    ordering_seed: seed of orderings 1..K-1 (ordering 0 is the identity).
    activation: ``'relu'``, ``'tanh'`` or ``'sigmoid'``.
    decode: build the one-step-per-call decoder (used by the sampler).
  """

  hidden_sizes: tuple[int, ...] = (500, 500)
  num_orderings: int = 1
  ordering_seed: int = 0
  activation: str = "relu"
  decode: bool = False

  has_decode: ClassVar[bool] = True
  uses_mask: ClassVar[bool] = True
  learns_fill: ClassVar[bool] = False
  # The ensemble's likelihood may batch the orderings (:func:`ensemble_log_probs`).
  batches_orderings: ClassVar[bool] = False

  # ----- configuration

  def check_config(self) -> None:
    if not self.hidden_sizes or any(int(h) < 1 for h in self.hidden_sizes):
      raise ValueError(
          f"expected hidden_sizes as one or more positive ints, got {self.hidden_sizes!r}")
    if not isinstance(self.num_orderings, int) or self.num_orderings < 1:
      raise ValueError(f"expected num_orderings >= 1, got {self.num_orderings!r}")
    if self.activation not in ACTIVATIONS:
      raise ValueError(
          f"expected activation in {sorted(ACTIVATIONS)}, got {self.activation!r}")

  def orderings(self) -> np.ndarray:
    """``[K, D]`` the orderings of the ensemble (ordering 0 is the identity)."""
    return orderings(self.num_dims, self.num_orderings, self.ordering_seed)

  @property
  def shares_order(self) -> bool:
    return self.num_orderings == 1

  def check_request(self, *, reduce: bool = True, prefix_len: int = 0,
                    cond: Any = None) -> None:
    super().check_request(reduce=reduce, prefix_len=prefix_len, cond=cond)
    name = type(self).__name__
    if not self.shares_order and not reduce:
      raise ValueError(
          f"reduce=False needs one ordering, but this {name} is an ensemble over "
          f"{self.num_orderings} orderings: expected reduce=True (or num_orderings=1)")
    if not self.shares_order and prefix_len:
      raise ValueError(
          f"a prefix needs one ordering, but this {name} is an ensemble over "
          f"{self.num_orderings} orderings: expected prefix_len=0 (or num_orderings=1), "
          f"got {prefix_len}")

  # ----- parameters

  def setup(self):
    num_dims, num_params = self.num_dims, self.head.num_params
    sizes = tuple(int(h) for h in self.hidden_sizes)
    init = nn.initializers.lecun_normal()
    self.in_kernel = self.param("in_kernel", init, (num_dims, sizes[0]))
    if self.uses_mask:
      self.mask_kernel = self.param("mask_kernel", init, (num_dims, sizes[0]))
    self.in_bias = self.param("in_bias", nn.initializers.zeros, (sizes[0],))
    self.hidden = tuple(
        (self.param(f"hidden_{l}_kernel", init, (sizes[l - 1], sizes[l])),
         self.param(f"hidden_{l}_bias", nn.initializers.zeros, (sizes[l],)))
        for l in range(1, len(sizes)))
    self.out_kernel = self.param(
        "out_kernel", nn.initializers.lecun_normal(in_axis=0, out_axis=(1, 2)),
        (sizes[-1], num_dims, num_params))
    self.out_bias = self.param("out_bias", nn.initializers.zeros, (num_dims, num_params))
    if self.learns_fill:
      self.init_logit = self.param("init_logit", nn.initializers.zeros, (num_dims,))
    self.prefix_cache = RunningSum()

  def weights(self) -> Weights:
    """The parameters as a :class:`Weights` of arrays."""
    fill = (nn.sigmoid(self.init_logit) if self.learns_fill
            else jnp.zeros((self.num_dims,), jnp.float32))
    return Weights(self.in_kernel, self.mask_kernel if self.uses_mask else None,
                   self.in_bias, self.hidden, self.out_kernel, self.out_bias, fill)

  @property
  def act(self):
    return ACTIVATIONS[self.activation]

  def _orders_for(self, component, batch: int) -> jnp.ndarray:
    """The ordering(s) of ``component`` (None: 0; scalar; or ``[B]``): ``[D]`` or ``[B, D]``."""
    orders = jnp.asarray(self.orderings())  # [K, D]
    if component is None:
      return orders[0]
    component = jnp.asarray(component, jnp.int32)
    if component.ndim not in (0, 1) or (component.ndim == 1 and component.shape[0] != batch):
      raise ValueError(
          f"expected component as a scalar or of shape ({batch},), got shape {component.shape}")
    return orders[component]

  # ----- what the subclasses define

  def ordered_raw(self, w: Weights, xf: jnp.ndarray, order: jnp.ndarray) -> jnp.ndarray:
    """Raw parameters along an ordering: step t's dimension given the steps before.

    Args:
      w: the weights.
      xf: ``[B, D]`` scaled values.
      order: ``[D]`` shared or ``[B, D]`` per example.

    Returns:
      ``[B, T, P]`` in step order.
    """
    raise NotImplementedError

  def masked_log_probs(self, w: Weights, xf: jnp.ndarray, x_flat: jnp.ndarray,
                       m: jnp.ndarray) -> jnp.ndarray:
    """Training log-probabilities ``[B, D]`` of every dimension given the
    observed ones (``m [B, D]`` float; only the unobserved entries are used)."""
    raise NotImplementedError

  def _decode_output(self, w: Weights, pre: jnp.ndarray, xf: jnp.ndarray,
                     order: jnp.ndarray, t: jnp.ndarray) -> jnp.ndarray:
    """Raw ``[B, P]`` of dimension ``order[:, t]`` from the cached first-layer
    pre-activation ``pre [B, H1]`` of the prefix."""
    raise NotImplementedError

  # ----- the contract

  def __call__(self, x: jnp.ndarray, cond: Any = None, train: bool = False,
               component: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    """Raw head parameters of one ordering's conditionals.

    Args:
      x: ``[B, *event_shape]`` int.
      cond: unused (unconditional).
      train: unused (no dropout).
      component: the ordering, a scalar or one per example ``[B]``; default 0.

    Returns:
      ``[B, *event_shape, P]``: dimension d's parameters given the dimensions
      before d in the ordering.
    """
    del cond, train
    batch = x.shape[0]
    order = self._orders_for(component, batch)  # [D] or [B, D]
    raw = self.ordered_raw(self.weights(), self.flat_unit_input(x), order)  # [B, T, P]
    rank = jnp.argsort(jnp.broadcast_to(order, (batch, self.num_dims)), axis=1)  # [B, D]
    raw = jnp.take_along_axis(raw, rank[..., None], axis=1)  # [B, D, P] by dimension
    return raw.reshape(x.shape + (self.head.num_params,))

  def order_agnostic_estimate(self, x: jnp.ndarray, mask: jnp.ndarray,
                              reduce: bool = True) -> jnp.ndarray:
    """``D / (D - d + 1) * sum_{j unobserved} log p(x_j | x_obs)`` for a given mask.

    Args:
      x: ``[B, *event_shape]`` int.
      mask: ``[B, *event_shape]`` (or ``[B, D]``) 1 where observed; at least
        one dimension unobserved per example.
      reduce: sum over dimensions, or keep the scaled terms ``[B, *event_shape]``.

    Returns:
      ``[B]`` nats (or ``[B, *event_shape]``).
    """
    batch = x.shape[0]
    x_flat = x.reshape(batch, -1)
    m = mask.reshape(batch, -1).astype(jnp.float32)  # [B, D]
    per_dim = self.masked_log_probs(self.weights(), self.flat_unit_input(x), x_flat, m)  # [B, D]
    unobserved = 1.0 - m
    scale = self.num_dims / unobserved.sum(-1, keepdims=True)  # [B, 1]
    terms = per_dim * unobserved * scale
    return terms.sum(-1) if reduce else terms.reshape(x.shape)

  def _train_mask(self, batch: int) -> jnp.ndarray:
    """Per example: a uniform ordering and d uniform in ``{1..D}``; the first
    d - 1 dimensions of the ordering observed. ``[B, D]`` float."""
    order_key, size_key = jax.random.split(self.make_rng("masks"))
    noise = jax.random.uniform(order_key, (batch, self.num_dims))
    rank = jnp.argsort(jnp.argsort(noise, axis=1), axis=1)  # a uniform permutation per row
    observed = jax.random.randint(size_key, (batch, 1), 0, self.num_dims)  # d - 1
    return (rank < observed).astype(jnp.float32)

  def log_prob(self, x: jnp.ndarray, cond: Any = None, train: bool = False,
               reduce: bool = True) -> jnp.ndarray:
    """Log-likelihood in nats.

    ``train=True``: the order-agnostic estimate (masks from the ``'masks'``
    RNG). Else exact: one ordering's, or the uniform mixture over the K
    orderings (``reduce=True`` only).
    """
    del cond
    if train:
      return self.order_agnostic_estimate(x, self._train_mask(x.shape[0]), reduce)
    if self.shares_order:
      per_dim = self.head.log_prob(self(x), x)  # [B, *event_shape]
      return per_dim.reshape(x.shape[0], -1).sum(-1) if reduce else per_dim
    if not reduce:
      raise ValueError(
          f"reduce=False needs one ordering, got an ensemble of {self.num_orderings}")
    per_k = self.member_log_probs(x)  # [K, B]
    return jax.nn.logsumexp(per_k, axis=0) - math.log(self.num_orderings)

  def member_log_probs(self, x: jnp.ndarray, batched: bool = True) -> jnp.ndarray:
    """Exact log-likelihood of each ordering of the ensemble: ``[K, B]`` nats.

    Args:
      x: ``[B, *event_shape]`` int.
      batched: the orderings batched in one scan over the steps
        (:func:`ensemble_log_probs`, where the subclass supports it: EoNADE),
        in groups of about ``_ENSEMBLE_ROWS`` rows; else one ordering at a time
        through :meth:`ordered_raw` (``lax.map``).
    """
    w = self.weights()
    xf, x_flat = self.flat_unit_input(x), x.reshape(x.shape[0], -1)
    orders = jnp.asarray(self.orderings())  # [K, D]
    if batched and self.batches_orderings:
      num_orderings, batch = orders.shape[0], x.shape[0]
      groups = -(-num_orderings * batch // _ENSEMBLE_ROWS)  # of about _ENSEMBLE_ROWS rows
      group = -(-num_orderings // groups)
      groups = -(-num_orderings // group)
      padded = jnp.concatenate(  # whole groups: repeat ordering 0, dropped below
          [orders, jnp.broadcast_to(orders[:1], (groups * group - num_orderings, self.num_dims))])
      per_k = jax.lax.map(
          lambda o: ensemble_log_probs(w, self.act, self.head, xf, x_flat, o),
          padded.reshape(groups, group, self.num_dims))  # [G, group, B]
      return per_k.reshape(groups * group, batch)[:num_orderings]

    def one_ordering(order):  # [D] -> [B]
      raw = self.ordered_raw(w, xf, order)  # [B, T, P]
      return self.head.log_prob(raw, x_flat[:, order]).sum(-1)

    return jax.lax.map(one_ordering, orders)  # [K, B]

  def sampling_plan(self, key: jax.Array, prefix: jnp.ndarray,
                    prefix_len: jnp.ndarray, cond: Any = None):
    """One ordering per example, uniformly (the single one when K = 1)."""
    del prefix_len, cond
    batch = prefix.shape[0]
    if self.shares_order:
      component = jnp.zeros((batch,), jnp.int32)
    else:
      component = jax.random.randint(key, (batch,), 0, self.num_orderings)
    return jnp.asarray(self.orderings())[component], {"component": component}

  def decode_step(self, canvas: jnp.ndarray, t: jnp.ndarray, cond: Any = None,
                  component: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    """Raw parameters ``[B, P]`` of dimension ``order[:, t]``.

    Args:
      canvas: ``[B, *event_shape]`` int; the dimensions visited before t hold
        their values.
      t: scalar int step; called for t = 0, 1, ..., D - 1 in turn.
      cond: unused.
      component: the ordering (scalar or ``[B]``), as in the sampling plan.
    """
    del cond
    batch = canvas.shape[0]
    w = self.weights()
    xf = self.flat_unit_input(canvas)  # [B, D]
    order = jnp.broadcast_to(self._orders_for(component, batch), (batch, self.num_dims))
    rows = jnp.arange(batch)
    prev = order[:, jnp.maximum(t - 1, 0)]  # [B] the dimension visited at t - 1
    delta = (xf[rows, prev] - w.fill[prev])[:, None] * w.in_kernel[prev]  # [B, H1]
    if w.mask_kernel is not None:
      delta = delta + w.mask_kernel[prev]
    base = jnp.broadcast_to(w.in_bias + w.fill @ w.in_kernel, delta.shape)  # [B, H1]
    pre = self.prefix_cache(base, delta, t == 0)  # [B, H1]
    return self._decode_output(w, pre, xf, order, t)


class DeepNADE(_OrderAgnosticNADE):
  """Order-agnostic deep NADE (EoNADE), Uria et al. 2014: an MLP on ``[x * m, m]``.

  Attributes: see :class:`_OrderAgnosticNADE`.
  """

  batches_orderings: ClassVar[bool] = True

  def ordered_raw(self, w, xf, order):
    h = deeper(w, prefix_preacts(w, xf, order), self.act)  # [B, T, H]
    return out_at(w, h, order)  # [B, T, P]

  def masked_log_probs(self, w, xf, x_flat, m):
    h = deeper(w, first_layer(w, xf * m, m), self.act)  # [B, H]
    return self.head.log_prob(out_all(w, h), x_flat)  # [B, D]

  def _decode_output(self, w, pre, xf, order, t):
    del xf
    return out_at(w, deeper(w, pre, self.act), order[:, t])  # [B, P]


class NADEk(_OrderAgnosticNADE):
  """NADE-k, Raiko et al. 2014: k tied refinement steps of the missing values.

  Attributes:
    num_iterations: k, the refinement steps (passes of the network).
    use_mask: feed the mask to the first layer (the authors' release: no).
    intermediate_weight: a in ``(1 - a) * est_k + a * mean_i est_i``, the
      training weight of the intermediate reconstructions (0: the last step
      only, the model's own likelihood).
    (and those of :class:`_OrderAgnosticNADE`).
  """

  num_iterations: int = 5
  use_mask: bool = False
  intermediate_weight: float = 0.0

  learns_fill: ClassVar[bool] = True

  @property
  def uses_mask(self) -> bool:  # a field here, a class constant for EoNADE
    return self.use_mask

  def check_config(self) -> None:
    super().check_config()
    if not isinstance(self.num_iterations, int) or self.num_iterations < 1:
      raise ValueError(f"expected num_iterations (k) >= 1, got {self.num_iterations!r}")
    if not 0.0 <= float(self.intermediate_weight) <= 1.0:
      raise ValueError(
          f"expected intermediate_weight in [0, 1], got {self.intermediate_weight!r}")

  def _refine(self, w: Weights, xf, m, v, steps: int):
    """``steps`` full passes from ``v``; returns the raw outputs of each pass
    ``[..., D, P]`` and the final v."""
    raws = []
    for _ in range(steps):
      raw = out_all(w, deeper(w, first_layer(w, v, m), self.act))  # [..., D, P]
      v = m * xf + (1.0 - m) * expected_scaled(self.head, raw)
      raws.append(raw)
    return raws, v

  def _last_at(self, w: Weights, xf, m, v, passes: int, dims):
    """Runs ``passes`` passes from ``v`` and returns the last one's raw at ``dims``."""
    _, v = self._refine(w, xf, m, v, passes - 1)
    return out_at(w, deeper(w, first_layer(w, v, m), self.act), dims)

  def _fill(self, w: Weights, xf, m):
    return m * xf + (1.0 - m) * _row(w.fill, m.ndim)

  def ordered_raw(self, w, xf, order):
    batch, num_dims = xf.shape
    order = jnp.broadcast_to(order, (batch, num_dims))  # [B, T]
    rank = jnp.argsort(order, axis=1)  # [B, D]

    def step(t):  # the conditional at step t of every example: [B, P]
      m = (rank < t).astype(xf.dtype)  # [B, D]
      return self._last_at(w, xf, m, self._fill(w, xf, m), self.num_iterations, order[:, t])

    chunk = max(1, min(num_dims, _NADEK_ROWS // batch))
    raw = jax.lax.map(step, jnp.arange(num_dims), batch_size=chunk)  # [T, B, P]
    return jnp.moveaxis(raw, 0, 1)

  def masked_log_probs(self, w, xf, x_flat, m):
    raws, _ = self._refine(w, xf, m, self._fill(w, xf, m), self.num_iterations)
    last = self.head.log_prob(raws[-1], x_flat)  # [B, D]
    a = float(self.intermediate_weight)
    if a == 0.0:
      return last
    mean = sum(self.head.log_prob(raw, x_flat) for raw in raws) / len(raws)
    return (1.0 - a) * last + a * mean

  def _decode_output(self, w, pre, xf, order, t):
    rows = jnp.arange(xf.shape[0])[:, None]
    rank = jnp.zeros_like(order).at[rows, order].set(jnp.arange(self.num_dims)[None, :])
    m = (rank < t).astype(xf.dtype)  # [B, D]
    h = deeper(w, pre, self.act)  # the first pass, from the cached pre-activation
    if self.num_iterations == 1:
      return out_at(w, h, order[:, t])
    v = m * xf + (1.0 - m) * expected_scaled(self.head, out_all(w, h))
    return self._last_at(w, xf, m, v, self.num_iterations - 1, order[:, t])


def _eonade_sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      "tiny": dict(hidden_sizes=(16, 16), num_orderings=2),
      "small": dict(hidden_sizes=(256, 256), num_orderings=8),
      "paper": dict(hidden_sizes=(500, 500), num_orderings=128, activation="relu"),
  }[size]


def _nade_k_sizes(event_shape: tuple[int, ...], num_levels: int, size: str) -> dict[str, Any]:
  del event_shape, num_levels
  return {
      "tiny": dict(hidden_sizes=(16,), num_iterations=2, num_orderings=2, activation="tanh"),
      "small": dict(hidden_sizes=(256, 256), num_iterations=3, num_orderings=2,
                    activation="tanh"),
      "paper": dict(hidden_sizes=(500, 500), num_iterations=5, num_orderings=128,
                    activation="tanh", use_mask=False),
  }[size]


registry.register("eonade", DeepNADE, _eonade_sizes)
registry.register("nade_k", NADEk, _nade_k_sizes)
