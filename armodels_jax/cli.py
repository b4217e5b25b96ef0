"""The ``armodels`` command line: a thin layer over importable functions.

Every subcommand calls public functions that a notebook can call directly:

  armodels demo   [--workdir DIR] [--steps N] [--out DIR]   -> armodels_jax.demo.run_demo
  armodels train  --config experiments/configs/X.py[:arg] --workdir DIR [--config.field=value ...]
                  [--distributed | --coordinator HOST:PORT --num-processes N --process-id I]
                                                           -> training.load_config, training.train_and_evaluate
  armodels eval   --workdir DIR [--npz FILE --key KEY] [--split valid|test] [--batch-size N] [--json]
                                                           -> training.restore, training.evaluate
  armodels sample --workdir DIR --num 16 --out samples.png [--method cached|naive] [--seed S]
                  [--temperature T] [--length N] [--prime TEXT] [--label K] [--digit D]
                  [--features-from WAV]                    -> sample_workdir, armodels_jax.sample
                  (audio models write --out x.wav, one WAV per sample; text models print the text)
  armodels score  --workdir DIR --npz FILE [--key KEY] --method nll|bpd|complexity|likelihood_ratio
                  [--reference DIR] [--compressor png|zlib|context] --out scores.npy
                                                           -> score_workdir, armodels_jax.anomaly_scores
  armodels compress   --workdir DIR (--npz FILE [--key K] | --text FILE | --wav FILE) --out X.arm
                      [--batch-size N] [--json]            -> compress_workdir, arm.compress
  armodels decompress --workdir DIR --in X.arm --out Y.npz (Y.txt text, Y.wav audio)
                                                           -> decompress_workdir, arm.decompress

User errors (a missing file or checkpoint, an array of the wrong size, a bad option) print one line
to stderr and exit with status 2. Set ``ARMODELS_DEBUG=1`` to get the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from collections.abc import Sequence

from armodels_jax import runtime_env

PROG = "armodels"
EXIT_USAGE = 2


class CLIError(Exception):
  """A user error that is reported as one line on stderr, with exit status 2."""


# --------------------------------------------------------------------------------------------------
# Subcommands. Each takes the parsed arguments and returns an exit status.
# --------------------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
  from armodels_jax import demo  # pylint: disable=g-import-not-at-top

  demo.run_demo(workdir=args.workdir, steps=args.steps, out=args.out, seed=args.seed)
  return 0


def _cmd_train(args: argparse.Namespace) -> int:
  spec_path = args.config.split(":", 1)[0]
  if not os.path.isfile(spec_path):
    raise CLIError(f"config file not found: {spec_path!r} (expected experiments/configs/<name>.py[:arg])")
  from armodels_jax import training  # pylint: disable=g-import-not-at-top

  explicit = (args.coordinator, args.num_processes, args.process_id)
  if args.distributed or any(a is not None for a in explicit):
    # Before anything touches a device: every host then sees the devices of all hosts.
    training.distributed.initialize(*explicit)
  cfg = training.load_config(args.config, args.overrides)
  result = training.train_and_evaluate(cfg, args.workdir)
  if result and _is_main_process():
    print(_format_metrics(result))
  return 0


def _is_main_process() -> bool:
  import jax  # pylint: disable=g-import-not-at-top
  return jax.process_index() == 0


def _restore(workdir: str):
  """Restores (model, variables, cfg) from a workdir, with user-level errors."""
  if not os.path.isdir(workdir):
    raise CLIError(f"workdir not found: {workdir!r}")
  from armodels_jax import inference  # pylint: disable=g-import-not-at-top
  from armodels_jax.demo import quiet_read_only_warnings  # pylint: disable=g-import-not-at-top
  from armodels_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top

  quiet_read_only_warnings()

  try:
    # The parameters alone (no train state); damaged files -> CheckpointError naming the file, and a
    # training workdir whose newest checkpoint is damaged loads the newest intact one, with a warning.
    model, variables, _ = inference.load(workdir)
  except FileNotFoundError as e:
    raise CLIError(f"no checkpoint in workdir {workdir!r}: {_message(e)}") from e
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
    key = _npz_key(npz, key)
  from armodels_jax import data, training  # pylint: disable=g-import-not-at-top

  model, variables, cfg = _restore(workdir)
  if npz is not None:
    array = data.load_array(npz, key, model.event_shape, model.num_levels)
    source = f"{npz}[{key}]" if key else npz
  else:
    ds = _load_configured_dataset(cfg)
    array = getattr(ds, split)
    if array is None or len(array) == 0:
      raise CLIError(f"dataset {ds.name!r} has no {split!r} split")
    source = f"{ds.name}:{split}"
  if batch_size is None:
    batch_size = _config_get(cfg, ("train.eval_batch_size",), 256)
  # A stateful model (char-RNN) reads the windows as contiguous streams with its state carried.
  metrics = dict(training.evaluate(model, variables, array, batch_size=int(batch_size),
                                   stream=bool(getattr(model, "stateful", False))))
  metrics["source"] = source
  return metrics


def _cmd_eval(args: argparse.Namespace) -> int:
  if args.key is not None and args.npz is None:
    raise CLIError("--key needs --npz")
  if args.batch_size is not None and args.batch_size < 1:
    raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
  if _vqvae_stage(args.workdir):
    return _cmd_eval_vqvae(args)
  m = eval_workdir(args.workdir, npz=args.npz, key=args.key, split=args.split,
                   batch_size=args.batch_size)
  print(f"{m['source']}: nll = {m['nll_nats']:.4f} nats, {m['bits_per_dim']:.4f} bits/dim "
        f"over n = {m['n']} examples")
  if args.json:
    out = {"nll_nats": float(m["nll_nats"]), "bits_per_dim": float(m["bits_per_dim"]),
           "n": int(m["n"])}
    print(json.dumps(out))
  return 0


def read_info(workdir: str) -> dict:
  """The data facts saved with a run (``model.json``'s ``info``: a text vocabulary, an audio sample
  rate and quantization, ...); empty for images and vectors or a workdir without ``model.json``."""
  if not os.path.isfile(os.path.join(workdir, "model.json")):
    return {}
  from armodels_jax import training  # pylint: disable=g-import-not-at-top

  return dict(training.read_model_info(workdir).get("info") or {})


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

  model, variables, _ = _restore(workdir)
  info = read_info(workdir)
  sequence = len(model.event_shape) == 1 and info.get("kind") in ("text", "audio")
  hop = int(getattr(model, "local_hop", 0) or 0)
  local = None
  if features_from is not None:
    if info.get("features") != "log_mel":
      raise CLIError("--features-from needs a model conditioned on log-mel frames (data.features="
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
      raise CLIError("--length applies to sequence models (text, audio), not to event shape "
                     f"{tuple(model.event_shape)}")
    if length < 1 or (hop and length % hop):
      raise CLIError(f"--length must be a positive multiple of the local hop {hop or 1}, got {length}")
    model = model.clone(event_shape=(int(length),))
  if digit is not None:
    if info.get("features") != "digit":
      raise CLIError(f"--digit needs a model with a digit track (data.features='digit'), this one "
                     f"has features={info.get('features')!r}")
    if not 0 <= digit < 10:
      raise CLIError(f"--digit must be in 0..9, got {digit}")
    track = np.zeros((num, model.event_shape[0] // hop, 10), np.float32)
    track[..., digit] = 1.0
    local = track
  num_classes = int(getattr(model, "num_classes", 0) or 0)
  labels = None
  if label is not None:
    if not num_classes:
      raise CLIError("--label needs a class-conditional model; this one has no classes")
    if not 0 <= label < num_classes:
      raise CLIError(f"--label must be in 0..{num_classes - 1}, got {label}")
    labels = np.full((num,), label, np.int32)
  if num_classes and labels is None:
    raise CLIError(f"this model is class-conditional: give --label in 0..{num_classes - 1}")
  if getattr(model, "local_dim", 0) and local is None:
    flag = "--digit D" if info.get("features") == "digit" else "--features-from FILE.wav"
    raise CLIError(f"this model is conditioned on a local track: give {flag}")
  prefix, prefix_len = None, 0
  if prime is not None:
    if info.get("kind") != "text":
      raise CLIError("--prime applies to text models")
    ids = data.text.encode(prime, info["vocab"])
    if len(ids) >= model.event_shape[0]:
      raise CLIError(f"--prime has {len(ids)} characters; expected fewer than the length "
                     f"{model.event_shape[0]} (raise --length)")
    prefix = np.zeros((num,) + model.event_shape, np.int32)
    prefix[:, :len(ids)] = ids
    prefix_len = len(ids)
  cond = data.make_cond(labels, local)
  xs = arm.sample(model, variables, jax.random.key(seed), num_samples=num, method=method,
                  temperature=temperature, cond=cond, prefix=prefix, prefix_len=prefix_len)
  return jax.device_get(xs), model, info


def write_audio(xs, info: dict, out: str) -> list[str]:
  """Decodes sampled levels to audio and writes 16-bit WAVs (``out``, or ``stem_00.wav``, ...)."""
  from armodels_jax.data import audio  # pylint: disable=g-import-not-at-top

  stem = out[:-len(".wav")]
  paths = [out] if len(xs) == 1 else [f"{stem}_{i:02d}.wav" for i in range(len(xs))]
  for x, path in zip(xs, paths):
    wave = audio.dequantize_audio(x, info["quantization"], int(info["levels"]))
    audio.write_wav(path, wave, int(info["sample_rate"]))
  return paths


def _cmd_sample(args: argparse.Namespace) -> int:
  if args.num < 1:
    raise CLIError(f"--num must be >= 1, got {args.num}")
  if not args.temperature > 0:
    raise CLIError(f"--temperature must be > 0, got {args.temperature}")
  out_dir = os.path.dirname(os.path.abspath(args.out))
  if not os.path.isdir(out_dir):
    raise CLIError(f"output directory not found: {out_dir!r}")
  if _vqvae_stage(args.workdir):
    return _cmd_sample_vqvae(args)
  import numpy as np  # pylint: disable=g-import-not-at-top

  xs, model, info = sample_workdir(
      args.workdir, num=args.num, method=args.method, seed=args.seed, temperature=args.temperature,
      length=args.length, prime=args.prime, label=args.label, digit=args.digit,
      features_from=args.features_from)
  kind = info.get("kind")
  written = args.out
  if kind == "audio" and args.out.endswith(".wav"):
    written = ", ".join(write_audio(np.asarray(xs), info, args.out))
  elif kind == "text" and not args.out.endswith((".npz", ".npy")):
    from armodels_jax.data import text  # pylint: disable=g-import-not-at-top

    texts = [text.decode(x, info["vocab"]) for x in np.asarray(xs)]
    body = "\n\n".join(texts)
    if args.out.endswith(".txt"):
      with open(args.out, "w", encoding="utf-8") as f:
        f.write(body + "\n")
    else:
      written = "stdout"
    print(body)
  elif args.out.endswith((".npz", ".npy", ".txt")):
    if args.out.endswith(".npz"):
      np.savez(args.out, samples=np.asarray(xs))
    elif args.out.endswith(".txt"):
      np.savetxt(args.out, np.asarray(xs).reshape(len(xs), -1), fmt="%.6g")
    else:
      np.save(args.out, np.asarray(xs))
  elif model.real_valued or len(model.event_shape) == 1:
    what = "audio (.wav)" if kind == "audio" else "vectors"
    raise CLIError(f"samples of this model are {what}, not images: expected --out ending in "
                   f"{'.wav, ' if kind == 'audio' else ''}.npy, .npz or .txt, got {args.out!r}")
  else:
    from armodels_jax.training import images  # pylint: disable=g-import-not-at-top

    images.save_image_grid(np.asarray(xs), args.out, model.num_levels)
  method = args.method if model.has_decode else "naive: the model has no decode path"
  print(f"wrote {args.num} samples ({method}, seed {args.seed}, temperature "
        f"{args.temperature:g}) of shape {tuple(model.event_shape)} to {written}")
  return 0


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
    raise CLIError(f"unknown --method {method!r}; expected one of {list(anomaly.METHODS)}")
  if (reference is None) == (method == "likelihood_ratio"):
    raise CLIError("--method likelihood_ratio needs --reference WORKDIR (the background model)"
                   if reference is None else
                   f"--reference applies to --method likelihood_ratio only, got --method {method}")
  key = _npz_key(npz, key)
  model, variables, _ = _restore(workdir)
  if getattr(model, "conditional", False):
    raise CLIError("score takes unconditional models; call arm.anomaly_scores(..., cond=...) for "
                   "a conditional one")
  ref = None
  if reference is not None:
    ref_model, ref_variables, _ = _restore(reference)
    ref = (ref_model, ref_variables)
  array = data.load_array(npz, key, model.event_shape, model.num_levels)
  return anomaly.anomaly_scores(model, variables, array, method=method, reference=ref,
                                compressor=compressor, batch_size=batch_size)


def _cmd_score(args: argparse.Namespace) -> int:
  if not args.out.endswith(".npy"):
    raise CLIError(f"expected --out ending in .npy, got {args.out!r}")
  out_dir = os.path.dirname(os.path.abspath(args.out))
  if not os.path.isdir(out_dir):
    raise CLIError(f"output directory not found: {out_dir!r}")
  if args.batch_size < 1:
    raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
  import numpy as np  # pylint: disable=g-import-not-at-top

  scores = score_workdir(args.workdir, npz=args.npz, key=args.key, method=args.method,
                         reference=args.reference, compressor=args.compressor,
                         batch_size=args.batch_size)
  np.save(args.out, scores)
  print(f"wrote {len(scores)} {args.method} scores (higher = more anomalous; min "
        f"{scores.min():.4g}, median {np.median(scores):.4g}, max {scores.max():.4g}) to {args.out}")
  return 0


def _sequence_input(model, info: dict, text: str | None, wav: str | None):
  """A text or WAV file as one row ``[1, T]`` of a sequence model, and the model at length T."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  want = "text" if text is not None else "audio"
  if info.get("kind") != want:
    raise CLIError(f"--{'text' if text is not None else 'wav'} needs a {want} model's workdir; this "
                   f"one's data are {info.get('kind') or 'images or vectors'}")
  if text is not None:
    with open(text, encoding="utf-8") as f:
      ids = data.text.encode(f.read(), info["vocab"])
  else:
    if getattr(model, "num_classes", 0) or getattr(model, "local_dim", 0):
      raise CLIError("this audio model is conditioned (speaker, digit or log-mel track): compress "
                     "with the Python API, arm.compress(model, variables, x, cond=...)")
    from armodels_jax.data import audio  # pylint: disable=g-import-not-at-top

    wave, _ = audio.read_wav(wav, sample_rate=int(info["sample_rate"]))
    ids = audio.quantize_audio(wave, info["quantization"], int(info["levels"]))
  ids = np.asarray(ids, np.int32)[None]
  if ids.shape[1] < 1:
    raise CLIError(f"{text or wav} is empty")
  return model.clone(event_shape=(ids.shape[1],)), ids


