"""Lossless compression with the models' exact conditionals against standard tools.

    python experiments/bench_compress.py                       # the full runs (hours on a 2-core CPU)
    python experiments/bench_compress.py --mnist-count 1000    # the first 1,000 validation images
    python experiments/bench_compress.py --char-rnn-workdir runs/char_rnn_shakespeare
    python experiments/bench_compress.py --sets shakespeare --char-rnn-model char_rnn_shakespeare
    python experiments/bench_compress.py --sets fsdd --wavenet-workdir runs/wavenet_fsdd_16bit
    python experiments/bench_compress.py --sets mnist8 --mnist8-model pixelcnn_mnist
    python experiments/bench_compress.py --sets mnist8 --mnist8-count 1000 --no-model   # codecs only

The classical codecs are optional (``pip install -e .[bench]``: imagecodecs, zstandard, brotli,
pyppmd; ``apt-get install jbigkit-bin flac zpaq wavpack`` for the JBIG1, FLAC, ZPAQ and WavPack
tools): a missing one prints a row ``{"method": ..., "missing": ...}`` and the run goes on.

Data sets (``--data DIR``, default ``../shared/data``):

* binarized MNIST, the validation split (10,000 images): the shipped ``pixelcnn_pp_binarized_mnist``
  (``--mnist-model``, the lowest valid NLL among the shipped image models) through
  ``arm.compress`` in one file, against one 1-bit PNG per image (pillow, optimize=True), and zlib
  (level 9), bz2 (level 9) and lzma (preset 9 | extreme) of the bits packed 8 to a byte.
* tiny Shakespeare's last 10% (the char-RNN's validation text) coded as one stream by the char-RNN
  of ``--char-rnn-workdir`` (when given; a training workdir), against gzip, bzip2 and xz of the UTF-8
  bytes (the Python modules, highest levels). ``--char-rnn-model`` names a shipped char-RNN instead.
* FSDD test recordings: FLAC (soundfile) of the original 16-bit audio, one file per recording; a
  WaveNet row when ``--wavenet-workdir`` names a trained checkpoint (16-bit logistic mixture):
  all 300 recordings in ONE file, every sample of each recording (``arm.compress`` with
  ``lengths``: the recordings sorted by length and coded ``--wavenet-batch`` at a time, each to its
  own end), conditioned as the model was trained (the speaker label and the digit track of the
  workdir's data options; the digit track's last frame repeated over the samples after the last
  whole frame). 65,536 levels are coded in two stages (high byte, then low byte:
  ``compression.SCHEME_BLOCKS``). The NLL is over the same samples (full forward passes, the
  padding masked out).

* 8-bit MNIST (all 256 grey levels), the standard test file ``t10k`` (10,000 images, the raw bytes
  of the IDX file): the model of ``--mnist8-model`` (a shipped name) or ``--mnist8-workdir`` (a
  training workdir, its best checkpoint) encodes all of them into one file; the exact round trip is
  checked on the first ``--mnist8-decode-count`` images (a file of its own). Against it, the learned
  codecs of the literature (their papers' figures, not rerun: Bit-Swap 1.29, BB-ANS 1.48 bits/dim,
  Kingma, Abbeel & Ho 2019, "Bit-Swap: Recursive Bits-Back Coding for Lossless Compression with
  Hierarchical Latent Variables", ICML; the table of the authors' README, which also lists PNG 2.80
  and WebP 2.10 on the same data) and the classical codecs.

The classical codecs, each at its strongest setting, on the same bytes as the model:

* images (8-bit grey; binarized MNIST as 0/1 levels), both one file per image and all images tiled
  into one mosaic (a grid of ceil(sqrt(N)) columns, empty tiles zero; the arrangement most
  favourable to a 2-D codec): JPEG-XL lossless at effort 10 (libjxl's slowest, "glacier"), WebP
  lossless (quality 100, method 6; the grey levels given as R = G = B, which WebP's colour
  transforms code as one plane), JPEG-LS (lossless, ``NEAR = 0``), PNG at zlib level 9
  (imagecodecs; for bilevel images pillow's 1-bit PNG with ``optimize=True``), and for bilevel
  images JBIG1 (ITU-T T.82, jbigkit's ``pbmtojbg -q``: sequential, one stripe per image, the
  default adaptive template and typical prediction);
* byte streams (the images' bytes, text, 16-bit audio samples): zstd level 22 with long-distance
  matching (``--ultra -22 --long=27``), brotli quality 11 (window 2**24), PPMd variant I (pyppmd, the
  PPMd of zip and 7-Zip: Shkarin 2002, "PPM: one step to practicality", DCC) at order 6 with 16 MB
  (their default; order 32 was within 1% of it), ZPAQ's context-mixing method 5
  (the ``zpaq`` tool, ``a -m5``: one file in an archive, whose journal and name are counted), xz
  ``-9e``, and the older zlib/gzip and bz2 at level 9;
* audio: FLAC at its highest setting (``flac -8 -e -p``: exhaustive model and precision search), one
  file per recording (``--no-padding --no-seektable``: without them the tool reserves 8 KiB of padding
  per file), soundfile's FLAC at ``compression_level=1.0``, and WavPack lossless at its highest
  setting (``wavpack -hh -x6``: very high mode, the slowest extra processing), one file per recording.

Each codec row has its encode and decode speed in symbols (pixels, characters, samples) per second
and is checked to decode to its input; a command-line tool's times include starting the process
(one start per file: per-image JBIG1 and per-recording FLAC pay it 10,000 and 300 times).

Each model row has the model's NLL (``arm.log_prob``, full forward pass) in bytes beside the file
size, so the overhead of the coder is read off directly, and encode/decode speeds in symbols per
second (compilation excluded: a warm-up call compiles first). The decoded data are checked equal to
the input. Prints one JSON object per row and, with ``--out``, writes them all.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import importlib
import io
import json
import lzma
import math
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
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


# ---- The classical codecs, each at its strongest setting (optional libraries and tools). ----

BENCH_EXTRA = "pip install -e .[bench]"


def _module(name: str):
  """The module ``name``, or None when it is not installed (the row then says so)."""
  try:
    return importlib.import_module(name)
  except ImportError:
    return None


def _missing(dataset, method, what):
  return _row(dataset=dataset, method=method, missing=what)


def _timed(fn, *a):
  start = time.perf_counter()
  out = fn(*a)
  return out, time.perf_counter() - start


def _speed_row(dataset, method, symbols, size, enc, dec, **extra):
  return _row(dataset=dataset, method=method, symbols=int(symbols), bytes=int(size),
              bits_per_dim=round(8 * size / symbols, 5),
              encode_symbols_per_s=round(symbols / max(enc, 1e-9)),
              decode_symbols_per_s=round(symbols / max(dec, 1e-9)), **extra)


def _zpaq(raw: bytes) -> bytes:
  """ZPAQ's strongest method (``zpaq a -m5``: context mixing) on ``raw`` as one file ``d`` of an
  archive; the archive's bytes (its journal, the name and date included)."""
  with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "d"), "wb") as f:
      f.write(raw)
    subprocess.run(["zpaq", "a", "a.zpaq", "d", "-m5"], cwd=tmp, capture_output=True, check=True)
    with open(os.path.join(tmp, "a.zpaq"), "rb") as f:
      return f.read()


