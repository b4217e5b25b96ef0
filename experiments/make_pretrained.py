r"""Ships a trained run as ``pretrained/<name>/``: exports its evaluation parameters and measures it.

The manifest records the config file, the data, the steps, the wall time (from metrics.jsonl), the
machine, the validation NLL on the first 500 validation images (what the test re-checks, to 0.5 nats)
and on all of them (``--full-valid``), the published number, the run's learning curve (``valid_curve``:
step, validation NLL, images, for every evaluation logged in training), and the sha256 of every file.
The parameters are stored as the model's ``export_params`` gives them: the same function, with the
entries that no computation reads set to zero where the model knows them (MADE's masked-out weights),
so that the checkpoint compresses.

  python experiments/make_pretrained.py --workdir runs/nade --name nade_binarized_mnist \
      --config experiments/configs/nade_binarized_mnist.py [--best] [--full-valid] [--force]

``--best`` ships the kept checkpoint with the lowest validation NLL logged during training (early
stopping after the fact; the papers also selected by validation), else the latest.

Shipping also regenerates the package's index of manifests (``armodels_jax/pretrained_index.json``, what
an install from a wheel downloads by); ``python experiments/make_pretrained.py --index`` regenerates it
alone (``tests/test_pretrained_download.py`` checks that it is in sync with ``pretrained/``).

No shipped file names a path of the machine that trained it (:func:`portable`): a path inside the
repository is written relative to it (``pretrained/nade_k_binarized_mnist``), the stored data relative to
it as well (``../shared/data/...``, the default place of local data), and a training run relative to the
folder that held the runs (``--runs-root``, default the parent of ``--workdir``), as
``$RUNS/<run>``. ``python experiments/make_pretrained.py --portable-all --runs-root DIR`` rewrites every
shipped checkpoint so (its manifest's hashes and sizes recomputed) and regenerates the index.
"""

from __future__ import annotations

import argparse
import ast
import base64
import datetime
import json
import os
import platform
import shutil
import sys

import jax
import numpy as np

from armodels_jax import checkpointing
from armodels_jax import data
from armodels_jax import inference
from armodels_jax import param_storage
from armodels_jax import pretrained
from armodels_jax import training

