"""Experiment configuration: a locked `ml_collections.ConfigDict`.

This module imports nothing but the standard library and ``ml_collections`` (a test checks it), so that
reading, listing and validating configs loads no JAX, data or model code. Config files
(``experiments/configs/*.py``) import only ``ml_collections`` and their shared helpers, which reach the
schema here. ``armodels_jax.training.config`` re-exports it under its older name.

Every experiment is described by one config with the groups below. The config is *locked*: assigning a
misspelt field (``cfg.train.learnig_rate = 1e-3``) raises instead of silently adding a key, and so does a
misspelt command-line override. The one place open by design is ``model.overrides``: keyword arguments for
``arm.models.create`` (e.g. ``num_masks``, ``hidden_sizes``), whose names depend on the model and are
validated by the model registry itself.

Schema (defaults in brackets)::

  seed                    [0]      root seed: parameters, batches, per-step RNG, samples
  model.name              ['made'] a name in ``arm.models.names()``
  model.size              ['tiny'] 'tiny' | 'small' | 'paper'
  model.conditional       [False]  pass the dataset's labels as ``cond`` (class-conditional models)
  model.dtype             ['float32'] the network's compute dtype: 'float32' | 'bfloat16' (mixed
                                   precision: parameters, optimizer state and the likelihood stay
                                   float32; pixelcnn, gated_pixelcnn, pixelcnn_pp, pixelsnail, image_gpt, wavenet)
  model.overrides         [{}]     keyword overrides for ``arm.models.create`` (unlocked)
  data.name               ['digits'] 'digits' | 'binarized_mnist' | 'mnist' | 'npz' | 'tfds:<name>'
  data.path, data.data_dir, data.binarize, data.binarize_seed, data.train_key, data.valid_key,
  data.test_key, data.train_split, data.valid_split, data.test_split, data.event_shape, data.num_levels,
  data.fold, data.num_folds, data.seed, data.valid_fraction, data.test_fraction, data.seq_len,
  data.window, data.hop, data.labels, data.features, data.quantization, data.levels,
  data.sample_rate, data.num_mels, data.speakers, data.max_recordings
                          [None]   options of ``data.load`` (see its docstring: e.g. ``path`` of a local
                                   file or directory, ``binarize`` True for 'digits' or 'threshold' |
                                   'stochastic' for 'mnist', the k-fold options of 'wine_quality_red' and
                                   'sklearn_wine', ``seq_len`` of text windows, the audio windowing,
                                   conditioning and quantization options); only the ones set (not None,
                                   not '') are passed
  train.batch_size        [16]     global batch size (divisible by the number of devices)
  train.cpu_devices       [0]      split a CPU host into this many JAX devices, data parallel over its
                                   cores (0: JAX's one CPU device; no effect on GPUs and TPUs; see
                                   training.sharding.set_cpu_devices)
  train.tbptt             [False]  truncated backpropagation through time (a stateful model, e.g.
                                   char_rnn): the batch is ``batch_size`` parallel streams through the
                                   train windows in order, the model's state carried from one window to
                                   the next (reset at the start of each pass) and checkpointed
  train.num_steps         [1000]
  train.optimizer         ['adam'] 'adam' | 'adamw'
  train.learning_rate     [1e-3]   peak learning rate
  train.schedule          ['constant'] 'constant' | 'cosine' (to 0 at num_steps), both after a linear warmup
  train.warmup_steps      [0]
  train.b1, train.b2, train.eps  [0.9, 0.999, 1e-8]  Adam moments
  train.weight_decay      [0.0]    decoupled weight decay (adamw only)
  train.l2                [0.0]    L2 penalty on the weights (the parameters of two or more dimensions;
                                   biases and scales are left free): ``l2 * w`` is added to their
                                   gradient before clipping and the optimizer, so training minimises
                                   ``loss + l2 / 2 * |w|^2`` (a Gaussian prior on the weights; coupled,
                                   unlike ``weight_decay``, whose pull Adam does not normalise)
  train.grad_clip_norm    [0.0]    clip by global norm when > 0
  train.ema_decay         [0.0]    Polyak averaging of the parameters when > 0 (used for eval and samples)
  train.perturb_rate      [0.0]    background model of a likelihood ratio (Ren et al. 2019): each training
                                   dimension is replaced, with this probability, by a uniform level, drawn
                                   afresh every step from (seed, step); evaluation data stay as they are
                                   (discrete data only; pair it with weight decay, ``arm.anomaly_scores``)
  train.log_every         [50]     steps between training-metric logs
  train.eval_every        [500]    steps between evaluations on the validation split (0: only at the end)
  train.eval_batch_size   [256]
  train.eval_max_examples [0]      evaluate on at most this many examples (0: all)
  train.checkpoint_every  [500]    steps between checkpoints (0: only at the end)
  train.keep_checkpoints  [3]      (0: keep all)
  train.init_from         ['']     warm start: a new run (its workdir holds no checkpoint yet) begins from
                                   the parameters of another run's workdir or of an exported checkpoint
                                   (``pretrained/<name>``): its EMA parameters where it kept them, as
                                   ``arm.load`` reads them; step, optimizer state, schedule and EMA start
                                   afresh. A run that already has a checkpoint resumes from it and
                                   ignores this (its config.json keeps the source it began from, what
                                   a shipped manifest's ``warm_start`` records). The model must have
                                   the same parameter shapes.
  train.sample_every      [0]      steps between sample grids (0: never)
  train.num_samples       [16]
  train.sample_method     ['cached'] 'cached' | 'naive'
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import sys
from typing import Any, Iterable

import ml_collections


__all__ = [
    "load_config_module",
    "apply_variant",
    "default_config",
    "load_config",
    "apply_overrides",
    "config_to_json",
    "config_from_json",
    "data_options",
    "model_overrides",
    "model_kwargs",
    "model_group_kwargs",
    "tuplify",
    "validate",
    "lock",
    "VARIANTS",
]

_DATA_OPTIONS = ("path", "data_dir", "binarize", "binarize_seed", "train_key", "valid_key", "test_key",
                 "train_split", "valid_split", "test_split", "event_shape", "num_levels",
                 "fold", "num_folds", "seed", "valid_fraction", "test_fraction", "seq_len", "window",
                 "hop", "labels", "features", "quantization", "levels", "sample_rate", "num_mels",
                 "speakers", "max_recordings")


def default_config() -> ml_collections.ConfigDict:
  """Returns the default config, locked (``model.overrides`` stays open).

  Returns:
    A locked `ml_collections.ConfigDict` with the schema in this module's docstring.
  """
  cfg = ml_collections.ConfigDict()
  cfg.seed = 0

  cfg.model = ml_collections.ConfigDict()
  cfg.model.name = "made"
  cfg.model.size = "tiny"
  cfg.model.conditional = False
  cfg.model.dtype = "float32"
  cfg.model.overrides = ml_collections.ConfigDict()

  cfg.data = ml_collections.ConfigDict()
  cfg.data.name = "digits"
  for option in _DATA_OPTIONS:
    # None-valued fields accept any type once; `binarize` is a bool, the others strings.
    cfg.data[option] = None

  t = cfg.train = ml_collections.ConfigDict()
  t.batch_size = 16
  t.cpu_devices = 0
  t.tbptt = False
  t.num_steps = 1000
  t.optimizer = "adam"
  t.learning_rate = 1e-3
  t.schedule = "constant"
  t.warmup_steps = 0
  t.b1 = 0.9
  t.b2 = 0.999
  t.eps = 1e-8
  t.weight_decay = 0.0
  t.l2 = 0.0
  t.grad_clip_norm = 0.0
  t.ema_decay = 0.0
  t.perturb_rate = 0.0
  t.log_every = 50
  t.eval_every = 500
  t.eval_batch_size = 256
  t.eval_max_examples = 0
  t.checkpoint_every = 500
  t.keep_checkpoints = 3
  t.init_from = ""
  t.sample_every = 0
  t.num_samples = 16
  t.sample_method = "cached"
  return lock(cfg)


def lock(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Locks `cfg` in place, leaving ``model.overrides`` open; returns `cfg`."""
  cfg.lock()
  cfg.model.overrides.unlock()
  return cfg


