"""Lossless compression with the models' exact conditionals against standard tools.

    python experiments/bench_compress.py                       # the full runs (hours on a 2-core CPU)
    python experiments/bench_compress.py --mnist-count 1000    # the first 1,000 validation images
    python experiments/bench_compress.py --char-rnn-workdir runs/char_rnn_shakespeare
    python experiments/bench_compress.py --sets fsdd --wavenet-workdir runs/wavenet_fsdd_16bit

Data sets (``--data DIR``, default ``../shared/data``):

* binarized MNIST, the validation split (10,000 images): the shipped ``pixelcnn_pp_binarized_mnist``
  (``--mnist-model``, the lowest valid NLL among the shipped image models) through
  ``arm.compress`` in one file, against one 1-bit PNG per image (pillow, optimize=True), and zlib
  (level 9), bz2 (level 9) and lzma (preset 9 | extreme) of the bits packed 8 to a byte.
* tiny Shakespeare's last 10% (the char-RNN's validation text) coded as one stream by the char-RNN
  of ``--char-rnn-workdir`` (when given; a training workdir), against gzip, bzip2 and xz of the UTF-8
  bytes (the Python modules, highest levels).
* FSDD test recordings: FLAC (soundfile) of the original 16-bit audio, one file per recording; a
  WaveNet row when ``--wavenet-workdir`` names a trained checkpoint (16-bit logistic mixture):
  all 300 recordings in ONE file, every sample of each recording (``arm.compress`` with
  ``lengths``: the recordings sorted by length and coded ``--wavenet-batch`` at a time, each to its
  own end), conditioned as the model was trained (the speaker label and the digit track of the
  workdir's data options; the digit track's last frame repeated over the samples after the last
  whole frame). 65,536 levels are coded in two stages (high byte, then low byte:
  ``compression.SCHEME_BLOCKS``). The NLL is over the same samples (full forward passes, the
  padding masked out).

Each model row has the model's NLL (``arm.log_prob``, full forward pass) in bytes beside the file
size, so the overhead of the coder is read off directly, and encode/decode speeds in symbols per
second (compilation excluded: a warm-up call compiles first). The decoded data are checked equal to
the input. Prints one JSON object per row and, with ``--out``, writes them all.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import os
import platform
import time
import zlib

import jax
import numpy as np

import armodels_jax as arm

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def _row(**kw):
  print(json.dumps(kw), flush=True)
  return kw


def _nll_bytes(model, variables, x, cond=None, batch=500) -> float:
  total = 0.0
  for s in range(0, len(x), batch):
    c = None if cond is None else jax.tree.map(lambda a, s=s: a[s:s + batch], cond)
    total -= float(np.sum(np.asarray(arm.log_prob(model, variables, x[s:s + batch], c), np.float64)))
  return total / math.log(2) / 8


def _warm_up(model, variables, x, cond, batch_size: int, lengths=None) -> None:
  """Compiles the decode step, the coding stages and the plan for this batch size by a short round
  trip: the first batch of images; for sequences ``(T,)``, the first 8 steps of every row (through
  ``lengths``), so a row that is one long stream is not coded a whole extra time."""
  if len(model.event_shape) == 1:
    full = np.full(len(x), model.event_shape[0]) if lengths is None else lengths
    data = arm.compress(model, variables, x, cond, batch_size=batch_size, lengths=np.minimum(full, 8))
  else:
    x = x[:min(len(x), batch_size)]
    data = arm.compress(model, variables, x, cond, batch_size=batch_size)
  arm.decompress(model, variables, data, cond)


def _timed_round_trip(label, model, variables, x, cond, batch_size: int, lengths=None):
  """Compresses ``x`` (each row up to ``lengths`` when given) after a warm-up, decompresses it,
  checks the round trip is exact (zeros after each row's length) and returns
  ``(data, encode seconds, decode seconds)``."""
  _warm_up(model, variables, x, cond, batch_size, lengths)
  start = time.perf_counter()
  data = arm.compress(model, variables, x, cond, batch_size=batch_size, lengths=lengths)
  enc = time.perf_counter() - start
  start = time.perf_counter()
  y = arm.decompress(model, variables, data, cond)
  dec = time.perf_counter() - start
  expected = x if lengths is None else np.where(
      np.arange(x.shape[1])[None, :] < lengths[:, None], x, 0)
  if not np.array_equal(y, expected):
    raise SystemExit(f"{label}: the round trip is not exact")
  return data, enc, dec


def model_row(dataset, label, model, variables, x, cond=None, batch_size=256):
  """Compresses ``x``, checks the round trip and times both directions."""
  symbols = x.size
  data, enc, dec = _timed_round_trip(label, model, variables, x, cond, batch_size)
  nll = _nll_bytes(model, variables, x, cond)
  return _row(dataset=dataset, method=label, n=len(x), symbols=int(symbols), bytes=len(data),
              nll_bytes=round(nll, 1), overhead=round(len(data) / nll - 1, 5),
              bits_per_dim=round(8 * len(data) / symbols, 5),
              encode_symbols_per_s=round(symbols / enc), decode_symbols_per_s=round(symbols / dec))


def tool_rows(dataset, raw: bytes, symbols: int, extra=()):
  rows = []
  for label, size in [("zlib -9", len(zlib.compress(raw, 9))),
                      ("bz2 -9", len(bz2.compress(raw, 9))),
                      ("lzma -9e", len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))),
                      *extra]:
    rows.append(_row(dataset=dataset, method=label, symbols=symbols, bytes=size,
                     bits_per_dim=round(8 * size / symbols, 5)))
  return rows


def mnist(args):
  x = np.load(os.path.join(args.data, "binarized_mnist", "binarized_mnist.npz"))["valid"]
  x = x[:args.mnist_count].reshape(-1, 28, 28, 1).astype(np.int32)
  from PIL import Image  # pylint: disable=g-import-not-at-top

  png = 0
  for img in x:
    buf = io.BytesIO()
    Image.fromarray(img[..., 0].astype(bool)).save(buf, format="PNG", optimize=True)
    png += buf.getbuffer().nbytes
  dataset = f"binarized MNIST valid, first {len(x)}" if len(x) < 10_000 else "binarized MNIST valid"
  rows = tool_rows(dataset, np.packbits(x.astype(np.uint8)).tobytes(), x.size,
                   extra=[("PNG 1-bit, one file per image", png)])
  model, variables = arm.pretrained.load(args.mnist_model)
  rows.append(model_row(dataset, f"{args.mnist_model} (arm.compress)", model, variables, x,
                        batch_size=args.batch_size))
  return rows


def shakespeare(args):
  with open(os.path.join(args.data, "tiny_shakespeare", "input.txt"), encoding="utf-8") as f:
    text = f.read()
  valid = text[int(len(text) * 0.9):]
  raw = valid.encode("utf-8")
  rows = [_row(dataset="tiny Shakespeare last 10%", method=label, symbols=len(valid), bytes=size,
               bits_per_dim=round(8 * size / len(valid), 5))
          for label, size in [("gzip -9", len(gzip.compress(raw, 9))),
                              ("bzip2 -9", len(bz2.compress(raw, 9))),
                              ("xz -9e", len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)))]]
  if args.char_rnn_workdir:
    from armodels_jax import data, inference, training  # pylint: disable=g-import-not-at-top

    # The kept checkpoint with the lowest logged validation NLL (the newest when none is logged).
    step = training.best_step(args.char_rnn_workdir, latest_if_unlogged=True)
    model, variables, step = inference.load(args.char_rnn_workdir, step)
    vocab = inference.read_model_info(args.char_rnn_workdir)["info"]["vocab"]
    ids = np.asarray(data.text.encode(valid, vocab), np.int32)[None]  # [1, T]: one stream
    model = model.clone(event_shape=(ids.shape[1],))
    rows.append(model_row("tiny Shakespeare last 10%", f"char-RNN step {step} (arm.compress, one stream)",
                          model, variables, ids, batch_size=1))
  return rows


def fsdd(args):
  import soundfile  # pylint: disable=g-import-not-at-top

  f = np.load(os.path.join(args.data, "fsdd", "fsdd.npz"))
  test = np.flatnonzero(f["is_test"])[:args.fsdd_count]
  total, samples = 0, 0
  for i in test:
    wave = f["audio"][f["offsets"][i]:f["offsets"][i + 1]]
    buf = io.BytesIO()
    soundfile.write(buf, wave, int(f["sample_rate"]), format="FLAC", subtype="PCM_16")
    total += buf.getbuffer().nbytes
    samples += len(wave)
  rows = [_row(dataset=f"FSDD test ({len(test)} recordings, 16-bit)", method="FLAC (soundfile)",
               symbols=samples, bytes=total, bits_per_dim=round(8 * total / samples, 5))]
  if args.wavenet_workdir:
    rows.append(wavenet_row(args, f"FSDD test ({len(test)} recordings, 16-bit)", samples))
  return rows


def fsdd_test_recordings(workdir: str, path: str, step=None, count=None):
  """The FSDD test recordings whole (every sample) as a WaveNet of ``workdir`` reads them.

  Returns:
    ``(model, variables, step, x [R, T] int32 padded, lengths [R], cond)``: the checkpoint ``step``
    (default the newest), T the longest recording
    rounded up to the model's hop, the model cloned to that length; cond holds the run's labels
    and local track (the last whole frame's features repeated over a recording's tail).
  """
  from armodels_jax import inference  # pylint: disable=g-import-not-at-top
  from armodels_jax.data import audio  # pylint: disable=g-import-not-at-top
  from armodels_jax.data.dataset import make_cond  # pylint: disable=g-import-not-at-top

  model, variables, step = inference.load(workdir, step)
  info = inference.read_model_info(workdir)["info"]
  if info.get("kind") != "audio" or info.get("quantization") != "pcm16":
    raise SystemExit(f"{workdir}: expected a 16-bit (pcm16) audio run, got {info}")
  if info.get("features") not in (None, "digit"):
    raise SystemExit(f"{workdir}: features {info.get('features')!r}: only the digit track (or "
                     "none) can be extended over a recording's tail")
  hop = int(info["hop"])
  kw = dict(path=path, split="test", hop=hop, labels=info.get("labels"),
            quantization="pcm16", levels=int(info["levels"]), speakers=info.get("speakers_kept"),
            max_recordings=count)
  whole = audio.load_fsdd_recordings(features=None, **kw)
  lengths = np.array([len(r) for r in whole.levels])
  padded = int(-(-lengths.max() // hop) * hop)
  x = np.full((len(lengths), padded), 32768, np.int32)  # silence after each recording (not coded)
  for i, r in enumerate(whole.levels):
    x[i, :len(r)] = r
  feats = None
  if info.get("features"):
    framed = audio.load_fsdd_recordings(features=info["features"], **kw)
    if len(framed.features) != len(lengths):
      raise SystemExit("the framed and whole test recordings differ in number")
    feats = np.stack([np.concatenate([f, np.repeat(f[-1:], padded // hop - len(f), 0)])
                      for f in framed.features]).astype(np.float32)
  cond = make_cond(whole.labels, feats)
  return model.clone(event_shape=(padded,)), variables, step, x, lengths, cond


def _masked_nll_bytes(model, variables, x, lengths, cond, batch: int) -> float:
  """``-log2 p`` in bytes of the first ``lengths[i]`` samples of each row (full forward passes,
  rows sorted by length, each batch cut to its longest row rounded up to 4096 and the hop: few
  compilations)."""
  hop = int(getattr(model, "local_hop", 0) or 1)
  step = 4096 * hop // math.gcd(4096, hop)
  order = np.argsort(lengths, kind="stable")
  total = 0.0
  for s in range(0, len(order), batch):
    idx = order[s:s + batch]
    t = min(int(-(-lengths[idx].max() // step) * step), x.shape[1])
    sized = model.clone(event_shape=(t,))
    c = None if cond is None else jax.tree.map(
        lambda a, idx=idx, t=t: a[idx] if a.ndim < 3 else a[idx, :t // hop], cond)
    per_dim = np.asarray(arm.log_prob(sized, variables, x[idx, :t], c, reduce=False), np.float64)
    valid = np.arange(t)[None, :] < lengths[idx, None]
    total -= float(per_dim[valid].sum())
  if not math.isfinite(total):
    raise SystemExit(f"non-finite NLL {total}")
  return total / math.log(2) / 8


def wavenet_row(args, dataset: str, flac_samples: int):
  """Compresses the FSDD test recordings into one file with the WaveNet of ``--wavenet-workdir``,
  checks the round trip and times both directions."""
  from armodels_jax import compression  # pylint: disable=g-import-not-at-top

  model, variables, step, x, lengths, cond = fsdd_test_recordings(
      args.wavenet_workdir, os.path.join(args.data, "fsdd", "fsdd.npz"), args.wavenet_step,
      args.fsdd_count)
  symbols = int(lengths.sum())
  if symbols != flac_samples:
    raise SystemExit(f"the WaveNet row holds {symbols} samples, the FLAC row {flac_samples}")
  batch = args.wavenet_batch
  label = "WaveNet 16-bit (arm.compress, one file)"
  data, enc, dec = _timed_round_trip(label, model, variables, x, cond, batch, lengths)
  nll = _masked_nll_bytes(model, variables, x, lengths, cond, args.wavenet_nll_batch)
  head = compression.read_header(data)
  return _row(dataset=dataset, method=label,
              workdir=args.wavenet_workdir, checkpoint_step=step, n=len(lengths),
              symbols=symbols, bytes=len(data), header_bytes=len(data) - len(head["payload"]),
              nll_bytes=round(nll, 1), overhead=round(len(data) / nll - 1, 5),
              within_target=bool(len(data) <= 1.01 * nll + 32),
              nll_bits_per_dim=round(8 * nll / symbols, 5),
              bits_per_dim=round(8 * len(data) / symbols, 5), batch_size=batch,
              encode_symbols_per_s=round(symbols / enc), decode_symbols_per_s=round(symbols / dec),
              encode_seconds=round(enc, 1), decode_seconds=round(dec, 1))


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", default=DATA)
  p.add_argument("--sets", default="mnist,shakespeare,fsdd")
  p.add_argument("--mnist-count", type=int, default=10_000)
  p.add_argument("--mnist-model", default="pixelcnn_pp_binarized_mnist")
  p.add_argument("--batch-size", type=int, default=500)
  p.add_argument("--char-rnn-workdir", default=None)
  p.add_argument("--wavenet-workdir", default=None)
  p.add_argument("--wavenet-batch", type=int, default=300,
                 help="recordings coded together (sorted by length)")
  p.add_argument("--wavenet-nll-batch", type=int, default=25)
  p.add_argument("--wavenet-step", type=int, default=None, help="checkpoint (default: the newest)")
  p.add_argument("--fsdd-count", type=int, default=None, help="the first k test recordings only")
  p.add_argument("--out", default=None, help="write all rows as JSON here")
  args = p.parse_args()
  rows = []
  for name in args.sets.split(","):
    rows += {"mnist": mnist, "shakespeare": shakespeare, "fsdd": fsdd}[name](args)
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"machine": platform.machine(), "backend": jax.default_backend(), "rows": rows}, f,
                indent=1)


if __name__ == "__main__":
  main()