FIRST = 500  # Validation images the shipped-checkpoint test re-evaluates.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine() -> str:
  dev = jax.devices()[0]
  if dev.platform == "cpu":
    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
  return f"{dev.platform.upper()} {dev.device_kind}"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--index", action="store_true",
                      help="only regenerate armodels_jax/pretrained_index.json from pretrained/")
  parser.add_argument("--workdir", help="a finished training workdir")
  parser.add_argument("--name", help="pretrained/<name>")
  parser.add_argument("--config", help="the config file the run used (for the record)")
  parser.add_argument("--eval-override", action="append", default=[], metavar="KEY=VALUE",
                      help="a model option changed for evaluation that keeps the parameters, e.g. "
                      "num_orderings=16 (a smaller ensemble)")
  parser.add_argument("--best", action="store_true", help="ship the checkpoint with the best valid NLL")
  parser.add_argument("--full-valid", action="store_true", help="also evaluate all validation images")
  parser.add_argument("--force", action="store_true", help="replace an existing pretrained/<name>")
  parser.add_argument("--storage", choices=param_storage.TYPES, default="float32",
                      help="the type the weights are stored in (armodels_jax/param_storage.py): bfloat16 "
                      "or int8 for a smaller file; the manifest's numbers are those of the stored values")
  parser.add_argument("--batch-size", type=int, default=250)
  parser.add_argument("--runs-root", help="the folder that holds the runs (recorded as $RUNS); default: "
                      "the parent of --workdir")
  parser.add_argument("--check-all", action="store_true",
                      help="only (re)write every shipped checkpoint's `check` record (default evaluation "
                      "of its first validation examples)")
  parser.add_argument("--portable-all", action="store_true",
                      help="only rewrite the machine-local paths of every shipped checkpoint (portable)")
  args = parser.parse_args(argv)
  if args.check_all:
    for name in sorted(pretrained.write_index()):
      path = os.path.join(pretrained.directory(), name)
      manifest = checkpointing.read_json(os.path.join(path, pretrained.MANIFEST_FILE))
      manifest["check"] = check_record(path)
      checkpointing.write_json(os.path.join(path, pretrained.MANIFEST_FILE), manifest)
      print(name, manifest["check"]["nll_nats"], flush=True)
    pretrained.write_index()
    return 0
  if args.portable_all:
    if not args.runs_root:
      parser.error("--portable-all needs --runs-root (the folder the shipped runs were trained under)")
    names = sorted(pretrained.write_index())
    for name in names:
      portable(os.path.join(pretrained.directory(), name), args.runs_root)
    print(f"rewrote {len(names)} checkpoints; wrote {pretrained.INDEX_FILE} ({len(pretrained.write_index())})")
    return 0
  if args.index:
    print(f"wrote {pretrained.INDEX_FILE} ({len(pretrained.write_index())} checkpoints)")
    return 0
  if not (args.workdir and args.name and args.config):
    parser.error("--workdir, --name and --config are required (or --index)")

  out = os.path.join(pretrained.directory(), args.name)
  warm_start = _warm_start(args.workdir)  # Read before `out` is replaced: it may be the source.
  if os.path.exists(out):
    if not args.force:
      print(f"{out} exists (use --force)", file=sys.stderr)
      return 2
    shutil.rmtree(out)
  overrides = {}
  for item in args.eval_override:
    key, _, value = item.partition("=")
    overrides[key] = ast.literal_eval(value)
  step = training.best_step(args.workdir) if args.best else checkpointing.latest_step(os.path.abspath(args.workdir))
  trained_model, trained, cfg = training.restore(args.workdir, step)
  if overrides:
    trained_model = trained_model.clone(**overrides)
  # Exported first, then measured as every reader reads it (inference.load): with a smaller storage
  # type, the numbers are those of the stored values.
  pretrained.export(args.workdir, out, step=step, model_overrides=overrides, storage=args.storage)
  try:
    info = _measure(args, out, cfg, step, trained_model, trained)
  except BaseException:
    shutil.rmtree(out)
    raise
  if warm_start:
    info["warm_start"] = warm_start
  result = checkpointing.read_json(os.path.join(out, pretrained.MANIFEST_FILE))
  result.update(info)
  checkpointing.write_json(os.path.join(out, pretrained.MANIFEST_FILE), result)
  result = portable(out, args.runs_root or os.path.dirname(os.path.abspath(args.workdir)))
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
  print(json.dumps({k: v for k, v in result.items() if k != "files"}, indent=2))
  print(f"wrote {out} ({size / 1e6:.1f} MB)")
  pretrained.write_index()
  print(f"updated {pretrained.INDEX_FILE}")
  return 0