def compress_workdir(workdir: str, out: str, *, npz: str | None = None, key: str | None = None,
                     text: str | None = None, wav: str | None = None,
                     batch_size: int = 256) -> dict:
  """Compresses an npz array (any per-example size equal to the event size), a text file (one
  stream, text models) or a WAV file (one recording, unconditioned audio models) with the checkpoint
  in `workdir` (a training workdir or a shipped `pretrained/<name>/`); writes `out`.

  Returns:
    {'bytes': file size, 'n': examples, 'bits_per_dim': 8 * bytes / (n * D)}.
  """
  sources = [s for s in (npz, text, wav) if s is not None]
  if len(sources) != 1:
    raise CLIError(f"give exactly one of --npz, --text, --wav, got {len(sources)}")
  if not os.path.isfile(sources[0]):
    raise CLIError(f"input file not found: {sources[0]!r}")
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise CLIError(f"output directory not found: {out_dir!r}")
  if npz is not None:
    key = _npz_key(npz, key)
  import armodels_jax as arm  # pylint: disable=g-import-not-at-top
  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  model, variables, _ = _restore(workdir)
  if npz is not None:
    x = data.load_array(npz, key, model.event_shape, model.num_levels)
  else:
    model, x = _sequence_input(model, read_info(workdir), text, wav)
  blob = arm.compress(model, variables, x, batch_size=batch_size)
  with open(out, "wb") as f:
    f.write(blob)
  return {"bytes": len(blob), "n": int(x.shape[0]), "bits_per_dim": 8 * len(blob) / x.size}