def _unzpaq(data: bytes) -> bytes:
  with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "a.zpaq"), "wb") as f:
      f.write(data)
    subprocess.run(["zpaq", "x", "a.zpaq", "-to", "out"], cwd=tmp, capture_output=True, check=True)
    with open(os.path.join(tmp, "out", "d"), "rb") as f:
      return f.read()


def stream_codecs():
  """``[(label, encode, decode, missing)]`` for byte streams: zstd 22 long mode, brotli 11, PPMd
  (order 6), zpaq -m5, xz -9e, bz2 -9, zlib -9. ``missing`` names what to install when the codec is
  absent (encode is then None)."""
  zstd = _module("zstandard")
  brotli = _module("brotli")
  out = []
  if zstd is None:
    out.append(("zstd --ultra -22 --long=27", None, None, f"zstandard ({BENCH_EXTRA})"))
  else:
    def zstd_encode(raw):
      params = zstd.ZstdCompressionParameters.from_level(22, source_size=len(raw), window_log=27,
                                                         enable_ldm=True)
      return zstd.ZstdCompressor(compression_params=params).compress(raw)

    out.append(("zstd --ultra -22 --long=27", zstd_encode,
                lambda b: zstd.ZstdDecompressor().decompress(b, max_output_size=1 << 31), None))
  if brotli is None:
    out.append(("brotli -q 11", None, None, f"brotli ({BENCH_EXTRA})"))
  else:
    out.append(("brotli -q 11", lambda raw: brotli.compress(raw, quality=11, lgwin=24),
                brotli.decompress, None))
  ppmd = _module("pyppmd")
  # Order 6 with 16 MB (the default of 7-Zip and pyppmd). Order 32 with 192 MB (7-Zip's -mx9) was
  # within 1% of it on the text, the FSDD samples and the binarized bits (2026-12-07), and failed its
  # round trip on the 8-bit MNIST bytes in pyppmd 1.3.1 (as did order 16).
  if ppmd is None:
    out.append(("PPMd var. I order 6, 16 MB", None, None, f"pyppmd ({BENCH_EXTRA})"))
  else:
    kw = dict(max_order=6, mem_size=16 << 20, variant="I")
    out.append(("PPMd var. I order 6, 16 MB", lambda raw: ppmd.compress(raw, **kw),
                lambda b: ppmd.decompress(b, **kw), None))
  if shutil.which("zpaq"):
    out.append(("zpaq -m5 (archive of one file)", _zpaq, _unzpaq, None))
  else:
    out.append(("zpaq -m5 (archive of one file)", None, None, "the zpaq tool (apt-get install zpaq)"))
  out += [("xz -9e", lambda raw: lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME), lzma.decompress,
           None),
          ("bz2 -9", lambda raw: bz2.compress(raw, 9), bz2.decompress, None),
          ("zlib -9", lambda raw: zlib.compress(raw, 9), zlib.decompress, None)]
  return out