def _measure(args, out: str, cfg, step: int, trained_model, trained: dict) -> dict:
  """The manifest's record of the checkpoint exported to `out`, measured as it is read back; with a
  smaller storage type, also the float32 parameters on the same images (what the type costs)."""
  model, variables, _ = inference.load(out)
  ds = data.load(cfg.data.name, **training.data_options(cfg))
  valid = ds.valid if ds.valid is not None else ds.test
  split = "valid" if ds.valid is not None else "test"
  # A stateful model (char-RNN) reads the split as one stream with its state carried, as `armodels eval
  # --batch-size 1` does: the text's likelihood, not that of windows cut from it.
  stream = bool(getattr(model, "stateful", False))
  evaluate = lambda x, m=model, v=variables: training.evaluate(  # noqa: E731
      m, v, x, batch_size=1 if stream else args.batch_size, stream=stream)
  first = evaluate(valid[:FIRST])
  info = {
      "config": os.path.relpath(os.path.abspath(args.config), REPO),
      "data": f"{cfg.data.name} ({split} split)",
      "steps": step,
      "steps_trained": checkpointing.latest_step(os.path.abspath(args.workdir)),
      "batch_size": int(cfg.train.batch_size),
      "train_wall_seconds": training.train_wall_seconds(args.workdir),
      "machine": machine(),
      "date": datetime.date.today().isoformat(),
      f"{split}_first{FIRST}_nll_nats": first["nll_nats"],
  }
  # The learning curve: every validation record of the run, [step, NLL in nats, images evaluated].
  info["valid_curve"] = training.valid_curve(args.workdir)
  if args.storage != "float32":  # the float32 parameters the stored ones were converted from
    full_precision = {"params": trained_model.export_params(trained["params"])}
    reference = evaluate(valid[:FIRST], trained_model, full_precision)["nll_nats"]
    info[f"{split}_first{FIRST}_nll_nats_float32"] = reference
    info["param_storage_cost_nats"] = first["nll_nats"] - reference
  if stream:
    info["evaluation"] = "one stream, the model's state carried from window to window"
  module = training.load_config_module(args.config, os.path.basename(args.config))
  if hasattr(module, "PUBLISHED_TEST_NLL"):
    info["published_test_nll_nats"] = module.PUBLISHED_TEST_NLL
  if args.full_valid:
    full = evaluate(valid)
    info[f"{split}_nll_nats"], info[f"{split}_n"] = full["nll_nats"], full["n"]
  info["check"] = check_record(out, valid)
  return info


def _warm_start(workdir: str, _seen: frozenset = frozenset()) -> dict | None:
  """Where a run warm-started from (``train.init_from``), with the source's own training record, or
  None: an export's from its manifest (steps, wall time, date, its own warm start); a training run's
  from its workdir (``init_from`` reads its newest checkpoint: that step, the wall time of its metrics,
  and the run's own warm start, in turn), so the table counts the steps of the whole chain."""
  source = training.warm_start_source(workdir)
  if not source:
    return None
  record = {"from": source}
  manifest = os.path.join(source, "manifest.json")
  if os.path.isfile(manifest):
    m = checkpointing.read_json(manifest)
    record.update({f"source_{k}": m[k] for k in ("steps", "steps_trained", "train_wall_seconds", "date",
                                                   "warm_start") if k in m})
  elif (step := checkpointing.latest_step(source)) is not None:
    record.update(source_steps=step, source_steps_trained=step)
    wall = training.train_wall_seconds(source)
    if wall:
      record["source_train_wall_seconds"] = wall
    inner = (None if os.path.abspath(source) in _seen  # A chain that loops ends here.
             else _warm_start(source, _seen | {os.path.abspath(workdir)}))
    if inner:
      record["source_warm_start"] = inner
  return record


CHECK_EXAMPLES = 4  # Validation examples whose default evaluation the manifest records (``check``).


def check_record(out: str, valid: np.ndarray | None = None) -> dict:
  """The manifest's ``check``: the first :data:`CHECK_EXAMPLES` validation examples, stored in the
  manifest (binary images bit-packed, row-major, base64; sequences as integer lists), and the NLL in nats
  of each under the checkpoint's default evaluation (``arm.pretrained.load`` then ``arm.log_prob``: the
  shipped ensemble size included). ``tests/test_pretrained.py`` re-evaluates them on every machine, so
  the number a row states is the number its shipped checkpoint gives, without the data."""
  import armodels_jax as arm  # pylint: disable=g-import-not-at-top

  model, variables, _ = inference.load(out)
  if valid is None:
    with open(os.path.join(out, "config.json")) as f:
      cfg = training.config_from_json(f.read())
    ds = data.load(cfg.data.name, **training.data_options(cfg))
    valid = ds.valid if ds.valid is not None else ds.test
  x = np.asarray(valid[:CHECK_EXAMPLES]).reshape((CHECK_EXAMPLES,) + tuple(model.event_shape)).astype(np.int32)
  nll = [-float(v) for v in np.asarray(arm.log_prob(model, variables, x))]
  record = {"examples": f"the first {CHECK_EXAMPLES} of the validation split", "nll_nats": nll}
  if model.num_levels == 2:
    record["x_bits_b64"] = base64.b64encode(np.packbits(x.reshape(-1).astype(np.uint8))).decode("ascii")
  elif model.num_levels <= 256:  # one byte per element, row-major
    record["x_bytes_b64"] = base64.b64encode(x.reshape(-1).astype(np.uint8).tobytes()).decode("ascii")
  else:
    record["x"] = x.reshape(CHECK_EXAMPLES, -1).tolist()
  return record


