"""The autoregressive task: every registry model (``arm.models``) trained by the one trainer.

`AutoregressiveTask.build` loads the configured dataset, creates the model, and hands the trainer
(``training.trainer``) the train state (``training.state``), the update step (``training.steps``), the
exact-likelihood evaluator (``training.evaluation``) and the sample writer (``armodels_jax.outputs``).

Resuming is exact: the batch of step ``s`` is a pure function of ``(seed, s)``
(``data.batch_indices``), the step's randomness is ``fold_in(state.rng, s)``, and the checkpoint holds the
parameters, their EMA, the optimizer state (the schedule position is ``state.step``) and the RNG, so a run
stopped and resumed ends with the same state, bit for bit, as an uninterrupted one.

Truncated backpropagation through time (``train.tbptt``, a stateful model such as ``char_rnn``; Karpathy's
char-rnn and Graves 2013, section 3): the N train windows are consecutive pieces of one text, read as B
parallel streams. With ``C = N // B``, the batch of step ``s`` is the windows ``b * C + (s % C)`` for
``b < B``; the model's state after a window (``state.carry``) is the start of the next one, reset to
``model.initial_carry(B)`` when ``s % C == 0``. The carry is part of the checkpoint, so resuming stays
exact. Stateful models are evaluated the same way: the eval windows in text order as contiguous streams,
the state carried, the NLL per character over all of them.

Input perturbation (``train.perturb_rate``): Ren et al. 2019, "Likelihood Ratios for Out-of-Distribution
Detection" (NeurIPS), section 4.

Multi-host: ``train.batch_size`` is global; each host gathers its contiguous share of every global batch
(``data.global_batch``); process 0 alone writes samples.

Glossary of dimension letters: B global batch, N examples in a split, C windows per stream.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from armodels_jax import api
from armodels_jax import data
from armodels_jax import inference
from armodels_jax import models
from armodels_jax import outputs
from armodels_jax.training import config as config_lib
from armodels_jax.training import evaluation
from armodels_jax.training import optim
from armodels_jax.training import sharding as shd
from armodels_jax.training import state as state_lib
from armodels_jax.training import steps
from armodels_jax.training import trainer

__all__ = ["AutoregressiveTask", "create_model"]

log = trainer.log

_SAMPLE_STREAM = 0x5A3E  # Folded into the root key for sample grids, apart from the training stream.


def create_model(cfg: ml_collections.ConfigDict, event_shape, num_levels):
  """``arm.models.create`` from the config's model group for data of `event_shape` and `num_levels`."""
  return models.create(
      cfg.model.name, event_shape=tuple(int(d) for d in event_shape), num_levels=num_levels,
      **config_lib.model_kwargs(cfg))


def _carry_batch_size(cfg: ml_collections.ConfigDict, model: Any) -> int:
  """B when the run carries a recurrent state (``train.tbptt``), else 0; ValueError for a model that
  cannot."""
  if not cfg.train.tbptt:
    return 0
  if not getattr(model, "stateful", False):
    raise ValueError(f"train.tbptt=True needs a stateful model (one with initial_carry and "
                     f"log_prob_carry, e.g. char_rnn), got model.name={cfg.model.name!r}")
  return int(cfg.train.batch_size)