def decompress_workdir(workdir: str, path_in: str, out: str):
  """Decompresses `path_in` with the checkpoint in `workdir`; writes `out` (.npz: the array under
  key 'x'; a text model's .txt; an audio model's .wav). Returns the decoded array."""
  if not os.path.isfile(path_in):
    raise CLIError(f"compressed file not found: {path_in!r}")
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise CLIError(f"output directory not found: {out_dir!r}")
  import numpy as np  # pylint: disable=g-import-not-at-top

  import armodels_jax as arm  # pylint: disable=g-import-not-at-top
  from armodels_jax import compression  # pylint: disable=g-import-not-at-top

  info = read_info(workdir)
  kinds = {"text": (".npz", ".txt"), "audio": (".npz", ".wav")}.get(info.get("kind"), (".npz",))
  if not out.endswith(kinds):
    raise CLIError(f"expected --out ending in {' or '.join(kinds)}, got {out!r}")
  with open(path_in, "rb") as f:
    blob = f.read()
  shape = compression.read_header(blob)["event_shape"]
  model, variables, _ = _restore(workdir)
  if info.get("kind") in ("text", "audio") and len(shape) == 1:
    model = model.clone(event_shape=shape)  # a sequence model codes any length
  x = arm.decompress(model, variables, blob)
  if out.endswith(".npz"):
    np.savez(out, x=x)
  elif out.endswith(".txt"):
    from armodels_jax.data import text  # pylint: disable=g-import-not-at-top

    with open(out, "w", encoding="utf-8") as f:
      f.write("".join(text.decode(row, info["vocab"]) for row in x))
  else:  # .wav of an audio model
    write_audio(x[:1], info, out)
  return x


