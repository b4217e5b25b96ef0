"""Lossless compression with the models' exact conditionals against standard tools.

    python experiments/bench_compress.py                       # the full runs (hours on a 2-core CPU)
    python experiments/bench_compress.py --mnist-count 1000    # the first 1,000 validation images
    python experiments/bench_compress.py --char-rnn-workdir runs/char_rnn_shakespeare

Data sets (``--data DIR``, default ``../shared/data``):

* binarized MNIST, the validation split (10,000 images): the shipped ``pixelcnn_pp_binarized_mnist``
  (``--mnist-model``, the lowest valid NLL among the shipped image models) through
  ``arm.compress`` in one file, against one 1-bit PNG per image (pillow, optimize=True), and zlib
  (level 9), bz2 (level 9) and lzma (preset 9 | extreme) of the bits packed 8 to a byte.
* tiny Shakespeare's last 10% (the char-RNN's validation text) coded as one stream by the char-RNN
  of ``--char-rnn-workdir`` (when given; a training workdir), against gzip, bzip2 and xz of the UTF-8
  bytes (the Python modules, highest levels).
* FSDD test recordings: FLAC (soundfile) of the original 16-bit audio, one file per recording; a
  WaveNet row when ``--wavenet-workdir`` names a trained checkpoint (16-bit logistic mixture).

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


def model_row(dataset, label, model, variables, x, cond=None, batch_size=256):
  """Compresses ``x``, checks the round trip and times both directions."""
  warm = x[:min(len(x), batch_size)]
  arm.decompress(model, variables, arm.compress(model, variables, warm, cond, batch_size=batch_size),
                 cond)  # compiles the step for this batch size
  symbols = x.size
  start = time.perf_counter()
  data = arm.compress(model, variables, x, cond, batch_size=batch_size)
  enc = time.perf_counter() - start
  start = time.perf_counter()
  y = arm.decompress(model, variables, data, cond)
  dec = time.perf_counter() - start
  if not np.array_equal(y, x):
    raise SystemExit(f"{label}: the round trip is not exact")
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
  test = np.flatnonzero(f["is_test"])
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
    raise SystemExit("--wavenet-workdir: the per-recording WaveNet row is not written yet")
  return rows


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", default=DATA)
  p.add_argument("--sets", default="mnist,shakespeare,fsdd")
  p.add_argument("--mnist-count", type=int, default=10_000)
  p.add_argument("--mnist-model", default="pixelcnn_pp_binarized_mnist")
  p.add_argument("--batch-size", type=int, default=500)
  p.add_argument("--char-rnn-workdir", default=None)
  p.add_argument("--wavenet-workdir", default=None)
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