def portable_path(path: str, runs_root: str) -> str:
  """`path` as a shipped file records it: relative to the repository when inside it or inside the
  stored data beside it (``../shared/...``), ``$RUNS/<relative path>`` under `runs_root`, else
  ``$RUNS/<basename>`` (a run kept elsewhere). Relative paths and '' are kept as they are."""
  if not path or not os.path.isabs(path):
    return path
  path = os.path.realpath(path) if os.path.exists(path) else os.path.normpath(path)  # links resolved
  for root, prefix in ((REPO, ""), (os.path.join(os.path.dirname(REPO), "shared"), "../shared/")):
    root = os.path.realpath(root)  # ../shared may be a link (a worktree's), as `path`'s links are resolved
    if path == root or path.startswith(root + os.sep):
      return prefix + os.path.relpath(path, root).replace(os.sep, "/")
  runs_root = os.path.normpath(os.path.abspath(runs_root))
  if path.startswith(runs_root + os.sep):
    return "$RUNS/" + os.path.relpath(path, runs_root).replace(os.sep, "/")
  return "$RUNS/" + os.path.basename(path)


def _portable_record(record: dict, runs_root: str) -> dict:
  """A manifest's ``warm_start`` record (and its chain of ``source_warm_start``) with portable paths."""
  record = dict(record)
  if "from" in record:
    record["from"] = portable_path(str(record["from"]), runs_root)
  if isinstance(record.get("source_warm_start"), dict):
    record["source_warm_start"] = _portable_record(record["source_warm_start"], runs_root)
  return record


def portable(out: str, runs_root: str) -> dict:
  """Rewrites the machine-local paths of the shipped checkpoint in `out`: ``config.json``'s
  ``data.path`` and ``train.init_from``, the manifest's ``warm_start`` chain, and orbax's
  ``commit_success.txt`` (which names the folder it was written to); then the manifest's hashes and
  sizes. Returns the manifest."""
  config_path = os.path.join(out, "config.json")
  cfg = checkpointing.read_json(config_path)
  for group, field in (("data", "path"), ("train", "init_from")):
    if isinstance(cfg.get(group), dict) and isinstance(cfg[group].get(field), str):
      cfg[group][field] = portable_path(cfg[group][field], runs_root)
  checkpointing.write_json(config_path, cfg)
  for folder, _, files in os.walk(out):
    if "commit_success.txt" in files:
      with open(os.path.join(folder, "commit_success.txt"), "w") as f:
        f.write("Checkpoint commit was successful to " + portable_path(folder, runs_root))
  manifest_path = os.path.join(out, pretrained.MANIFEST_FILE)
  manifest = checkpointing.read_json(manifest_path)
  if isinstance(manifest.get("warm_start"), dict):
    manifest["warm_start"] = _portable_record(manifest["warm_start"], runs_root)
  manifest["files"], manifest["sizes"] = checkpointing.describe_files(
      out, exclude=(pretrained.MANIFEST_FILE,))
  checkpointing.write_json(manifest_path, manifest)
  return manifest


if __name__ == "__main__":
  sys.exit(main())