def _cmd_compress(args: argparse.Namespace) -> int:
  if args.key is not None and args.npz is None:
    raise CLIError("--key needs --npz")
  if args.batch_size < 1:
    raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
  m = compress_workdir(args.workdir, args.out, npz=args.npz, key=args.key, text=args.text,
                       wav=args.wav, batch_size=args.batch_size)
  print(f"wrote {args.out}: {m['bytes']} bytes for n = {m['n']} examples, "
        f"{m['bits_per_dim']:.4f} bits/dim")
  if args.json:
    print(json.dumps(m))
  return 0


def _cmd_decompress(args: argparse.Namespace) -> int:
  x = decompress_workdir(args.workdir, args.input, args.out)
  print(f"wrote {args.out}: {x.shape[0]} examples of shape {tuple(x.shape[1:])}")
  return 0


# --------------------------------------------------------------------------------------------------
# VQ-VAE + prior (armodels_jax.vqvae): a stage-1 workdir evaluates its reconstruction NLL; a prior's
# workdir (trained on data.name='vqvae_codes') samples images and evaluates the two-stage bound.
# --------------------------------------------------------------------------------------------------


def _vqvae_stage(workdir: str) -> str | None:
  """'vqvae' (stage 1), 'prior' (stage 2) or None, from the workdir's model.json."""
  if not os.path.isfile(os.path.join(workdir, "model.json")):
    return None
  from armodels_jax.demo import quiet_read_only_warnings  # pylint: disable=g-import-not-at-top
  from armodels_jax.vqvae import pipeline, train  # pylint: disable=g-import-not-at-top

  quiet_read_only_warnings()

  if train.is_vqvae_workdir(workdir):
    return "vqvae"
  return "prior" if pipeline.vqvae_workdir_of(workdir) else None