class AutoregressiveTask:
  """The task of every ``arm.models`` registry model (`trainer.Task`)."""

  name = "autoregressive"
  honours = frozenset(trainer.OPTIONAL_FIELDS)

  def build(self, cfg: ml_collections.ConfigDict, workdir: str, mesh: Any) -> trainer.Run:
    t = cfg.train
    is_main = jax.process_index() == 0
    batch_sharding = shd.batch_sharding(mesh)

    # Input.
    ds = data.load(cfg.data.name, **config_lib.data_options(cfg))
    conditional = bool(cfg.model.conditional)
    train_x = ds.train  # [N, ...]
    train_labels = ds.train_labels if conditional else None  # [N] or None
    train_features = ds.train_features if conditional else None  # [N, ...] or None
    if conditional and train_labels is None and train_features is None:
      raise ValueError(f"model.conditional=True but dataset {ds.name!r} has no labels and no features")
    eval_split = "valid" if ds.valid is not None else "test"
    eval_x = ds.split(eval_split)
    eval_labels = ds.labels(eval_split) if conditional else None
    eval_features = ds.features(eval_split) if conditional else None
    if eval_x is not None and t.eval_max_examples:
      eval_x = eval_x[:t.eval_max_examples]
      eval_labels = None if eval_labels is None else eval_labels[:t.eval_max_examples]
      eval_features = None if eval_features is None else eval_features[:t.eval_max_examples]

    # Model.
    model = create_model(cfg, ds.event_shape, ds.num_levels)
    carry_batch = _carry_batch_size(cfg, model)  # B with train.tbptt, else 0.
    stateful = bool(getattr(model, "stateful", False))
    if carry_batch and train_x.shape[0] < carry_batch:
      raise ValueError(f"train.tbptt reads train.batch_size={carry_batch} parallel streams: expected at "
                       f"least that many train windows, got {train_x.shape[0]}")
    model_info = {"name": cfg.model.name, "size": cfg.model.size, "event_shape": list(ds.event_shape),
                  "num_levels": ds.num_levels, "dataset": ds.name, "info": ds.info}

    # State and step.
    tx = optim.make_optimizer(t)
    schedule = optim.make_schedule(t)
    abstract = state_lib.state_to_dict(
        state_lib.abstract_train_state(model, tx, mesh, carry_batch_size=carry_batch))
    update = steps.make_train_step(model, tx, schedule, t.ema_decay, mesh, tbptt=bool(carry_batch))
    perturb = _make_perturb(float(t.perturb_rate), ds.num_levels, cfg.seed) if t.perturb_rate else None
    windows_per_stream = train_x.shape[0] // carry_batch if carry_batch else 0  # C

    def train_step(state, step: int):
      if carry_batch:  # B parallel streams through the windows, in text order.
        position = step % windows_per_stream
        indices = np.arange(carry_batch) * windows_per_stream + position  # [B]
      else:
        indices = data.batch_indices(train_x.shape[0], t.batch_size, cfg.seed, step)  # [B]
      x, labels, features = data.global_batch((train_x, train_labels, train_features), indices,
                                              batch_sharding)
      if perturb is not None:
        x = perturb(x, np.int32(step))
      cond = data.make_cond(labels, features)
      if carry_batch:
        return update(state, x, cond, np.bool_(position == 0))
      return update(state, x, cond)

    eval_params = lambda s: s.ema_params if t.ema_decay > 0 else s.params  # noqa: E731

    def evaluate(state) -> dict[str, Any]:
      return evaluation.evaluate(model, {"params": eval_params(state)}, eval_x, t.eval_batch_size,
                                 eval_labels, features=eval_features, mesh=mesh, stream=stateful)

    sample_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), _SAMPLE_STREAM)
    sample_cond = _sample_cond(
        t.num_samples, *((eval_labels, eval_features) if eval_x is not None
                         else (train_labels, train_features)))

    def write_samples(state, step: int) -> None:
      xs = api.sample(model, {"params": eval_params(state)}, jax.random.fold_in(sample_key, step),
                      num_samples=t.num_samples, method=t.sample_method, cond=sample_cond)
      xs = np.asarray(jax.device_get(xs))  # [num_samples, ...]
      if is_main:
        outputs.write_samples(os.path.join(workdir, "samples", f"step_{step:06d}"), xs, info=ds.info,
                              num_levels=ds.num_levels, real_valued=model.real_valued)

    return trainer.Run(
        model_info=model_info,
        init_state=lambda: state_lib.create_train_state(model, tx, cfg.seed, mesh,
                                                        carry_batch_size=carry_batch),
        abstract_state=abstract,
        to_dict=state_lib.state_to_dict,
        from_dict=state_lib.state_from_dict,
        train_step=train_step,
        evaluate=evaluate if eval_x is not None else None,
        eval_split=eval_split,
        write_samples=write_samples,
        warm_start=lambda state, source: _warm_start(state, source, mesh))


