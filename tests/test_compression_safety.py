"""Compressed files from others: crafted headers (their CRC-32s recomputed, as anyone can) are
refused before anything is allocated, every failure is a ValueError, the CLI says so in one line with
status 2, and random damage never returns data (a seeded fuzz). Also the decoder's information budget:
it never refuses a valid stream, even of the least probable symbols."""

import os
import subprocess
import sys
import tracemalloc
import zlib
from unittest import mock

import jax
import numpy as np
import pytest

import armodels_jax as arm
from armodels_jax import cli
from armodels_jax import compression
from armodels_jax import workflows
from armodels_jax.compression import coder
from armodels_jax.compression import file_format
from armodels_jax.sampling import decode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FVSBN = os.path.join(ROOT, "pretrained", "fvsbn_binarized_mnist")
BIG = 16 << 20  # bytes: what a refusal may allocate (the crafted headers ask for up to 3 PiB)


@pytest.fixture(scope="module")
def coded():
  """A tiny FVSBN (random weights of scale 0.5: about a bit per symbol), 5 examples, a valid file,
  decoded once so the compiled step is warm for the timed cases."""
  model = arm.models.create("fvsbn", event_shape=(6,), num_levels=2, size="tiny")
  shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 6), np.int32))["params"]
  rng = np.random.default_rng(1)
  params = jax.tree.map(lambda s: (0.5 * rng.standard_normal(s.shape)).astype(s.dtype), shapes)
  variables = {"params": params}
  x = rng.integers(0, 2, size=(5, 6)).astype(np.int32)
  data = compression.compress(model, variables, x, batch_size=5)
  np.testing.assert_array_equal(compression.decompress(model, variables, data), x)
  return model, variables, x, data


def craft(data: bytes, **fields) -> bytes:
  """``data`` with header fields replaced and every CRC-32 recomputed where it covers them."""
  head = dict(compression.read_header(data), **fields)
  payload = head["payload"]
  header = file_format.pack_header(
      head["model"], head["scheme"], head["fingerprint"], head["cond_crc"], head["chunk"],
      head["count"], head["event_shape"], head["lengths"], head["data_crc"],
      zlib.crc32(payload))
  return header + payload