def _vqvae_images(vq_cfg, model, npz: str | None, key: str | None, split: str):
  """The images to evaluate: an npz array, or a split of the VQ-VAE's configured dataset."""
  from armodels_jax import data  # pylint: disable=g-import-not-at-top

  if npz is not None:
    key = _npz_key(npz, key)
    return data.load_array(npz, key, model.event_shape, model.num_levels), f"{npz}[{key}]"
  ds = _load_configured_dataset(vq_cfg)
  array = getattr(ds, split)
  if array is None or len(array) == 0:
    raise CLIError(f"dataset {ds.name!r} has no {split!r} split")
  return array, f"{ds.name}:{split}"


def _cmd_eval_vqvae(args: argparse.Namespace) -> int:
  from armodels_jax.vqvae import pipeline, train  # pylint: disable=g-import-not-at-top

  stage1 = _vqvae_stage(args.workdir) == "vqvae"
  if stage1:
    vq_model, vq_params, vq_cfg, _ = train.restore(args.workdir)
  else:
    p = pipeline.load(args.workdir)
    vq_model, vq_params, vq_cfg = p.vq_model, p.vq_params, p.vq_config
  images, source = _vqvae_images(vq_cfg, vq_model, args.npz, args.key, args.split)
  batch = args.batch_size or int(vq_cfg.train.eval_batch_size)
  if stage1:
    m = train.evaluate(vq_model, vq_params, images, batch)
    print(f"{source}: reconstruction nll = -log p(x | z(x)) = {m['nll_nats']:.4f} nats, "
          f"{m['bits_per_dim']:.4f} bits/dim, codebook perplexity {m['perplexity']:.2f}, "
          f"{m['codes_used']} of {vq_model.num_codes} codes used, over n = {m['n']} examples")
    keys = ("nll_nats", "bits_per_dim", "n", "perplexity", "codes_used")
  else:
    m = pipeline.evaluate_bound(p.prior, p.variables, vq_model, vq_params, images, batch)
    print(f"{source}: nll <= {m['nll_nats']:.4f} nats, {m['bits_per_dim']:.4f} bits/dim (bound: "
          f"prior {m['prior_nats']:.4f} nats = {m['prior_bits_per_code']:.4f} bits/code + "
          f"reconstruction {m['recon_nats']:.4f} nats) over n = {m['n']} examples")
    keys = ("nll_nats", "bits_per_dim", "n", "bound", "prior_nats", "prior_bits_per_code",
            "recon_nats", "perplexity", "codes_used")
  if args.json:
    print(json.dumps({k: m[k] for k in keys}))
  return 0