def _warm_start(state: Any, source: str, mesh: Any) -> Any:
  """``state`` with its parameters and EMA replaced by those ``inference.load(source)`` reads (the EMA
  parameters where the source kept them); ValueError when ``source`` is no run or export, or its
  parameters differ in structure or shape from the new run's."""
  if not os.path.isdir(source):
    raise ValueError(f"train.init_from: expected a run's workdir or an exported checkpoint directory, "
                     f"got {source!r} (no such directory)")
  try:
    _, variables, _ = inference.load(source, full_check=True)
  except FileNotFoundError as e:
    raise ValueError(f"train.init_from: expected a run's workdir or an exported checkpoint directory "
                     f"in {source!r}: {e}") from e
  params = variables["params"]
  want, got = _leaf_shapes(state.params), _leaf_shapes(params)
  if want != got:
    raise ValueError(f"train.init_from: expected parameters shaped as this run's model "
                     f"({_describe(want)}), got {_describe(got)} from {source!r}")
  # Host arrays, identical on every process, placed replicated as the new state's parameters are.
  params = jax.device_put(jax.device_get(params), shd.replicated(mesh))
  log.info("warm start: parameters from %s", source)
  return state.replace(params=params, ema_params=jax.tree.map(jnp.copy, params))


def _leaf_shapes(tree: Any) -> list[tuple[str, tuple[int, ...], str]]:
  """``(path, shape, dtype)`` of every leaf of ``tree``, in order."""
  return [(jax.tree_util.keystr(k), tuple(v.shape), str(v.dtype))
          for k, v in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _describe(leaves: list[tuple[str, tuple[int, ...], str]]) -> str:
  """The first few of ``_leaf_shapes``, for an error message."""
  text = ", ".join(f"{k} {shape} {dtype}" for k, shape, dtype in leaves[:4])
  return f"{len(leaves)} arrays: " + text + (", ..." if len(leaves) > 4 else "")


def _make_perturb(rate: float, num_levels: Any, seed: int):
  """``perturb(x, step)``: Ren et al. 2019's input perturbation of a training batch (section 4: each
  dimension replaced, with probability `rate`, by a level drawn uniformly, as ``anomaly.perturb`` does
  on the host), jitted on the sharded batch, its randomness a function of ``(seed, step)`` alone so that
  a resumed run perturbs every batch as the uninterrupted run did.

  Raises:
    ValueError: the data are real-valued (no levels to draw from).
  """
  if not num_levels:
    raise ValueError(f"train.perturb_rate={rate} replaces values by uniform levels: expected discrete "
                     f"data, got real-valued data (num_levels={num_levels!r})")
  # A stream of its own, apart from the parameters' and the steps' (both drawn from `seed` directly).
  key = jax.random.fold_in(jax.random.key(seed), 0x7E27)

  @jax.jit
  def perturb(x, step):
    flip_key, level_key = jax.random.split(jax.random.fold_in(key, step))
    flip = jax.random.bernoulli(flip_key, rate, x.shape)
    noise = jax.random.randint(level_key, x.shape, 0, int(num_levels)).astype(x.dtype)
    return jnp.where(flip, noise, x)

  return perturb


def _sample_cond(num_samples: int, labels, features):
  """The ``cond`` of the sample grids: the first `num_samples` rows' labels and features (cycled when there
  are fewer rows), or None for an unconditional run."""
  if labels is None and features is None:
    return None
  n = (labels if labels is not None else features).shape[0]
  rows = np.arange(num_samples) % n  # [num_samples]
  return data.make_cond(None if labels is None else np.asarray(labels)[rows],
                        None if features is None else np.asarray(features)[rows])