def refused(model, variables, blob, match, **kwargs):
  """Decompresses expecting ValueError(match); returns (symbols decoded, peak traced bytes).

  The work a refusal costs is counted in symbols the range decoder produced (deterministic), not in
  seconds (the project's rule: no timed tests; under load, compiling alone takes seconds)."""
  decoded = []
  original = coder.Decoder.decode

  def counting(self, counts):
    decoded.append(len(counts))
    return original(self, counts)

  tracemalloc.start()
  try:
    with mock.patch.object(coder.Decoder, "decode", counting):
      with pytest.raises(ValueError, match=match):
        compression.decompress(model, variables, blob, **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  return sum(decoded), peak


@pytest.mark.parametrize("fields, match", [
    (dict(count=2 ** 40), r"over the limit of max_elements=268,435,456; .*--max-elements"),
    (dict(chunk=2 ** 30), r"chunk size 1,073,741,824 exceeds its count of 5"),
    (dict(event_shape=(2 ** 40,)), r"max_elements"),
    (dict(count=2 ** 22), r"end before the symbols the header announces"),
])
def test_crafted_header_is_refused_fast_and_small(coded, fields, match):
  model, variables, _, data = coded
  blob = craft(data, **fields)
  assert compression.read_header(blob)["count"] == fields.get("count", 5)  # the craft took
  symbols, peak = refused(model, variables, blob, match)
  # The work is paid for by the payload, not by the header's claim (2**22 x 6 symbols): at about a
  # bit per symbol, the payload's bits and the coder's 64-bit state buy a few hundred symbols at most.
  payload_bits = 8 * len(compression.read_header(blob)["payload"])
  assert symbols <= 4 * (payload_bits + coder.STATE_BITS), (symbols, payload_bits)
  assert peak < BIG, peak  # nothing sized by the header's claim (2**22 x 6 int32 alone is 100 MB)


def test_max_elements_names_the_limit_and_can_be_raised(coded):
  model, variables, x, data = coded
  with pytest.raises(ValueError, match=r"30 elements .* over the limit of max_elements=29"):
    compression.decompress(model, variables, data, max_elements=29)
  # The decode state of one chunk (caches, canvas, plan) counts against the same limit.
  state = coder.state_elements(model, variables["params"], 5, None)
  assert state > 30
  with pytest.raises(ValueError, match=r"decode state of [\d,]+ elements, over the limit"):
    compression.decompress(model, variables, data, max_elements=state - 1)
  np.testing.assert_array_equal(
      compression.decompress(model, variables, data, max_elements=state), x)
  for bad in (0, -1, 2.5, True):
    with pytest.raises(ValueError, match="max_elements a positive int"):
      compression.decompress(model, variables, data, max_elements=bad)


def test_state_elements_counts_what_the_loop_allocates(coded):
  model, variables, _, _ = coded
  batch = 3
  decoder = model.clone(decode=True)
  prefix = np.zeros((batch, model.num_dims), np.int32)
  order, kwargs, canvas = decode.plan(model, variables, coder.plan_key(), prefix, 0, None)
  cache = decode.init_cache(decoder, batch, None, kwargs)
  real = sum(np.size(a) for a in jax.tree_util.tree_leaves((order, canvas, cache)))
  assert decode.state_elements(model, variables, batch, key=coder.plan_key()) == real
  from armodels_jax.sampling import samplers
  assert samplers._plan is decode.plan and samplers.init_cache is decode.init_cache  # shared


def test_the_range_decoder_errors_are_value_errors():
  """constriction's own failures (an AssertionError once it decodes past the data: "compressed data
  that is invalid for the employed entropy model") and a payload of part of a word are ValueErrors;
  with the information budget on, every stream read past its end stops (at the budget, or at the
  library's check where that comes first)."""
  with pytest.raises(ValueError, match="whole 4-byte words"):
    coder.Decoder(b"\x01\x02\x03")
  stopped = {"range decoder stopped": 0, "end before": 0}
  for budget in (False, True):
    for seed in range(40):
      rng = np.random.default_rng(seed)
      counts = coder.quantize(rng.dirichlet(np.full(2, 0.3), size=3000))
      enc = coder.Encoder()
      enc.encode(rng.integers(0, 2, 20), counts[:20])
      dec = coder.Decoder(enc.payload())
      if not budget:
        dec.budget_bits = float("inf")
      with pytest.raises(ValueError) as caught:
        for i in range(0, 3000, 10):
          dec.decode(counts[i:i + 10])
        raise ValueError("range decoder stopped: never (read 3000 symbols)")
      for key in stopped:
        stopped[key] += key in str(caught.value) and "never" not in str(caught.value)
      assert "never" not in str(caught.value) or not budget  # with the budget, every stream stops
  assert stopped["range decoder stopped"] >= 3 and stopped["end before"] >= 3, stopped


@pytest.mark.parametrize("seed", range(4))
def test_budget_never_refuses_a_valid_stream(seed):
  """Symbols of every probability, the least probable (one count in 2**24) included, each alphabet
  size from 2 to 600: the decoder's information bound stays under the payload's bits plus 64."""
  rng = np.random.default_rng(seed)
  levels = int(rng.integers(2, 600))
  n = 3000
  probs = rng.dirichlet(np.full(levels, 0.05), size=n)  # sharp: many one-count levels
  counts = coder.quantize(probs)
  pick = rng.integers(0, 3, n)
  symbols = np.where(pick == 0, counts.argmin(-1), np.where(
      pick == 1, counts.argmax(-1), rng.integers(0, levels, n))).astype(np.int32)
  enc = coder.Encoder()
  for i in range(0, n, 100):
    enc.encode(symbols[i:i + 100], counts[i:i + 100])
  payload = enc.payload()
  dec = coder.Decoder(payload)
  out = np.concatenate([dec.decode(counts[i:i + 100]) for i in range(0, n, 100)])
  np.testing.assert_array_equal(out, symbols)
  bits = 8 * len(payload)
  assert dec.spent_bits <= bits + coder.STATE_BITS
  assert dec.spent_bits > 0.9 * bits - 200  # and the bound is not vacuous


def test_fuzz_random_damage_never_returns_data(coded):
  """Seeded: every truncation, 120 single-bit flips, 60 random byte strings and 60 valid headers
  followed by random bytes. Each is a ValueError; none returns data."""
  model, variables, _, data = coded
  rng = np.random.default_rng(909)
  cases = [data[:n] for n in range(len(data))]
  for _ in range(120):
    flipped = bytearray(data)
    bit = int(rng.integers(0, 8 * len(data)))
    flipped[bit // 8] ^= 1 << (bit % 8)
    cases.append(bytes(flipped))
  cases += [rng.bytes(int(rng.integers(1, 200))) for _ in range(60)]
  header_len = len(data) - len(compression.read_header(data)["payload"])
  cases += [data[:header_len] + rng.bytes(4 * int(rng.integers(0, 8))) for _ in range(60)]
  for blob in cases:
    with pytest.raises(ValueError):
      compression.decompress(model, variables, blob)
  assert len(cases) == len(data) + 240


def test_cli_refuses_a_crafted_file_in_one_line(tmp_path, capsys):
  x = np.zeros((2, 28, 28), np.uint8)
  x[:, 8:20, 12:15] = 1
  np.savez(tmp_path / "x.npz", x=x)
  arm_file, out = tmp_path / "x.arm", tmp_path / "y.npz"
  assert cli.main(["compress", "--workdir", FVSBN, "--npz", str(tmp_path / "x.npz"), "--out",
                   str(arm_file)]) == 0
  capsys.readouterr()
  bomb = tmp_path / "bomb.arm"
  bomb.write_bytes(craft(arm_file.read_bytes(), count=2 ** 40))
  loads = []
  original = workflows.restore_workdir
  with mock.patch.object(workflows, "restore_workdir", lambda *a, **k: loads.append(a) or original(*a, **k)):
    rc = cli.main(["decompress", "--workdir", FVSBN, "--in", str(bomb), "--out", str(out)])
  _, err = capsys.readouterr()
  assert rc == 2 and len(err.strip().splitlines()) == 1, err
  assert "max_elements" in err and "--max-elements" in err
  assert not loads and not out.exists()  # refused from the header: the checkpoint was never loaded
  # The flag: a limit below the valid file's 2 x 784 elements refuses it, the default reads it.
  rc = cli.main(["decompress", "--workdir", FVSBN, "--in", str(arm_file), "--out", str(out),
                 "--max-elements", "1000"])
  _, err = capsys.readouterr()
  assert rc == 2 and "1,568 elements" in err and len(err.strip().splitlines()) == 1, err


def test_cli_crafted_file_exit_status_in_a_process(tmp_path):
  """The console entry in a fresh process: status 2, one line on stderr, no traceback."""
  blob = tmp_path / "bomb.arm"
  # A valid FVSBN header (any fingerprint: the limit is checked before the model is compared).
  blob.write_bytes(file_format.pack_header("fvsbn", 0, b"\0" * 8, 0, 1, 2 ** 40, (28, 28, 1), None,
                                           0, 0))
  env = dict(os.environ, PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "-m", "armodels_jax.cli", "decompress", "--workdir", FVSBN,
                         "--in", str(blob), "--out", str(tmp_path / "y.npz")],
                        capture_output=True, text=True, env=env, timeout=120, check=False)
  assert proc.returncode == 2, proc.stderr
  lines = [l for l in proc.stderr.strip().splitlines() if "max_elements" in l or "Traceback" in l]
  assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
