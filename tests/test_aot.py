"""armodels_jax.aot and `armodels compile`: TPU programs compiled on this CPU with libtpu's compiler.

They need libtpu (``pip install -e '.[tpu]'``, Linux x86_64). Without it they skip, except where
``ARMODELS_REQUIRE_TPU_COMPILE=1`` (CI sets it: ``.ci/run``), which turns the skip into a failure.
"""

import json
import os
import re

import jax
import pytest

from armodels_jax import aot
from armodels_jax import cli
from armodels_jax import training
from armodels_jax.layers import conv_ops

if not aot.tpu_available():
  if os.environ.get("ARMODELS_REQUIRE_TPU_COMPILE") == "1":
    raise RuntimeError("ARMODELS_REQUIRE_TPU_COMPILE=1 but libtpu is not installed: "
                       "pip install -e '.[tpu]' (make install does on Linux x86_64)")
  pytest.skip("libtpu is not installed (pip install -e '.[tpu]')", allow_module_level=True)

MADE_DIGITS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "experiments", "configs", "made_digits.py")


def _pixelcnn():
  cfg = training.default_config()
  cfg.model.name, cfg.model.size, cfg.data.name = "pixelcnn", "tiny", "digits"
  cfg.train.batch_size, cfg.train.eval_batch_size, cfg.train.num_samples = 8, 8, 4
  return cfg


def _made():
  cfg = training.default_config()
  cfg.model.name, cfg.model.size, cfg.data.name = "made", "tiny", "digits"
  return cfg


def _all_reduces(hlo: str) -> int:
  return len(re.findall(r"\ball-reduce(?:-start)?\(", hlo))


@pytest.fixture(scope="module")
def v5e_small():
  return aot.compile_config(_pixelcnn(), "v5e:2x2", batch=8, what="train", keep_hlo=True)


def test_single_host_slice_compiles_with_positive_figures(v5e_small):
  r = v5e_small
  assert (r.chips, r.hosts, r.chip.name, r.fits) == (4, 1, "v5e", True)
  p = r.programs["train"]
  assert p.argument_bytes > 0 and p.output_bytes > 0 and p.code_bytes > 0
  assert p.flops > 0 and p.bytes_accessed > 0 and p.roofline_s(r.chip) > 0
  d = r.as_dict()
  assert {"fits", "hbm_gib", "flops", "bytes", "step_s_roofline", "compile_s", "chips"} <= set(d)
  assert d["chips"] == 4 and d["per_chip_batch"] == 2


def test_memory_grows_with_the_batch():
  small = aot.compile_config(_made(), "v5e:2x2", batch=8, what="train").programs["train"]
  big = aot.compile_config(_made(), "v5e:2x2", batch=8 * 1024, what="train").programs["train"]
  assert big.temp_bytes > 0 and big.temp_bytes >= small.temp_bytes
  assert big.argument_bytes > small.argument_bytes
  assert big.total_bytes > small.total_bytes
  assert big.flops > small.flops


def test_gradient_is_reduced_over_data_once_per_step(v5e_small):
  # One pmean of (loss, grads) over 'data' in make_train_step: one all-reduce in the program, none
  # inside a loop.
  assert _all_reduces(v5e_small.programs["train"].hlo) == 1


def test_tpu_program_holds_xla_convolutions_not_the_cpu_rewrite(v5e_small):
  assert jax.default_backend() == "cpu" and conv_ops.default_method() == "matmul"
  with conv_ops.compiling_for("tpu"):
    assert conv_ops.default_method() == "xla"
  assert conv_ops.default_method() == "matmul"
  tpu_convs = v5e_small.programs["train"].lowered.count("stablehlo.convolution")
  conv_ops.set_default_method("matmul")  # What the TPU program held before: the host's rewrite.
  jax.clear_caches()
  try:
    rewritten = aot.compile_config(_pixelcnn(), "v5e:2x2", batch=8, what="train", keep_hlo=True)
  finally:
    conv_ops.set_default_method("auto")
    jax.clear_caches()
  cpu_convs = rewritten.programs["train"].lowered.count("stablehlo.convolution")
  # The tiny PixelCNN's first 7x7 layer (1 channel) and its 1x1 layers become products in the rewrite.
  assert tpu_convs > cpu_convs
  assert (rewritten.programs["train"].lowered.count("stablehlo.dot_general")
          > v5e_small.programs["train"].lowered.count("stablehlo.dot_general"))