def _cmd_sample_vqvae(args: argparse.Namespace) -> int:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from armodels_jax.training import images  # pylint: disable=g-import-not-at-top
  from armodels_jax.vqvae import pipeline  # pylint: disable=g-import-not-at-top

  if _vqvae_stage(args.workdir) != "prior":
    raise CLIError(f"{args.workdir!r} is a VQ-VAE (stage 1): sample from the workdir of a prior "
                   "trained on its codes (data.name='vqvae_codes')")
  p = pipeline.load(args.workdir)
  num_classes = int(getattr(p.prior, "num_classes", 0) or 0)
  cond = None
  if num_classes:
    if args.label is None or not 0 <= args.label < num_classes:
      raise CLIError(f"this prior is class-conditional: give --label in 0..{num_classes - 1}")
    cond = np.full((args.num,), args.label, np.int32)
  xs, _ = pipeline.sample_images(p.prior, p.variables, p.vq_model, p.vq_params,
                                 jax.random.key(args.seed), args.num, method=args.method,
                                 temperature=args.temperature, cond=cond)
  if args.out.endswith((".npz", ".npy")):
    (np.savez(args.out, samples=xs) if args.out.endswith(".npz") else np.save(args.out, xs))
  else:
    images.save_image_grid(xs, args.out, p.vq_model.num_levels)
  print(f"wrote {args.num} samples (codes {args.method} from the prior, seed {args.seed}, temperature "
        f"{args.temperature:g}; decoded by the VQ-VAE) of shape {tuple(p.vq_model.event_shape)} to "
        f"{args.out}")
  return 0


# --------------------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------------------


def _npz_key(npz: str, key: str | None) -> str:
  """`key`, or the only array's key of `npz` when None; a missing file is a CLIError."""
  if not os.path.isfile(npz):
    raise CLIError(f"npz file not found: {npz!r}")
  return _only_key(npz) if key is None else key


def _only_key(path: str) -> str:
  """The key of the only array in an .npz file (CLIError when there are several or none)."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  try:
    loaded = np.load(path, allow_pickle=False)
  except (ValueError, OSError) as e:  # not a NumPy file at all (numpy's message speaks of pickles)
    raise CLIError(f"{path}: expected an .npz archive of arrays, got a file NumPy cannot read") from e
  if not isinstance(loaded, np.lib.npyio.NpzFile):
    raise CLIError(f"{path}: expected an .npz archive, got a single array")
  with loaded:
    keys = list(loaded.files)
  if len(keys) != 1:
    raise CLIError(f"{path} holds the arrays {keys}; choose one with --key")
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


def _format_metrics(result) -> str:
  parts = []
  for k, v in result.items():
    if isinstance(v, float):
      parts.append(f"{k}={v:.4f}")
    elif isinstance(v, (int, str)):
      parts.append(f"{k}={v}")
  return " ".join(parts)


def _message(e: BaseException) -> str:
  """One line from an exception: KeyError's quotes dropped, newlines folded."""
  msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
  msg = " ".join(str(msg).split())
  return msg or type(e).__name__


