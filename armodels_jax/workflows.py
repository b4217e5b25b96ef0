"""The workflows of the ``armodels`` command, as functions a notebook can call.

``armodels_jax.cli`` parses arguments, calls one of these and prints the result; everything else (reading
a workdir with user-level errors, building a sequence model's input from a text or WAV file, a WaveNet's
conditioning from a recording, writing samples by the file's kind, the VQ-VAE routing) lives here. Each
imports what it needs when called, so importing this module (and starting the CLI) loads no JAX.

Bad input is a `UsageError` (a ``ValueError``) whose message is one line: the CLI prints it and exits
with status 2.

  train_workdir(config, workdir, overrides)         a run (training.train_and_evaluate)
  eval_workdir(workdir, npz=, key=, split=)          exact NLL of a split or an array
  eval_vqvae_workdir(workdir, ...)                   a VQ-VAE's reconstruction NLL, or the two-stage bound
  sample_workdir(workdir, num=, ...)                 samples (+ `save_samples` by the file's kind)
  sample_vqvae_workdir(workdir, ...)                 images from a prior over VQ-VAE codes
  score_workdir(workdir, npz=, method=)              anomaly scores
  compress_workdir / decompress_workdir              lossless coding with a checkpoint
"""

from __future__ import annotations

import os

__all__ = ["UsageError", "train_workdir", "restore_workdir", "eval_workdir", "eval_vqvae_workdir",
           "read_info", "sample_workdir", "save_samples", "sample_vqvae_workdir", "score_workdir",
           "compress_workdir", "decompress_workdir", "vqvae_stage", "npz_key", "one_line"]


class UsageError(ValueError):
  """A user error, reported by the CLI as one line on stderr with exit status 2."""


def train_workdir(config: str, workdir: str, overrides=(), *, distributed: bool = False,
                  coordinator: str | None = None, num_processes: int | None = None,
                  process_id: int | None = None) -> dict:
  """Trains the config file `config` (``path.py[:arg]``) with ``field=value`` `overrides` in `workdir`,
  resuming a run there; with `distributed` (or any of the explicit multi-host settings) it first joins a
  multi-process run. Returns ``training.train_and_evaluate``'s result."""
  spec_path = config.split(":", 1)[0]
  if not os.path.isfile(spec_path):
    raise UsageError(f"config file not found: {spec_path!r} (expected experiments/configs/<name>.py[:arg])")
  from armodels_jax import training  # pylint: disable=g-import-not-at-top

  explicit = (coordinator, num_processes, process_id)
  if distributed or any(a is not None for a in explicit):
    # Before anything touches a device: every host then sees the devices of all hosts.
    training.distributed.initialize(*explicit)
  cfg = training.load_config(config, list(overrides))
  return training.train_and_evaluate(cfg, workdir)


def restore_workdir(workdir: str):
  """Restores (model, variables, cfg) from a workdir, with user-level errors."""
  if not os.path.isdir(workdir):
    raise UsageError(f"workdir not found: {workdir!r}")
  from armodels_jax import inference  # pylint: disable=g-import-not-at-top
  from armodels_jax.demo import quiet_read_only_warnings  # pylint: disable=g-import-not-at-top
  from armodels_jax import config as config_lib  # pylint: disable=g-import-not-at-top

  quiet_read_only_warnings()

  try:
    # The parameters alone (no train state); damaged files -> CheckpointError naming the file, and a
    # training workdir whose newest checkpoint is damaged loads the newest intact one, with a warning.
    model, variables, _ = inference.load(workdir)
  except FileNotFoundError as e:
    raise UsageError(f"no checkpoint in workdir {workdir!r}: {one_line(e)}") from e
  with open(os.path.join(workdir, inference.CONFIG_FILE)) as f:
    return model, variables, config_lib.config_from_json(f.read())