def test_multi_host_topology_compiles_the_pod_program():
  r = aot.compile_config(_made(), "v4:2x2x4", batch=16, what="train", keep_hlo=True)
  assert (r.chips, r.hosts, r.chip.name, r.fits) == (16, 4, "v4", True)
  assert _all_reduces(r.programs["train"].hlo) == 1
  assert aot.compile_config(_made(), "v4-32", batch=16, what="eval").topology == "v4:2x2x4"


def test_absurd_batch_does_not_fit_and_a_smaller_one_is_found(capsys):
  absurd = 2 ** 26  # per chip
  r = aot.compile_config(_made(), "v5e:2x2", batch=4 * absurd, what="train")
  assert not r.fits and r.programs["train"].refused.startswith("RESOURCE_EXHAUSTED")
  assert 0 < r.max_per_chip_batch < absurd
  text = aot.format_report(r)
  assert re.search(r"does not fit: needs [\d.]+ GiB per chip of 16", text)
  assert f"largest per-chip batch that fits: {r.max_per_chip_batch}" in text
  fits = aot.compile_config(_made(), "v5e:2x2", batch=4 * r.max_per_chip_batch, what="train")
  assert fits.fits
  over = aot.compile_config(_made(), "v5e:2x2", batch=4 * (r.max_per_chip_batch + 1), what="train",
                            search=False)
  assert not over.fits


def test_cli_json_last_line(capsys):
  assert cli.main(["compile", "--config", MADE_DIGITS + ":tiny", "--topology", "v5e:2x2", "--what", "train",
                   "--json"]) == 0
  last = capsys.readouterr().out.strip().splitlines()[-1]
  d = json.loads(last)
  assert d["fits"] is True and d["chips"] == 4 and set(d["programs"]) == {"train"}
  assert d["hbm_gib"] > 0 and d["flops"] > 0 and d["bytes"] > 0 and d["step_s_roofline"] > 0


@pytest.mark.parametrize("args, match", [
    (["--topology", "v9:2x2"], r"expected a TPU topology CHIP:AxB\[xC\].*got 'v9:2x2'"),
    (["--topology", "v5e:2x2x2"], r"expected a v5e topology with 2 dimensions"),
    (["--topology", "v5e:2x4", "--batch", "12"], r"divisible by the 8 chips of v5e:2x4, got 12"),
])
def test_cli_bad_arguments_exit_2_with_one_line(capsys, args, match):
  assert cli.main(["compile", "--config", MADE_DIGITS + ":tiny", *args]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("armodels compile: error:")
  assert re.search(match, err[0])


def test_bad_arguments_raise_value_error():
  with pytest.raises(ValueError, match=r"expected what in"):
    aot.compile_config(_made(), "v5e:2x2", what="everything")
  with pytest.raises(ValueError, match=r"expected dtype 'float32' or 'bfloat16', got 'float16'"):
    aot.compile_config(_made(), "v5e:2x2", dtype="float16")


def test_compile_takes_config_overrides():
  args = cli._parse(["compile", "--config", "c.py:tiny", "--topology", "v5e:2x2",
                     "--config.train.batch_size=32", "--config.model.size=small"])
  assert args.overrides == ["train.batch_size=32", "model.size=small"]
  assert (args.topology, args.what, args.batch, args.json) == ("v5e:2x2", "all", None, False)


def test_loops_are_counted_because_xla_costs_a_loop_body_once():
  """Why `armodels_jax.hlo_cost` exists: XLA's cost analysis counts a while loop's body once, however
  many times it runs (checked here on the host's compiler; if XLA ever counts the trips, adding them
  would count them twice, and this test says so)."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  x = jnp.ones((64, 64), jnp.float32)
  once = jax.jit(lambda a: a @ a).lower(x).compile()
  looped = jax.jit(lambda a: jax.lax.fori_loop(0, 100, lambda i, b: b @ a, a)).lower(x).compile()
  assert aot.count_while_loops(once.as_text()) == 0
  assert aot.count_while_loops(looped.as_text()) == 1

  def flops(compiled):
    cost = compiled.cost_analysis()
    return (cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"]

  assert flops(looped) < 2 * flops(once), (flops(looped), flops(once))  # 100 products counted as one