# --------------------------------------------------------------------------------------------------
# Parser and entry point.
# --------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
  """argparse prints usage and exits 2 on errors; keep that, but make the message one line."""

  def error(self, message):
    self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog=PROG, description="Likelihood-based autoregressive models in JAX/Flax.")
  sub = parser.add_subparsers(
      dest="command", metavar="{demo,train,eval,sample,score,compress,decompress,compile}",
      parser_class=_Parser)
  sub.required = True

  p = sub.add_parser("demo", help="train a small PixelCNN on the embedded 8x8 digits, sample, complete")
  p.add_argument("--workdir", default=None,
                 help="checkpoints and logs (default: workdirs/demo; an existing run there resumes)")
  p.add_argument("--steps", type=int, default=None, help="training steps (default: the demo's)")
  p.add_argument("--out", default=None, help="where samples.png and completions.png go (default: workdir)")
  p.add_argument("--seed", type=int, default=0, help="sampling seed")
  p.set_defaults(func=_cmd_demo)

  p = sub.add_parser("train", help="train from an experiment config",
                     epilog="Any --config.FIELD=VALUE overrides a config field, e.g. "
                     "--config.train.num_steps=10 --config.model.size=small.")
  p.add_argument("--config", required=True, help="experiments/configs/<name>.py[:arg]")
  p.add_argument("--workdir", required=True, help="checkpoints and logs; an existing run resumes")
  g = p.add_argument_group("multi-host (jax.distributed; see armodels_jax/training/distributed.py)")
  g.add_argument("--distributed", action="store_true",
                 help="join a multi-process run, detecting the cluster (TPU VM pod, SLURM, ...)")
  g.add_argument("--coordinator", default=None, help="host:port of process 0 (implies --distributed)")
  g.add_argument("--num-processes", type=int, default=None)
  g.add_argument("--process-id", type=int, default=None)
  p.set_defaults(func=_cmd_train)

  p = sub.add_parser("eval", help="exact NLL of a checkpoint on a dataset split or an npz array")
  p.add_argument("--workdir", required=True)
  p.add_argument("--npz", default=None,
                 help="an .npz file; any array whose per-example size equals the event size")
  p.add_argument("--key", default=None, help="the array's key in --npz (default: its only array)")
  p.add_argument("--split", choices=("valid", "test"), default="test",
                 help="split of the configured dataset, without --npz (default: test)")
  p.add_argument("--batch-size", type=int, default=None)
  p.add_argument("--json", action="store_true",
                 help='also print {"nll_nats", "bits_per_dim", "n"} as the last line of stdout')
  p.set_defaults(func=_cmd_eval)

  p = sub.add_parser("sample", help="draw samples from a checkpoint (an image grid, WAV files or text)")
  p.add_argument("--workdir", required=True)
  p.add_argument("--num", type=int, default=16)
  p.add_argument("--out", default="samples.png",
                 help="a .png grid (or .npz/.npy for the raw array, .txt for one sample per row; "
                      "audio: .wav, one file per sample; text: .txt or stdout)")
  p.add_argument("--method", choices=("cached", "naive"), default="cached")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--temperature", type=float, default=1.0)
  p.add_argument("--length", type=int, default=None,
                 help="sequence models: samples of this length (default: the training window)")
  p.add_argument("--prime", default=None, help="text models: continue this text")
  p.add_argument("--label", type=int, default=None,
                 help="class-conditional models: the class (e.g. the speaker)")
  p.add_argument("--digit", type=int, default=None,
                 help="WaveNet with a digit track: the spoken digit")
  p.add_argument("--features-from", default=None,
                 help="log-mel-conditioned WaveNet: resynthesise this WAV file's log-mel frames")
  p.set_defaults(func=_cmd_sample)

  p = sub.add_parser("score", help="anomaly scores of an npz array (higher = more anomalous)")
  p.add_argument("--workdir", required=True, help="a training workdir or a pretrained/<name>/ folder")
  p.add_argument("--npz", required=True,
                 help="an .npz file; any array whose per-example size equals the event size")
  p.add_argument("--key", default=None, help="the array's key in --npz (default: its only array)")
  p.add_argument("--method", default="nll",
                 choices=("nll", "bpd", "complexity", "likelihood_ratio"),
                 help="nll (nats), bpd, complexity (NLL bits minus PNG/zlib bits, Serra et al. 2020), "
                      "likelihood_ratio (needs --reference; Ren et al. 2019)")
  p.add_argument("--reference", default=None,
                 help="likelihood_ratio: the workdir of the background model")
  p.add_argument("--compressor", default=None, choices=("png", "zlib", "context"),
                 help="complexity: the code of L(x) (default png for images, zlib otherwise; context: "
                      "an adaptive context-model code)")
  p.add_argument("--out", required=True, help="scores.npy: float64 [N]")
  p.add_argument("--batch-size", type=int, default=256)
  p.set_defaults(func=_cmd_score)
  p = sub.add_parser("compress", help="losslessly compress data with a checkpoint's exact conditionals")
  p.add_argument("--workdir", required=True, help="a training workdir or a pretrained/<name>/ folder")
  p.add_argument("--npz", default=None,
                 help="an .npz file; any array whose per-example size equals the event size")
  p.add_argument("--key", default=None, help="the array's key in --npz (default: its only array)")
  p.add_argument("--text", default=None, help="text models: a UTF-8 file, coded as one stream")
  p.add_argument("--wav", default=None, help="audio models: a WAV file, one recording")
  p.add_argument("--out", required=True, help="the compressed file (e.g. x.arm)")
  p.add_argument("--batch-size", type=int, default=256, help="examples coded together")
  p.add_argument("--json", action="store_true",
                 help='also print {"bytes", "n", "bits_per_dim"} as the last line of stdout')
  p.set_defaults(func=_cmd_compress)

  p = sub.add_parser("decompress", help="invert compress (the same checkpoint)")
  p.add_argument("--workdir", required=True, help="the workdir that compressed the file")
  p.add_argument("--in", dest="input", required=True, help="the compressed file")
  p.add_argument("--out", required=True,
                 help="an .npz (the array under key 'x'); text models: .txt; audio models: .wav")
  p.set_defaults(func=_cmd_decompress)

  # armodels compile: all of it in armodels_jax.aot (run_compile_command); this block is only the wiring.
  p = sub.add_parser("compile", help="compile a config for a TPU slice without TPUs: fits, memory, roofline",
                     epilog="Any --config.FIELD=VALUE overrides a config field, as for train.")
  p.add_argument("--config", required=True, help="experiments/configs/<name>.py[:arg]")
  p.add_argument("--topology", required=True, help="e.g. v5e:2x4, v4:2x2x4, or an accelerator type v4-32")
  p.add_argument("--batch", type=int, default=None, help="global train batch (default: train.batch_size)")
  p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None, help="default: model.dtype")
  p.add_argument("--what", choices=("train", "eval", "sample", "all"), default="all")
  p.add_argument("--json", action="store_true", help="also print one JSON object as the last line")

  def cmd_compile(a: argparse.Namespace) -> int:
    from armodels_jax import aot  # pylint: disable=g-import-not-at-top  (libtpu only when compiling)
    return aot.run_compile_command(a.config, a.topology, batch=a.batch, dtype=a.dtype, what=a.what,
                                   as_json=a.json, overrides=a.overrides)

  p.set_defaults(func=cmd_compile)
  return parser