def eval_workdir(workdir: str, *, npz: str | None = None, key: str | None = None,
                 split: str = "test", batch_size: int | None = None) -> dict:
  """Evaluates the checkpoint in `workdir` on an npz array or on the configured dataset's split.

  Args:
    workdir: a training workdir (or a shipped `pretrained/<name>/` directory).
    npz: optional path to an `.npz` (or `.npy`) file; any array whose per-example size equals the
      model's event size, reshaped row-major.
    key: the array's key inside the npz file.
    split: `valid` or `test`, used without `npz`.
    batch_size: the evaluation batch size; the config's when None.

  Returns:
    {'nll_nats': float, 'bits_per_dim': float, 'n': int, 'source': str}.
  """
  if npz is not None:
    key = npz_key(npz, key)
  from armodels_jax import data, training  # pylint: disable=g-import-not-at-top

  model, variables, cfg = restore_workdir(workdir)
  if npz is not None:
    array = data.load_array(npz, key, model.event_shape, model.num_levels)
    source = f"{npz}[{key}]" if key else npz
  else:
    ds = _load_configured_dataset(cfg)
    array = getattr(ds, split)
    if array is None or len(array) == 0:
      raise UsageError(f"dataset {ds.name!r} has no {split!r} split")
    source = f"{ds.name}:{split}"
  if batch_size is None:
    batch_size = _config_get(cfg, ("train.eval_batch_size",), 256)
  # A stateful model (char-RNN) reads the windows as contiguous streams with its state carried.
  metrics = dict(training.evaluate(model, variables, array, batch_size=int(batch_size),
                                   stream=bool(getattr(model, "stateful", False))))
  metrics["source"] = source
  return metrics


def read_info(workdir: str) -> dict:
  """The data facts saved with a run (``model.json``'s ``info``: a text vocabulary, an audio sample
  rate and quantization, ...); empty for images and vectors or a workdir without ``model.json``."""
  if not os.path.isfile(os.path.join(workdir, "model.json")):
    return {}
  from armodels_jax import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  return dict(workdir_lib.read_model_info(workdir).get("info") or {})


