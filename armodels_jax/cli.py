"""The ``armodels`` command line: argument parsing and printing, nothing else.

Every subcommand (``armodels --help`` lists them: demo, train, eval, sample, score, compress,
decompress, compile) checks its flags, calls one public function that a notebook can call as well
(``armodels_jax.workflows``: train_workdir, eval_workdir, sample_workdir, score_workdir,
compress_workdir, decompress_workdir; ``demo.run_demo``; ``aot.run_compile_command``) and prints.

User errors (a missing file or checkpoint, an array of the wrong size, a bad option, a compressed file
over the limits, a workdir in use by another trainer) print one line to stderr and exit with status 2; a
training run that diverged prints one line naming the step and the kept checkpoint and exits with
status 3. Set ``ARMODELS_DEBUG=1`` to get the full traceback instead. Adding a subcommand:
docs/design.md, section 4.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from collections.abc import Sequence

from armodels_jax import runtime_env
from armodels_jax import workflows
from armodels_jax.workflows import (compress_workdir, decompress_workdir, eval_workdir,  # noqa: F401
                                    read_info, sample_workdir, score_workdir)

PROG = "armodels"
EXIT_USAGE = 2
EXIT_DIVERGED = 3  # Training diverged (a non-finite loss or parameters): training.TrainingDivergedError.

CLIError = workflows.UsageError  # A user error: one line on stderr, exit status 2.
_message = workflows.one_line


def _check_out_dir(out: str) -> None:
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise CLIError(f"output directory not found: {out_dir!r}")


def _positive(flag: str, value) -> None:
  if value is not None and value < 1:
    raise CLIError(f"{flag} must be >= 1, got {value}")


# Subcommands: each checks its flags, calls one workflow, prints, and returns an exit status.


def _cmd_demo(args: argparse.Namespace) -> int:
  from armodels_jax import demo  # pylint: disable=g-import-not-at-top

  demo.run_demo(workdir=args.workdir, steps=args.steps, out=args.out, seed=args.seed)
  return 0


def _cmd_train(args: argparse.Namespace) -> int:
  result = workflows.train_workdir(args.config, args.workdir, args.overrides, distributed=args.distributed,
                                   coordinator=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)
  import jax  # pylint: disable=g-import-not-at-top

  if result and jax.process_index() == 0:
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
                   if isinstance(v, (float, int, str))))
  return 0


def _cmd_eval(args: argparse.Namespace) -> int:
  if args.key is not None and args.npz is None:
    raise CLIError("--key needs --npz")
  _positive("--batch-size", args.batch_size)
  if workflows.vqvae_stage(args.workdir):
    return _eval_vqvae(args)
  m = eval_workdir(args.workdir, npz=args.npz, key=args.key, split=args.split, batch_size=args.batch_size)
  print(f"{m['source']}: nll = {m['nll_nats']:.4f} nats, {m['bits_per_dim']:.4f} bits/dim "
        f"over n = {m['n']} examples")
  if args.json:
    print(json.dumps({"nll_nats": float(m["nll_nats"]), "bits_per_dim": float(m["bits_per_dim"]),
                      "n": int(m["n"])}))
  return 0


def _eval_vqvae(args: argparse.Namespace) -> int:
  m, source, stage, num_codes = workflows.eval_vqvae_workdir(
      args.workdir, npz=args.npz, key=args.key, split=args.split, batch_size=args.batch_size)
  if stage == "vqvae":
    print(f"{source}: reconstruction nll = -log p(x | z(x)) = {m['nll_nats']:.4f} nats, "
          f"{m['bits_per_dim']:.4f} bits/dim, codebook perplexity {m['perplexity']:.2f}, "
          f"{m['codes_used']} of {num_codes} codes used, over n = {m['n']} examples")
    keys = ("nll_nats", "bits_per_dim", "n", "perplexity", "codes_used")
  else:
    print(f"{source}: nll <= {m['nll_nats']:.4f} nats, {m['bits_per_dim']:.4f} bits/dim (bound: "
          f"prior {m['prior_nats']:.4f} nats = {m['prior_bits_per_code']:.4f} bits/code + "
          f"reconstruction {m['recon_nats']:.4f} nats) over n = {m['n']} examples")
    keys = ("nll_nats", "bits_per_dim", "n", "bound", "prior_nats", "prior_bits_per_code",
            "recon_nats", "perplexity", "codes_used")
  if args.json:
    print(json.dumps({k: m[k] for k in keys}))
  return 0


def _cmd_sample(args: argparse.Namespace) -> int:
  _positive("--num", args.num)
  if not args.temperature > 0:
    raise CLIError(f"--temperature must be > 0, got {args.temperature}")
  _check_out_dir(args.out)
  if workflows.vqvae_stage(args.workdir):
    _, vq_model = workflows.sample_vqvae_workdir(args.workdir, num=args.num, method=args.method,
                                                 seed=args.seed, temperature=args.temperature,
                                                 label=args.label, out=args.out)
    print(f"wrote {args.num} samples (codes {args.method} from the prior, seed {args.seed}, temperature "
          f"{args.temperature:g}; decoded by the VQ-VAE) of shape {tuple(vq_model.event_shape)} to "
          f"{args.out}")
    return 0
  xs, model, info = sample_workdir(
      args.workdir, num=args.num, method=args.method, seed=args.seed, temperature=args.temperature,
      length=args.length, prime=args.prime, label=args.label, digit=args.digit,
      features_from=args.features_from)
  written, text = workflows.save_samples(xs, model, info, args.out)
  if text is not None:
    print(text)
  method = args.method if model.has_decode else "naive: the model has no decode path"
  print(f"wrote {args.num} samples ({method}, seed {args.seed}, temperature "
        f"{args.temperature:g}) of shape {tuple(model.event_shape)} to {written}")
  return 0


def _cmd_score(args: argparse.Namespace) -> int:
  if not args.out.endswith(".npy"):
    raise CLIError(f"expected --out ending in .npy, got {args.out!r}")
  _check_out_dir(args.out)
  _positive("--batch-size", args.batch_size)
  import numpy as np  # pylint: disable=g-import-not-at-top

  scores = score_workdir(args.workdir, npz=args.npz, key=args.key, method=args.method,
                         reference=args.reference, compressor=args.compressor, batch_size=args.batch_size)
  np.save(args.out, scores)
  print(f"wrote {len(scores)} {args.method} scores (higher = more anomalous; min "
        f"{scores.min():.4g}, median {np.median(scores):.4g}, max {scores.max():.4g}) to {args.out}")
  return 0


def _cmd_compile(a: argparse.Namespace) -> int:
  from armodels_jax import aot  # pylint: disable=g-import-not-at-top  (libtpu only when compiling)
  return aot.run_compile_command(a.config, a.topology, batch=a.batch, dtype=a.dtype, what=a.what,
                                 as_json=a.json, overrides=a.overrides)


def _cmd_compress(args: argparse.Namespace) -> int:
  if args.key is not None and args.npz is None:
    raise CLIError("--key needs --npz")
  _positive("--batch-size", args.batch_size)
  m = compress_workdir(args.workdir, args.out, npz=args.npz, key=args.key, text=args.text, wav=args.wav,
                       images=args.images, batch_size=args.batch_size)
  what = "images" if args.images is not None else "examples"
  print(f"wrote {args.out}: {m['bytes']} bytes for n = {m['n']} {what}, {m['bits_per_dim']:.4f} bits/dim")
  if args.json:
    print(json.dumps(m))
  return 0


def _cmd_decompress(args: argparse.Namespace) -> int:
  if (args.images is None) == (args.out is None):
    raise CLIError("give exactly one of --out and --images")
  if args.images is not None:  # The PNGs under their original names.
    paths = workflows.decompress_images_workdir(args.workdir, args.input, args.images,
                                                max_elements=args.max_elements)
    print(f"wrote {len(paths)} images to {args.images}")
    return 0
  x = decompress_workdir(args.workdir, args.input, args.out, max_elements=args.max_elements)
  print(f"wrote {args.out}: {x.shape[0]} examples of shape {tuple(x.shape[1:])}")
  return 0


# Parser and entry point.


class _Parser(argparse.ArgumentParser):
  """argparse prints usage and exits 2 on errors; keep that, but make the message one line."""

  def error(self, message):
    self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _npz_args(p: argparse.ArgumentParser, required: bool) -> None:
  p.add_argument("--npz", required=required,
                 help="an .npz file; any array whose per-example size equals the event size")
  p.add_argument("--key", default=None, help="the array's key in --npz (default: its only array)")


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog=PROG, description="Likelihood-based autoregressive models in JAX/Flax.")
  sub = parser.add_subparsers(dest="command", parser_class=_Parser,
                              metavar="{demo,train,eval,sample,score,compress,decompress,compile}")
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
  _npz_args(p, required=False)
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
  p.add_argument("--label", type=int, default=None, help="class-conditional models: the class (the speaker)")
  p.add_argument("--digit", type=int, default=None, help="WaveNet with a digit track: the spoken digit")
  p.add_argument("--features-from", default=None,
                 help="log-mel-conditioned WaveNet: resynthesise this WAV file's log-mel frames")
  p.set_defaults(func=_cmd_sample)

  p = sub.add_parser("score", help="anomaly scores of an npz array (higher = more anomalous)")
  p.add_argument("--workdir", required=True, help="a training workdir or a pretrained/<name>/ folder")
  _npz_args(p, required=True)
  p.add_argument("--method", default="nll", choices=("nll", "bpd", "complexity", "likelihood_ratio"),
                 help="nll (nats), bpd, complexity (NLL bits minus PNG/zlib bits, Serra et al. 2020), "
                      "likelihood_ratio (needs --reference; Ren et al. 2019)")
  p.add_argument("--reference", default=None, help="likelihood_ratio: the workdir of the background model")
  p.add_argument("--compressor", default=None, choices=("png", "zlib", "context"),
                 help="complexity: the code of L(x) (default png for images, zlib otherwise; context: "
                      "an adaptive context-model code)")
  p.add_argument("--out", required=True, help="scores.npy: float64 [N]")
  p.add_argument("--batch-size", type=int, default=256)
  p.set_defaults(func=_cmd_score)
  p = sub.add_parser("compress", help="losslessly compress data with a checkpoint's exact conditionals")
  p.add_argument("--workdir", required=True, help="a training workdir or a pretrained/<name>/ folder")
  _npz_args(p, required=False)
  p.add_argument("--text", default=None, help="text models: a UTF-8 file, coded as one stream")
  p.add_argument("--wav", default=None, help="audio models: a WAV file, one recording")
  p.add_argument("--images", default=None, help="image models: a folder of PNGs, names kept")
  p.add_argument("--out", required=True, help="the compressed file (e.g. x.arm)")
  p.add_argument("--batch-size", type=int, default=256, help="examples coded together")
  p.add_argument("--json", action="store_true",
                 help='also print {"bytes", "n", "bits_per_dim"} as the last line of stdout')
  p.set_defaults(func=_cmd_compress)

  p = sub.add_parser("decompress", help="invert compress (the same checkpoint)")
  p.add_argument("--workdir", required=True, help="the workdir that compressed the file")
  p.add_argument("--in", dest="input", required=True, help="the compressed file")
  p.add_argument("--out", default=None,
                 help="an .npz (the array under key 'x'); text models: .txt; audio models: .wav")
  p.add_argument("--images", default=None, help="a file of compress --images: the PNGs' folder")
  p.add_argument("--max-elements", type=int, default=1 << 28,
                 help="refuse files that decode to more elements than this (default 2**28)")
  p.set_defaults(func=_cmd_decompress)

  p = sub.add_parser("compile", help="compile a config for a TPU slice without TPUs: fits, memory, roofline",
                     epilog="Any --config.FIELD=VALUE overrides a config field, as for train.")
  p.add_argument("--config", required=True, help="experiments/configs/<name>.py[:arg]")
  p.add_argument("--topology", required=True, help="e.g. v5e:2x4, v4:2x2x4, or an accelerator type v4-32")
  p.add_argument("--batch", type=int, default=None, help="global train batch (default: train.batch_size)")
  p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None, help="default: model.dtype")
  p.add_argument("--what", choices=("train", "eval", "sample", "all"), default="all")
  p.add_argument("--json", action="store_true", help="also print one JSON object as the last line")
  p.set_defaults(func=_cmd_compile)
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
  except FloatingPointError as e:
    from armodels_jax.training import trainer  # pylint: disable=g-import-not-at-top

    if not isinstance(e, trainer.TrainingDivergedError):
      raise
    print(f"{PROG} {args.command}: error: {_message(e)}", file=sys.stderr)
    return EXIT_DIVERGED
  print(f"{PROG} {args.command}: error: {msg}", file=sys.stderr)
  return EXIT_USAGE


if __name__ == "__main__":
  sys.exit(main())