VARIANTS = (None, "tiny")


def apply_variant(cfg: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """Applies a config file's ``get_config(arg)`` variant in place and returns ``cfg``.

  ``None`` leaves the experiment as it is; ``'tiny'`` shrinks it to a seconds-long smoke run (the
  tiny model size, batch 8, 2 steps, a small evaluation, samples at the last step, no intermediate
  checkpoints, JAX's own device count), which the tests run for every config in one process.

  Raises:
    ValueError: ``arg`` is not one of `VARIANTS`.
  """
  if arg not in VARIANTS:
    raise ValueError(f"unknown config argument {arg!r}; expected one of {list(VARIANTS)}")
  if arg == "tiny":
    cfg.model.size = "tiny"
    t = cfg.train
    t.batch_size = 8
    t.num_steps = 2
    t.warmup_steps = 0
    t.log_every = 1
    t.eval_every = 0
    t.eval_batch_size = 8
    t.eval_max_examples = 16
    t.checkpoint_every = 0
    t.sample_every = 2
    t.num_samples = 4
    t.cpu_devices = 0  # The CPU split is fixed per process; a smoke run takes what the process has.
  return cfg


def validate(cfg: ml_collections.ConfigDict) -> None:
  """Raises ValueError when a config value is out of its allowed set."""
  t = cfg.train
  checks = [
      ("model.dtype", cfg.model.dtype, ("float32", "bfloat16")),
      ("train.optimizer", t.optimizer, ("adam", "adamw")),
      ("train.schedule", t.schedule, ("constant", "cosine")),
      ("train.sample_method", t.sample_method, ("cached", "naive")),
  ]
  for field, value, allowed in checks:
    if value not in allowed:
      raise ValueError(f"{field} must be one of {allowed}, got {value!r}")
  for field in ("batch_size", "num_steps", "eval_batch_size"):
    if int(t[field]) <= 0:
      raise ValueError(f"train.{field} must be positive, got {t[field]!r}")
  for field in ("warmup_steps", "log_every", "eval_every", "eval_max_examples", "checkpoint_every",
                "keep_checkpoints", "sample_every", "num_samples", "cpu_devices"):
    if int(t[field]) < 0:
      raise ValueError(f"train.{field} must be >= 0, got {t[field]!r}")
  if not 0.0 <= float(t.ema_decay) < 1.0:
    raise ValueError(f"train.ema_decay must be in [0, 1), got {t.ema_decay!r}")
  if not float(t.get("l2", 0.0)) >= 0.0:  # NaN fails too.
    raise ValueError(f"train.l2 must be >= 0, got {t.l2!r}")
  if not 0.0 <= float(t.perturb_rate) <= 1.0:
    raise ValueError(f"train.perturb_rate must be in [0, 1], got {t.perturb_rate!r}")


def data_options(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
  """The keyword options for ``data.load``: the data fields that are set (not None, not '')."""
  return {k: _tuplify(v) for k, v in cfg.data.items() if k != "name" and v is not None and v != ""}


def tuplify(value: Any) -> Any:
  """Lists -> tuples, recursively (flax modules must be hashable; JSON gives lists back)."""
  if isinstance(value, (list, tuple)):
    return tuple(tuplify(v) for v in value)
  if hasattr(value, "items"):
    return {k: tuplify(v) for k, v in value.items()}
  return value


_tuplify = tuplify


def model_overrides(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
  """``model.overrides`` as plain keyword arguments (lists turned into tuples)."""
  return {k: _tuplify(v) for k, v in cfg.model.overrides.items()}


def model_kwargs(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
  """Every keyword argument of ``arm.models.create`` after the event: ``size``, ``dtype`` and
  ``model.overrides`` (`model_group_kwargs` of the model group).

  Raises:
    ValueError: ``model.overrides`` sets ``dtype`` (``model.dtype`` is the one place for it).
  """
  return model_group_kwargs(cfg.model)


def model_group_kwargs(model_group: Any) -> dict[str, Any]:
  """Every keyword argument of ``arm.models.create`` after the event, from a config's ``model`` group
  (a ConfigDict or its JSON dict): ``size``, ``dtype`` and ``overrides``.

  Raises:
    ValueError: ``overrides`` sets ``dtype`` (``model.dtype`` is the one place for it).
  """
  overrides = {k: tuplify(v) for k, v in (model_group.get("overrides") or {}).items()}
  if "dtype" in overrides:
    raise ValueError(f"set the compute dtype with model.dtype, not model.overrides.dtype "
                     f"(got {overrides['dtype']!r})")
  return {"size": model_group["size"], "dtype": model_group.get("dtype") or "float32", **overrides}


# ---------------------------------------------------------------------------------------------------------
# Loading config files and applying `field=value` overrides.


def _import_file(path: str):
  """Imports the Python file `path` as a module. While it runs, its folder is first on ``sys.path``, so a
  config file imports its shared helpers plainly (``import _common``); the helpers it imported are then
  dropped from ``sys.modules``, so that configs of another folder get their own."""
  folder = os.path.dirname(os.path.abspath(path))
  name = "armodels_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  if spec is None or spec.loader is None:
    raise ValueError(f"cannot import config file {path!r}")
  module = importlib.util.module_from_spec(spec)
  before = set(sys.modules)
  sys.path.insert(0, folder)
  try:
    spec.loader.exec_module(module)
  finally:
    sys.path.remove(folder)
    for key in set(sys.modules) - before:
      file = getattr(sys.modules[key], "__file__", None) or ""
      if os.path.dirname(os.path.abspath(file)) == folder:
        del sys.modules[key]
  return module


def load_config_module(config_file: str, name: str):
  """Imports a module that sits beside a config file by its path: ``load_config_module(__file__,
  "_common.py")`` (a config file itself can simply ``import _common``, see `_import_file`)."""
  return _import_file(os.path.join(os.path.dirname(os.path.abspath(config_file)), name))


def load_config(spec: str, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
  """Loads a config file and applies overrides.

  Args:
    spec: ``path/to/config.py`` or ``path/to/config.py:arg``; the file's ``get_config(arg)`` is called
      (``arg`` is None when absent).
    overrides: strings ``field.path=value`` (an optional leading ``--config.`` or ``config.`` is ignored),
      e.g. ``model.size=small``, ``train.learning_rate=1e-3``. Values are parsed to the existing field's
      type; under ``model.overrides`` new keys are allowed and parsed as Python literals (else strings).

  Returns:
    The locked config.

  Raises:
    ValueError: the file does not exist or has no ``get_config``, an override is malformed, names an
      unknown field, or its value cannot be parsed to the field's type.
  """
  path, arg = spec, None
  if ":" in spec and not os.path.exists(spec):
    path, arg = spec.rsplit(":", 1)
  if not os.path.isfile(path):
    raise ValueError(f"config file {path!r} does not exist (spec {spec!r})")
  module = _import_file(path)
  if not hasattr(module, "get_config"):
    raise ValueError(f"config file {path!r} has no get_config(arg)")
  cfg = module.get_config(arg)
  if not isinstance(cfg, ml_collections.ConfigDict):
    raise ValueError(f"{path}: get_config returned {type(cfg).__name__}, expected a ConfigDict")
  lock(cfg)
  apply_overrides(cfg, overrides)
  validate(cfg)
  return cfg


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _literal(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def _parse(field: str, text: str, current: Any) -> Any:
  """Parses `text` to the type of `current` (the field's existing value)."""
  try:
    if current is None:
      return _literal(text)
    if isinstance(current, bool):
      if text.lower() in _TRUE:
        return True
      if text.lower() in _FALSE:
        return False
      raise ValueError("not a boolean")
    if isinstance(current, int):
      value = float(text) if any(c in text for c in ".eE") and not text.lower().startswith("0x") else None
      if value is not None:
        if not value.is_integer():
          raise ValueError("not an integer")
        return int(value)
      return int(text, 0)
    if isinstance(current, float):
      return float(text)
    if isinstance(current, str):
      return text
    if isinstance(current, (tuple, list)):
      value = ast.literal_eval(text)
      if not isinstance(value, (tuple, list)):
        value = (value,)
      return type(current)(value)
    if isinstance(current, ml_collections.ConfigDict):
      raise ValueError("is a group; set its fields one by one")
  except (ValueError, SyntaxError) as e:
    raise ValueError(f"cannot parse override {field}={text!r} as {type(current).__name__}: {e}") from None
  return _literal(text)


def apply_overrides(cfg: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
  """Applies ``field.path=value`` strings to `cfg` in place (see `load_config`); returns `cfg`."""
  if isinstance(overrides, str):
    overrides = [overrides]
  for item in overrides:
    text = item
    for prefix in ("--config.", "config."):
      if text.startswith(prefix):
        text = text[len(prefix):]
    if "=" not in text:
      raise ValueError(f"override {item!r} is not of the form field.path=value")
    field, value_text = text.split("=", 1)
    field = field.strip()
    parts = field.split(".")
    node = cfg
    for i, part in enumerate(parts[:-1]):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        raise ValueError(f"unknown config field {field!r} (no group {'.'.join(parts[:i + 1])!r})")
      node = node[part]
    leaf = parts[-1]
    if not isinstance(node, ml_collections.ConfigDict):
      raise ValueError(f"unknown config field {field!r}")
    if leaf not in node:
      if node.is_locked:
        raise ValueError(f"unknown config field {field!r}; fields here: {sorted(node.keys())}")
      node[leaf] = _literal(value_text)
      continue
    node[leaf] = _parse(field, value_text, node[leaf])
  return cfg


# ---------------------------------------------------------------------------------------------------------
# JSON round trip (the config is saved beside the checkpoints).


def config_to_json(cfg: ml_collections.ConfigDict) -> str:
  """Serialises `cfg` to a JSON string (tuples become lists)."""
  return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


def _update(node: ml_collections.ConfigDict, values: dict[str, Any], where: str) -> None:
  for key, value in values.items():
    field = f"{where}{key}"
    if key not in node and node.is_locked:
      raise ValueError(f"unknown config field {field!r} in saved config")
    current = node[key] if key in node else None
    if isinstance(current, ml_collections.ConfigDict):
      _update(current, value, field + ".")
    elif isinstance(value, list) and not isinstance(current, list):
      node[key] = _tuplify(value)  # JSON has no tuples; configs and flax modules use them.
    elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
      node[key] = float(value)
    else:
      node[key] = value


def config_from_json(text: str) -> ml_collections.ConfigDict:
  """Rebuilds a locked config from `config_to_json` output (on top of `default_config`).

  Raises:
    ValueError: the JSON has a field the current schema does not know.
  """
  cfg = default_config()
  _update(cfg, json.loads(text), "")
  return cfg