def sample_workdir(workdir: str, *, num: int = 16, method: str = "cached", seed: int = 0,
                   temperature: float = 1.0, length: int | None = None, prime: str | None = None,
                   label: int | None = None, digit: int | None = None,
                   features_from: str | None = None):
  """Draws `num` samples from the checkpoint in `workdir`; returns (samples, model, info).

  Args:
    workdir: a training workdir or a shipped checkpoint.
    num, method, seed, temperature: as for ``arm.sample``.
    length: sequence models only (char-RNN, WaveNet): samples of this length (the models apply to
      any length with the same parameters); default the training window.
    prime: text models only: the samples continue this text (``prefix``).
    label: the global class (e.g. the speaker or the digit) of a class-conditional model.
    digit: the digit of a WaveNet whose local condition is a one-hot digit track.
    features_from: a WAV file whose log-mel frames are the local condition (a log-mel-conditioned
      WaveNet: resynthesis); it sets the length.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  import armodels_jax as arm  # pylint: disable=g-import-not-at-top
  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  model, variables, _ = restore_workdir(workdir)
  info = read_info(workdir)
  sequence = len(model.event_shape) == 1 and info.get("kind") in ("text", "audio")
  hop = int(getattr(model, "local_hop", 0) or 0)
  local = None
  if features_from is not None:
    if info.get("features") != "log_mel":
      raise UsageError("--features-from needs a model conditioned on log-mel frames (data.features="
                     f"'log_mel'), this one has features={info.get('features')!r}")
    from armodels_jax.data import audio  # pylint: disable=g-import-not-at-top

    wave, _ = audio.read_wav(features_from, sample_rate=int(info["sample_rate"]))
    mel = audio.log_mel(wave, int(info["sample_rate"]), hop, num_mels=int(info["num_mels"]))
    mel = (mel - np.asarray(info["feature_mean"], np.float32)) / np.asarray(info["feature_std"],
                                                                             np.float32)
    local = np.broadcast_to(mel[None], (num,) + mel.shape).astype(np.float32)
    length = mel.shape[0] * hop
  if length is not None:
    if not sequence:
      raise UsageError("--length applies to sequence models (text, audio), not to event shape "
                     f"{tuple(model.event_shape)}")
    if length < 1 or (hop and length % hop):
      raise UsageError(f"--length must be a positive multiple of the local hop {hop or 1}, got {length}")
    model = model.clone(event_shape=(int(length),))
  if digit is not None:
    if info.get("features") != "digit":
      raise UsageError(f"--digit needs a model with a digit track (data.features='digit'), this one "
                     f"has features={info.get('features')!r}")
    if not 0 <= digit < 10:
      raise UsageError(f"--digit must be in 0..9, got {digit}")
    track = np.zeros((num, model.event_shape[0] // hop, 10), np.float32)
    track[..., digit] = 1.0
    local = track
  num_classes = int(getattr(model, "num_classes", 0) or 0)
  labels = None
  if label is not None:
    if not num_classes:
      raise UsageError("--label needs a class-conditional model; this one has no classes")
    if not 0 <= label < num_classes:
      raise UsageError(f"--label must be in 0..{num_classes - 1}, got {label}")
    labels = np.full((num,), label, np.int32)
  if num_classes and labels is None:
    raise UsageError(f"this model is class-conditional: give --label in 0..{num_classes - 1}")
  if getattr(model, "local_dim", 0) and local is None:
    flag = "--digit D" if info.get("features") == "digit" else "--features-from FILE.wav"
    raise UsageError(f"this model is conditioned on a local track: give {flag}")
  prefix, prefix_len = None, 0
  if prime is not None:
    if info.get("kind") != "text":
      raise UsageError("--prime applies to text models")
    ids = data.text.encode(prime, info["vocab"])
    if len(ids) >= model.event_shape[0]:
      raise UsageError(f"--prime has {len(ids)} characters; expected fewer than the length "
                     f"{model.event_shape[0]} (raise --length)")
    prefix = np.zeros((num,) + model.event_shape, np.int32)
    prefix[:, :len(ids)] = ids
    prefix_len = len(ids)
  cond = data.make_cond(labels, local)
  xs = arm.sample(model, variables, jax.random.key(seed), num_samples=num, method=method,
                  temperature=temperature, cond=cond, prefix=prefix, prefix_len=prefix_len)
  return jax.device_get(xs), model, info


def save_samples(xs, model, info: dict, out: str) -> tuple[str, str | None]:
  """Writes samples by the kind of `out` and of the data: WAVs (audio, ``.wav``), text (``.txt``),
  ``.npz`` / ``.npy`` / ``.txt`` arrays, else a PNG grid of images.

  Returns:
    ``(what was written, the decoded text or None)``; a text model's samples without a ``.txt``,
    ``.npz`` or ``.npy`` `out` are not written (``'stdout'``): the caller prints the text.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  from armodels_jax import outputs  # pylint: disable=g-import-not-at-top

  xs = np.asarray(xs)
  kind = info.get("kind")
  if kind == "audio" and out.endswith(".wav"):
    return ", ".join(outputs.write_audio(xs, info, out)), None
  if kind == "text" and not out.endswith((".npz", ".npy")):
    from armodels_jax.data import text  # pylint: disable=g-import-not-at-top

    body = "\n\n".join(text.decode(x, info["vocab"]) for x in xs)
    if out.endswith(".txt"):
      with open(out, "w", encoding="utf-8") as f:
        f.write(body + "\n")
      return out, body
    return "stdout", body
  if out.endswith(".npz"):
    np.savez(out, samples=xs)
  elif out.endswith(".txt"):
    np.savetxt(out, xs.reshape(len(xs), -1), fmt="%.6g")
  elif out.endswith(".npy"):
    np.save(out, xs)
  elif model.real_valued or len(model.event_shape) == 1:
    what = "audio (.wav)" if kind == "audio" else "vectors"
    raise UsageError(f"samples of this model are {what}, not images: expected --out ending in "
                     f"{'.wav, ' if kind == 'audio' else ''}.npy, .npz or .txt, got {out!r}")
  else:
    outputs.save_image_grid(xs, out, model.num_levels)
  return out, None