def stream_rows(dataset, raw: bytes, symbols: int, what: str = ""):
  """Every byte-stream codec on ``raw`` (one stream), checked and timed."""
  rows = []
  for label, enc_fn, dec_fn, missing in stream_codecs():
    method = f"{label}{what}"
    if enc_fn is None:
      rows.append(_missing(dataset, method, missing))
      continue
    data, enc = _timed(enc_fn, raw)
    back, dec = _timed(dec_fn, data)
    if back != raw:
      raise SystemExit(f"{dataset} {method}: the round trip is not exact")
    rows.append(_speed_row(dataset, method, symbols, len(data), enc, dec))
  return rows


def _pbm(img: np.ndarray) -> bytes:
  h, w = img.shape
  return b"P4\n%d %d\n" % (w, h) + np.packbits(img.astype(np.uint8), axis=1).tobytes()


def _read_pbm(data: bytes) -> np.ndarray:
  fields, at = [], 0
  while len(fields) < 3:  # magic, width, height; '#' comments skipped
    while data[at:at + 1].isspace():
      at += 1
    if data[at:at + 1] == b"#":
      at = data.index(b"\n", at) + 1
      continue
    end = at
    while not data[end:end + 1].isspace():
      end += 1
    fields.append(data[at:end])
    at = end
  if fields[0] != b"P4":
    raise ValueError(f"expected a raw PBM (P4), got {fields[0]!r}")
  w, h = int(fields[1]), int(fields[2])
  bits = np.frombuffer(data, np.uint8, offset=at + 1, count=h * ((w + 7) // 8))
  return np.unpackbits(bits.reshape(h, -1), axis=1)[:, :w]


def image_codecs(bilevel: bool):
  """``[(label, encode(img) -> bytes, decode(bytes) -> img, missing)]`` for one 2-D uint8 image
  (0/1 levels when ``bilevel``, else 0..255)."""
  ic = _module("imagecodecs")
  out = []
  if ic is None:
    for label in ("JPEG-XL lossless effort 10", "WebP lossless q100 m6", "JPEG-LS lossless",
                  "PNG level 9 (imagecodecs)"):
      out.append((label, None, None, f"imagecodecs ({BENCH_EXTRA})"))
  else:
    out += [
        ("JPEG-XL lossless effort 10",
         lambda a: ic.jpegxl_encode(a, lossless=True, effort=10, numthreads=1), ic.jpegxl_decode, None),
        # WebP codes RGB(A) only: the grey plane as R = G = B (its subtract-green transform leaves
        # one plane to code).
        ("WebP lossless q100 m6",
         lambda a: ic.webp_encode(np.repeat(a[..., None], 3, -1), lossless=True, level=100, method=6),
         lambda b: ic.webp_decode(b)[..., 0], None),
        ("JPEG-LS lossless", ic.jpegls_encode, ic.jpegls_decode, None),
    ]
    if not bilevel:
      out.append(("PNG level 9 (imagecodecs)", lambda a: ic.png_encode(a, level=9), ic.png_decode,
                  None))
  if bilevel:
    from PIL import Image  # pylint: disable=g-import-not-at-top

    def png1(a):
      buf = io.BytesIO()
      Image.fromarray(a.astype(bool)).save(buf, format="PNG", optimize=True)
      return buf.getvalue()

    out.append(("PNG 1-bit (pillow, optimize)", png1,
                lambda b: np.asarray(Image.open(io.BytesIO(b))).astype(np.uint8), None))
    if shutil.which("pbmtojbg") and shutil.which("jbgtopbm"):
      def jbig(a):
        return subprocess.run(["pbmtojbg", "-q", "-s", str(a.shape[0])], input=_pbm(a),
                              capture_output=True, check=True).stdout

      def unjbig(b):
        return _read_pbm(subprocess.run(["jbgtopbm"], input=b, capture_output=True,
                                        check=True).stdout)

      out.append(("JBIG1 (pbmtojbg -q, one stripe)", jbig, unjbig, None))
    else:
      out.append(("JBIG1 (pbmtojbg -q, one stripe)", None, None,
                  "jbigkit's pbmtojbg/jbgtopbm (apt-get install jbigkit-bin)"))
  return out


def mosaic(x: np.ndarray) -> np.ndarray:
  """``[N, H, W]`` images tiled row-major into one ``[rows * H, cols * W]`` image, ``cols =
  ceil(sqrt(N))``; empty tiles are zero."""
  n, h, w = x.shape
  cols = math.ceil(math.sqrt(n))
  rows = -(-n // cols)
  tiles = np.zeros((rows * cols, h, w), x.dtype)
  tiles[:n] = x
  return tiles.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def image_rows(dataset, x: np.ndarray, bilevel: bool, skip=()):
  """Every image codec on ``x`` ``[N, H, W]`` uint8: one file per image, and one mosaic."""
  rows = []
  big = mosaic(x)
  for label, enc_fn, dec_fn, missing in image_codecs(bilevel):
    if any(s in label for s in skip):
      continue
    if enc_fn is None:
      rows.append(_missing(dataset, label, missing))
      continue
    files, enc = _timed(lambda: [enc_fn(img) for img in x])
    back, dec = _timed(lambda: [dec_fn(f) for f in files])
    if not all(np.array_equal(np.asarray(b).reshape(img.shape), img) for b, img in zip(back, x)):
      raise SystemExit(f"{dataset} {label}: the round trip is not exact")
    rows.append(_speed_row(dataset, f"{label}, one file per image", x.size,
                           sum(len(f) for f in files), enc, dec))
    data, enc = _timed(enc_fn, big)
    back, dec = _timed(dec_fn, data)
    if not np.array_equal(np.asarray(back).reshape(big.shape), big):
      raise SystemExit(f"{dataset} {label} (mosaic): the round trip is not exact")
    rows.append(_speed_row(dataset, f"{label}, one {big.shape[0]} x {big.shape[1]} mosaic",
                           x.size, len(data), enc, dec))
  return rows


def mnist(args):
  x = np.load(os.path.join(args.data, "binarized_mnist", "binarized_mnist.npz"))["valid"]
  x = x[:args.mnist_count].reshape(-1, 28, 28, 1).astype(np.int32)
  dataset = f"binarized MNIST valid, first {len(x)}" if len(x) < 10_000 else "binarized MNIST valid"
  u8 = x[..., 0].astype(np.uint8)
  rows = stream_rows(dataset, np.packbits(u8).tobytes(), x.size, ", bits packed 8 to a byte")
  rows += image_rows(dataset, u8, bilevel=True)
  if not args.no_model:
    model, variables = arm.pretrained.load(args.mnist_model)
    rows.append(model_row(dataset, f"{args.mnist_model} (arm.compress)", model, variables, x,
                          batch_size=args.batch_size))
  return rows


# Learned lossless codecs on 8-bit MNIST as their authors report them (not rerun here): the table of
# the Bit-Swap README (Kingma, Abbeel & Ho 2019, ICML; github.com/fhkingma/bitswap), bits/dim.
LITERATURE_MNIST8 = [("Bit-Swap (Kingma et al. 2019), reported", 1.29),
                     ("BB-ANS (Townsend et al. 2019), reported", 1.48)]


def load_mnist8_test(path: str) -> np.ndarray:
  """The 10,000 images of ``t10k-images-idx3-ubyte.gz`` as ``[N, 28, 28]`` uint8, the file's bytes."""
  with gzip.open(os.path.join(path, "t10k-images-idx3-ubyte.gz"), "rb") as f:
    raw = f.read()
  magic, n, h, w = struct.unpack(">4i", raw[:16])
  if magic != 2051 or len(raw) != 16 + n * h * w:
    raise SystemExit(f"{path}: not an IDX image file (magic {magic}, {len(raw)} bytes)")
  return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w)


def mnist8(args):
  x = load_mnist8_test(os.path.join(args.data, "mnist"))[:args.mnist8_count]
  dataset = "MNIST 8-bit t10k" + (f", first {len(x)}" if len(x) < 10_000 else "")
  rows = [_row(dataset=dataset, method=label, bits_per_dim=bpd, reported=True)
          for label, bpd in LITERATURE_MNIST8]
  if not args.no_codecs:
    rows += stream_rows(dataset, x.tobytes(), x.size)
    rows += image_rows(dataset, x, bilevel=False)
  if not args.no_model:
    rows.append(mnist8_model_row(args, dataset, x[..., None].astype(np.int32)))
  return rows


def mnist8_model_row(args, dataset, x):
  """All of ``x`` encoded into one file (timed after a warm-up); the exact round trip checked on the
  first ``--mnist8-decode-count`` images, compressed into a file of their own and decoded (timed)."""
  if args.mnist8_workdir:
    from armodels_jax import inference, training  # pylint: disable=g-import-not-at-top

    step = training.best_step(args.mnist8_workdir, latest_if_unlogged=True)
    model, variables, step = inference.load(args.mnist8_workdir, step)
    label = f"{args.mnist8_workdir} step {step} (arm.compress)"
  else:
    model, variables = arm.pretrained.load(args.mnist8_model)
    label = f"{args.mnist8_model} (arm.compress)"
  batch = args.batch_size
  _warm_up(model, variables, x, None, batch)
  data, enc = _timed(lambda: arm.compress(model, variables, x, batch_size=batch))
  k = min(args.mnist8_decode_count, len(x))
  part = arm.compress(model, variables, x[:k], batch_size=batch)
  if k < batch:  # A smaller chunk: compile the decode step at its size first.
    _warm_up(model, variables, x[:k], None, k)
  back, dec = _timed(lambda: arm.decompress(model, variables, part))
  if not np.array_equal(back, x[:k]):
    raise SystemExit(f"{label}: the round trip of the first {k} images is not exact")
  nll = _nll_bytes(model, variables, x)
  return _row(dataset=dataset, method=label, n=len(x), symbols=int(x.size), bytes=len(data),
              nll_bytes=round(nll, 1), overhead=round(len(data) / nll - 1, 5),
              nll_bits_per_dim=round(8 * nll / x.size, 5), bits_per_dim=round(8 * len(data) / x.size, 5),
              batch_size=batch, encode_seconds=round(enc, 1),
              encode_symbols_per_s=round(x.size / enc), decoded_exactly=f"first {k} images",
              decode_seconds=round(dec, 1), decode_symbols_per_s=round(x[:k].size / dec))


def shakespeare(args):
  with open(os.path.join(args.data, "tiny_shakespeare", "input.txt"), encoding="utf-8") as f:
    text = f.read()
  valid = text[int(len(text) * 0.9):]
  raw = valid.encode("utf-8")
  rows = stream_rows("tiny Shakespeare last 10%", raw, len(valid), ", UTF-8 bytes")
  if args.char_rnn_workdir or args.char_rnn_model:
    from armodels_jax import data, inference, training  # pylint: disable=g-import-not-at-top

    if args.char_rnn_model:
      model, variables = arm.pretrained.load(args.char_rnn_model)
      folder = (args.char_rnn_model if os.path.isdir(args.char_rnn_model)
                else os.path.join(arm.pretrained.directory(), args.char_rnn_model))
      label = f"{args.char_rnn_model} (arm.compress, one stream)"
    else:
      # The kept checkpoint with the lowest logged validation NLL (the newest when none is logged).
      step = training.best_step(args.char_rnn_workdir, latest_if_unlogged=True)
      model, variables, step = inference.load(args.char_rnn_workdir, step)
      folder, label = args.char_rnn_workdir, f"char-RNN step {step} (arm.compress, one stream)"
    vocab = inference.read_model_info(folder)["info"]["vocab"]
    ids = np.asarray(data.text.encode(valid, vocab), np.int32)[None]  # [1, T]: one stream
    model = model.clone(event_shape=(ids.shape[1],))
    rows.append(model_row("tiny Shakespeare last 10%", label, model, variables, ids, batch_size=1))
  return rows


def fsdd(args):
  import soundfile  # pylint: disable=g-import-not-at-top

  f = np.load(os.path.join(args.data, "fsdd", "fsdd.npz"))
  test = np.flatnonzero(f["is_test"])[:args.fsdd_count]
  dataset = f"FSDD test ({len(test)} recordings, 16-bit)"
  rate = int(f["sample_rate"])
  waves = [np.asarray(f["audio"][f["offsets"][i]:f["offsets"][i + 1]], np.int16) for i in test]
  samples = sum(len(w) for w in waves)

  def soundfile_flac(level):
    def encode():
      out = []
      for wave in waves:
        buf = io.BytesIO()
        kw = {} if level is None else {"compression_level": level}
        soundfile.write(buf, wave, rate, format="FLAC", subtype="PCM_16", **kw)
        out.append(buf.getvalue())
      return out
    return encode

  def soundfile_decode(files):
    return [soundfile.read(io.BytesIO(b), dtype="int16")[0] for b in files]

  def flac_cli():
    return [subprocess.run(["flac", "-8", "-e", "-p", "-s", "--no-padding", "--no-seektable",
                            "--force-raw-format", "--endian=little", "--sign=signed", "--channels=1",
                            "--bps=16", f"--sample-rate={rate}", "-c", "-"],
                           input=w.astype("<i2").tobytes(), capture_output=True,
                           check=True).stdout for w in waves]

  def flac_cli_decode(files):
    return [np.frombuffer(subprocess.run(["flac", "-d", "-s", "--force-raw-format", "--endian=little",
                                          "--sign=signed", "-c", "-"], input=b, capture_output=True,
                                         check=True).stdout, "<i2") for b in files]

  def wavpack_cli():
    return [subprocess.run(["wavpack", "-hh", "-x6", "-q", "-y", f"--raw-pcm={rate},16s,1,le", "-o",
                            "-", "-"], input=w.astype("<i2").tobytes(), capture_output=True,
                           check=True).stdout for w in waves]

  def wavpack_cli_decode(files):
    return [np.frombuffer(subprocess.run(["wvunpack", "-q", "--raw", "-y", "-", "-o", "-"], input=b,
                                         capture_output=True, check=True).stdout, "<i2")
            for b in files]

  codecs = [("FLAC (soundfile, default level)", soundfile_flac(None), soundfile_decode),
            ("FLAC (soundfile, compression_level=1.0)", soundfile_flac(1.0), soundfile_decode)]
  rows = []
  if shutil.which("flac"):
    codecs.append(("FLAC -8 -e -p (flac tool)", flac_cli, flac_cli_decode))
  else:
    rows.append(_missing(dataset, "FLAC -8 -e -p (flac tool)", "the flac tool (apt-get install flac)"))
  if shutil.which("wavpack") and shutil.which("wvunpack"):
    codecs.append(("WavPack -hh -x6 (wavpack tool)", wavpack_cli, wavpack_cli_decode))
  else:
    rows.append(_missing(dataset, "WavPack -hh -x6 (wavpack tool)",
                         "the wavpack tools (apt-get install wavpack)"))
  for label, enc_fn, dec_fn in codecs:
    files, enc = _timed(enc_fn)
    back, dec = _timed(dec_fn, files)
    if not all(np.array_equal(b, w) for b, w in zip(back, waves)):
      raise SystemExit(f"{dataset} {label}: the round trip is not exact")
    rows.append(_speed_row(dataset, f"{label}, one file per recording", samples,
                           sum(len(b) for b in files), enc, dec))
  rows += stream_rows(dataset, b"".join(w.astype("<i2").tobytes() for w in waves), samples,
                      ", the recordings' int16 bytes in one stream")
  if args.wavenet_workdir:
    rows.append(wavenet_row(args, dataset, samples))
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


def _portable_run(workdir: str) -> str:
  """The run as the results record it, the same on any machine (make_pretrained.portable_path)."""
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  from make_pretrained import portable_path  # pylint: disable=g-import-not-at-top
  workdir = os.path.abspath(workdir)
  return portable_path(workdir, os.path.dirname(workdir))


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
              workdir=_portable_run(args.wavenet_workdir),
              checkpoint_step=step, n=len(lengths),
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
  p.add_argument("--sets", default="mnist,mnist8,shakespeare,fsdd")
  p.add_argument("--mnist-count", type=int, default=10_000)
  p.add_argument("--mnist-model", default="pixelcnn_pp_binarized_mnist")
  p.add_argument("--mnist8-count", type=int, default=10_000, help="the first k t10k images")
  p.add_argument("--mnist8-model", default="pixelcnn_mnist", help="a shipped checkpoint")
  p.add_argument("--mnist8-workdir", default=None, help="a training workdir instead (best step)")
  p.add_argument("--mnist8-decode-count", type=int, default=500,
                 help="the first k images decoded to check the round trip")
  p.add_argument("--no-model", action="store_true", help="the codecs only (image data sets)")
  p.add_argument("--no-codecs", action="store_true", help="the model rows only (8-bit MNIST)")
  p.add_argument("--batch-size", type=int, default=500)
  p.add_argument("--char-rnn-workdir", default=None, help="a training workdir (its best step)")
  p.add_argument("--char-rnn-model", default=None,
                 help="a shipped char-RNN (e.g. char_rnn_shakespeare) instead of a workdir")
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
    rows += {"mnist": mnist, "mnist8": mnist8, "shakespeare": shakespeare, "fsdd": fsdd}[name](args)
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"machine": platform.machine(), "backend": jax.default_backend(), "rows": rows}, f,
                indent=1)


if __name__ == "__main__":
  main()