def _parse(argv: Sequence[str]) -> argparse.Namespace:
  parser = build_parser()
  args, unknown = parser.parse_known_args(argv)
  overrides = []
  if args.command in ("train", "compile"):
    for item in unknown:
      if item.startswith("--config.") and "=" in item:
        overrides.append(item[len("--config."):])
      else:
        parser.error(f"unrecognized argument {item!r} (config overrides are --config.FIELD=VALUE)")
  elif unknown:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
  args.overrides = overrides
  return args


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the CLI; returns the exit status (0, or 2 for a user error).

  Run as a command (``argv`` None), it first re-executes itself with the allocator setting of
  :mod:`armodels_jax.runtime_env` when the environment lacks it.
  """
  if argv is None:
    runtime_env.reexec_tuned(["-m", "armodels_jax.cli", *sys.argv[1:]])
  args = _parse(sys.argv[1:] if argv is None else list(argv))
  if os.environ.get("ARMODELS_DEBUG"):
    return args.func(args)
  try:
    return args.func(args)
  except CLIError as e:
    msg = _message(e)
  except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as e:
    msg = f"{e.strerror or type(e).__name__}: {e.filename}" if e.filename else _message(e)
  except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as e:
    msg = _message(e)
  print(f"{PROG} {args.command}: error: {msg}", file=sys.stderr)
  return EXIT_USAGE


if __name__ == "__main__":
  sys.exit(main())