def score_workdir(workdir: str, *, npz: str, key: str | None = None, method: str = "nll",
                  reference: str | None = None, compressor: str | None = None,
                  batch_size: int = 256):
  """Anomaly scores (``arm.anomaly_scores``) of an npz array under the checkpoint in `workdir`.

  Args:
    workdir: a training workdir or a shipped `pretrained/<name>/` directory.
    npz: an `.npz` file; any array whose per-example size equals the model's event size.
    key: the array's key in `npz` (default: its only array).
    method: one of ``arm.anomaly.METHODS``.
    reference: ``likelihood_ratio`` only: the background model's workdir.
    compressor: ``complexity`` only: ``png``, ``zlib`` or ``context`` (``arm.anomaly.input_complexity``).
    batch_size: examples per forward pass.

  Returns:
    float64 [N] scores, higher = more anomalous.
  """
  from armodels_jax import anomaly, data  # pylint: disable=g-import-not-at-top

  if method not in anomaly.METHODS:
    raise UsageError(f"unknown --method {method!r}; expected one of {list(anomaly.METHODS)}")
  if (reference is None) == (method == "likelihood_ratio"):
    raise UsageError("--method likelihood_ratio needs --reference WORKDIR (the background model)"
                   if reference is None else
                   f"--reference applies to --method likelihood_ratio only, got --method {method}")
  key = npz_key(npz, key)
  model, variables, _ = restore_workdir(workdir)
  if getattr(model, "conditional", False):
    raise UsageError("score takes unconditional models; call arm.anomaly_scores(..., cond=...) for "
                   "a conditional one")
  ref = None
  if reference is not None:
    ref_model, ref_variables, _ = restore_workdir(reference)
    ref = (ref_model, ref_variables)
  array = data.load_array(npz, key, model.event_shape, model.num_levels)
  return anomaly.anomaly_scores(model, variables, array, method=method, reference=ref,
                                compressor=compressor, batch_size=batch_size)


