"""experiments/bench_compress.py's codec helpers on a few tiny images: the mosaic layout, the PBM
reader, exact round trips through every installed codec, and a row saying what is missing (not a
crash) when a library is absent."""

import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
  spec = importlib.util.spec_from_file_location(
      "bench_compress", os.path.join(ROOT, "experiments", "bench_compress.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_mosaic_layout(bench):
  x = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3) + 1
  m = bench.mosaic(x)
  assert m.shape == (2 * 2, 3 * 3)  # ceil(sqrt(5)) = 3 columns, 2 rows of tiles
  np.testing.assert_array_equal(m[0:2, 3:6], x[1])
  np.testing.assert_array_equal(m[2:4, 3:6], x[4])
  np.testing.assert_array_equal(m[2:4, 6:9], 0)  # the empty tile


def test_pbm_round_trip(bench):
  rng = np.random.default_rng(0)
  img = rng.integers(0, 2, (5, 11)).astype(np.uint8)
  np.testing.assert_array_equal(bench._read_pbm(bench._pbm(img)), img)
  commented = b"P4\n# a comment\n11 5\n" + bench._pbm(img).split(b"\n", 2)[2]
  np.testing.assert_array_equal(bench._read_pbm(commented), img)
  with pytest.raises(ValueError, match="expected a raw PBM"):
    bench._read_pbm(b"P1\n1 1\n0")


@pytest.mark.parametrize("bilevel", [True, False])
def test_codec_rows_round_trip(bench, bilevel, capsys):
  rng = np.random.default_rng(1)
  x = rng.integers(0, 2 if bilevel else 256, (3, 8, 8)).astype(np.uint8)
  rows = bench.image_rows("tiny", x, bilevel=bilevel)
  rows += bench.stream_rows("tiny", x.tobytes(), x.size)
  capsys.readouterr()
  measured = [r for r in rows if "missing" not in r]
  assert any(r["method"].startswith("xz -9e") for r in measured)
  for r in measured:
    assert r["bytes"] > 0 and r["symbols"] == x.size
    assert r["bits_per_dim"] == pytest.approx(8 * r["bytes"] / x.size, abs=1e-4)
  if bilevel:
    assert any(r["method"].startswith("PNG 1-bit") for r in measured)


def test_missing_library_is_a_row(bench, monkeypatch, capsys):
  monkeypatch.setattr(bench, "_module", lambda name: None)
  monkeypatch.setattr(bench.shutil, "which", lambda name: None)
  rows = bench.stream_rows("tiny", b"abc" * 10, 30)
  missing = {r["method"]: r["missing"] for r in rows if "missing" in r}
  libraries = {"zstd --ultra -22 --long=27", "brotli -q 11", "PPMd var. I order 6, 16 MB"}
  assert set(missing) == libraries | {"zpaq -m5 (archive of one file)"}
  assert all("bench" in missing[k] for k in libraries)
  assert "apt-get install zpaq" in missing["zpaq -m5 (archive of one file)"]
  codecs = bench.image_codecs(bilevel=False)
  assert {label for label, enc, _, _ in codecs if enc is None} == {
      "JPEG-XL lossless effort 10", "WebP lossless q100 m6", "JPEG-LS lossless",
      "PNG level 9 (imagecodecs)"}
  capsys.readouterr()