def _sequence_input(model, info: dict, text: str | None, wav: str | None):
  """A text or WAV file as one row ``[1, T]`` of a sequence model, and the model at length T."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  want = "text" if text is not None else "audio"
  if info.get("kind") != want:
    raise UsageError(f"--{'text' if text is not None else 'wav'} needs a {want} model's workdir; this "
                   f"one's data are {info.get('kind') or 'images or vectors'}")
  if text is not None:
    with open(text, encoding="utf-8") as f:
      ids = data.text.encode(f.read(), info["vocab"])
  else:
    if getattr(model, "num_classes", 0) or getattr(model, "local_dim", 0):
      raise UsageError("this audio model is conditioned (speaker, digit or log-mel track): compress "
                     "with the Python API, arm.compress(model, variables, x, cond=...)")
    from armodels_jax.data import audio  # pylint: disable=g-import-not-at-top

    wave, _ = audio.read_wav(wav, sample_rate=int(info["sample_rate"]))
    ids = audio.quantize_audio(wave, info["quantization"], int(info["levels"]))
  ids = np.asarray(ids, np.int32)[None]
  if ids.shape[1] < 1:
    raise UsageError(f"{text or wav} is empty")
  return model.clone(event_shape=(ids.shape[1],)), ids


def compress_workdir(workdir: str, out: str, *, npz: str | None = None, key: str | None = None,
                     text: str | None = None, wav: str | None = None, images: str | None = None,
                     batch_size: int = 256) -> dict:
  """Compresses an npz array (any per-example size equal to the event size), a text file (one
  stream, text models), a WAV file (one recording, unconditioned audio models) or a folder of PNGs
  (``images``, their names kept: :mod:`armodels_jax.image_folder`) with the checkpoint in `workdir` (a
  training workdir or a shipped `pretrained/<name>/`); writes `out`.

  Returns:
    {'bytes': file size, 'n': examples, 'bits_per_dim': 8 * bytes / (n * D)}.
  """
  if images is not None:
    if npz is not None or text is not None or wav is not None:
      raise UsageError("--images takes no --npz, --text or --wav")
    from armodels_jax import image_folder  # pylint: disable=g-import-not-at-top

    return image_folder.compress_workdir_images(workdir, images, out, batch_size=batch_size)
  sources = [s for s in (npz, text, wav) if s is not None]
  if len(sources) != 1:
    raise UsageError(f"give exactly one of --npz, --text, --wav, got {len(sources)}")
  if not os.path.isfile(sources[0]):
    raise UsageError(f"input file not found: {sources[0]!r}")
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise UsageError(f"output directory not found: {out_dir!r}")
  if npz is not None:
    key = npz_key(npz, key)
  import armodels_jax as arm  # pylint: disable=g-import-not-at-top
  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  model, variables, _ = restore_workdir(workdir)
  if npz is not None:
    x = data.load_array(npz, key, model.event_shape, model.num_levels)
  else:
    model, x = _sequence_input(model, read_info(workdir), text, wav)
  blob = arm.compress(model, variables, x, batch_size=batch_size)
  with open(out, "wb") as f:
    f.write(blob)
  return {"bytes": len(blob), "n": int(x.shape[0]), "bits_per_dim": 8 * len(blob) / x.size}


def decompress_images_workdir(workdir: str, path_in: str, folder: str, *,
                              max_elements: int = 1 << 28) -> list[str]:
  """Inverts ``compress_workdir(..., images=...)``: the PNGs under their original names in `folder`
  (never overwriting a file); returns their paths. Limits as for :func:`decompress_workdir`."""
  from armodels_jax import image_folder  # pylint: disable=g-import-not-at-top

  return image_folder.decompress_workdir_images(workdir, path_in, folder, max_elements=max_elements)


def decompress_workdir(workdir: str, path_in: str, out: str, *, max_elements: int = 1 << 28):
  """Decompresses `path_in` with the checkpoint in `workdir`; writes `out` (.npz: the array under
  key 'x'; a text model's .txt; an audio model's .wav). Returns the decoded array. A header asking
  for more than `max_elements` elements is refused before anything is allocated (ValueError)."""
  if not os.path.isfile(path_in):
    raise UsageError(f"compressed file not found: {path_in!r}")
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise UsageError(f"output directory not found: {out_dir!r}")
  import numpy as np  # pylint: disable=g-import-not-at-top

  import armodels_jax as arm  # pylint: disable=g-import-not-at-top
  from armodels_jax import compression  # pylint: disable=g-import-not-at-top

  info = read_info(workdir)
  kinds = {"text": (".npz", ".txt"), "audio": (".npz", ".wav")}.get(info.get("kind"), (".npz",))
  if not out.endswith(kinds):
    raise UsageError(f"expected --out ending in {' or '.join(kinds)}, got {out!r}")
  with open(path_in, "rb") as f:
    blob = f.read()
  head = compression.read_header(blob)
  compression.check_limits(head, max_elements)  # before the checkpoint is loaded
  shape = head["event_shape"]
  model, variables, _ = restore_workdir(workdir)
  if info.get("kind") in ("text", "audio") and len(shape) == 1:
    model = model.clone(event_shape=shape)  # a sequence model codes any length
  x = arm.decompress(model, variables, blob, max_elements=max_elements)
  if out.endswith(".npz"):
    np.savez(out, x=x)
  elif out.endswith(".txt"):
    from armodels_jax.data import text  # pylint: disable=g-import-not-at-top

    with open(out, "w", encoding="utf-8") as f:
      f.write("".join(text.decode(row, info["vocab"]) for row in x))
  else:  # .wav of an audio model
    from armodels_jax import outputs  # pylint: disable=g-import-not-at-top

    outputs.write_audio(x[:1], info, out)
  return x


# VQ-VAE + prior (armodels_jax.vqvae): a stage-1 workdir evaluates its reconstruction NLL; a prior's
# workdir (trained on data.name='vqvae_codes') samples images and evaluates the two-stage bound.


def vqvae_stage(workdir: str) -> str | None:
  """'vqvae' (stage 1), 'prior' (stage 2) or None, from the workdir's model.json."""
  if not os.path.isfile(os.path.join(workdir, "model.json")):
    return None
  from armodels_jax.demo import quiet_read_only_warnings  # pylint: disable=g-import-not-at-top
  from armodels_jax.vqvae import pipeline, stage1  # pylint: disable=g-import-not-at-top

  quiet_read_only_warnings()

  if stage1.is_vqvae_workdir(workdir):
    return "vqvae"
  return "prior" if pipeline.vqvae_workdir_of(workdir) else None


def _vqvae_images(vq_cfg, model, npz: str | None, key: str | None, split: str):
  """The images to evaluate: an npz array, or a split of the VQ-VAE's configured dataset."""
  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  if npz is not None:
    key = npz_key(npz, key)
    return data.load_array(npz, key, model.event_shape, model.num_levels), f"{npz}[{key}]"
  ds = _load_configured_dataset(vq_cfg)
  array = getattr(ds, split)
  if array is None or len(array) == 0:
    raise UsageError(f"dataset {ds.name!r} has no {split!r} split")
  return array, f"{ds.name}:{split}"


def eval_vqvae_workdir(workdir: str, *, npz: str | None = None, key: str | None = None,
                       split: str = "test", batch_size: int | None = None) -> tuple[dict, str, str, int]:
  """The reconstruction NLL of a VQ-VAE (stage-1 workdir) or the two-stage bound (a prior's workdir).

  Returns:
    ``(metrics, source, stage, num_codes)``: ``stage`` is ``'vqvae'`` or ``'prior'``.
  """
  from armodels_jax.vqvae import pipeline, stage1 as vq  # pylint: disable=g-import-not-at-top

  stage = vqvae_stage(workdir)
  if stage == "vqvae":
    vq_model, vq_params, vq_cfg, _ = vq.restore(workdir)
  else:
    p = pipeline.load(workdir)
    vq_model, vq_params, vq_cfg = p.vq_model, p.vq_params, p.vq_config
  images, source = _vqvae_images(vq_cfg, vq_model, npz, key, split)
  batch = batch_size or int(vq_cfg.train.eval_batch_size)
  if stage == "vqvae":
    m = vq.evaluate(vq_model, vq_params, images, batch)
  else:
    m = pipeline.evaluate_bound(p.prior, p.variables, vq_model, vq_params, images, batch)
  return m, source, stage, int(vq_model.num_codes)


def sample_vqvae_workdir(workdir: str, *, num: int = 16, method: str = "cached", seed: int = 0,
                         temperature: float = 1.0, label: int | None = None, out: str):
  """Images from a prior over VQ-VAE codes (codes sampled, decoded by the VQ-VAE), written to `out`
  (``.npz`` / ``.npy`` arrays, else a PNG grid); returns ``(images, vq_model)``."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from armodels_jax import outputs  # pylint: disable=g-import-not-at-top
  from armodels_jax.vqvae import pipeline  # pylint: disable=g-import-not-at-top

  if vqvae_stage(workdir) != "prior":
    raise UsageError(f"{workdir!r} is a VQ-VAE (stage 1): sample from the workdir of a prior "
                     "trained on its codes (data.name='vqvae_codes')")
  p = pipeline.load(workdir)
  num_classes = int(getattr(p.prior, "num_classes", 0) or 0)
  cond = None
  if num_classes:
    if label is None or not 0 <= label < num_classes:
      raise UsageError(f"this prior is class-conditional: give --label in 0..{num_classes - 1}")
    cond = np.full((num,), label, np.int32)
  xs, _ = pipeline.sample_images(p.prior, p.variables, p.vq_model, p.vq_params, jax.random.key(seed), num,
                                 method=method, temperature=temperature, cond=cond)
  if out.endswith((".npz", ".npy")):
    (np.savez(out, samples=xs) if out.endswith(".npz") else np.save(out, xs))
  else:
    outputs.save_image_grid(xs, out, p.vq_model.num_levels)
  return xs, p.vq_model


# Helpers.


def npz_key(npz: str, key: str | None) -> str:
  """`key`, or the only array's key of `npz` when None; a missing file is a UsageError."""
  if not os.path.isfile(npz):
    raise UsageError(f"npz file not found: {npz!r}")
  return _only_key(npz) if key is None else key


def _only_key(path: str) -> str:
  """The key of the only array in an .npz file (UsageError when there are several or none)."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  try:
    loaded = np.load(path, allow_pickle=False)
  except (ValueError, OSError) as e:  # not a NumPy file at all (numpy's message speaks of pickles)
    raise UsageError(f"{path}: expected an .npz archive of arrays, got a file NumPy cannot read") from e
  if not isinstance(loaded, np.lib.npyio.NpzFile):
    raise UsageError(f"{path}: expected an .npz archive, got a single array")
  with loaded:
    keys = list(loaded.files)
  if len(keys) != 1:
    raise UsageError(f"{path} holds the arrays {keys}; choose one with --key")
  return keys[0]


def _config_get(cfg, names, default):
  """The first of `names` (dotted paths allowed) present in a ConfigDict, else `default`."""
  for name in names:
    node = cfg
    try:
      for part in name.split("."):
        node = node[part]
    except (KeyError, AttributeError, TypeError):
      continue
    if node is not None:
      return node
  return default


def _load_configured_dataset(cfg):
  """Loads the dataset a training config names (`data.name` and the data options that are set)."""
  from armodels_jax import data  # pylint: disable=g-import-not-at-top
  from armodels_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top

  return data.load(cfg.data.name, **config_lib.data_options(cfg))


def one_line(e: BaseException) -> str:
  """One line from an exception: KeyError's quotes dropped, newlines folded."""
  msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
  msg = " ".join(str(msg).split())
  return msg or type(e).__name__


