"""The VQ-VAE network, its trainer and the two-stage CLI pipeline on the embedded 8x8 digits.

One module-scoped fixture trains a tiny VQ-VAE (3 steps) and a tiny PixelCNN prior over its 2x2 code
maps (2 steps) through ``armodels train``; the tests read those workdirs.
"""

import itertools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import armodels_jax as arm
from armodels_jax import cli, data, training
from armodels_jax.vqvae import codes as codes_lib
from armodels_jax.vqvae import model as model_lib
from armodels_jax.vqvae import pipeline
from armodels_jax.vqvae import train as vq_train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VQ_CONFIG = os.path.join(REPO, "experiments", "configs", "vqvae_mnist.py") + ":tiny"
PRIOR_CONFIG = os.path.join(REPO, "experiments", "configs", "vqvae_prior_mnist.py") + ":tiny"
DIGITS = ["--config.data.name=digits", "--config.data.path="]


@pytest.mark.parametrize("head", model_lib.HEADS)
def test_pixel_likelihood_is_normalised(head, key):
  """``p(x | z)`` sums to 1 over every 2x2 image with 3 levels, for a fixed code map."""
  model = model_lib.create((2, 2, 1), 3, "tiny", num_downsamples=1, head=head)
  shapes = jax.eval_shape(model.init, key, jnp.zeros((1, 2, 2, 1), jnp.int32))["params"]
  rng = np.random.default_rng(0)  # Any parameters: no compiled init needed.
  params = jax.tree.map(lambda s: jnp.asarray(rng.normal(0, 0.5, s.shape), jnp.float32), shapes)
  xs = jnp.asarray(list(itertools.product(range(3), repeat=4)), jnp.int32).reshape(-1, 2, 2, 1)
  z = jnp.full((xs.shape[0], 1, 1), 3, jnp.int32)
  logp = jax.jit(lambda p, x, z: model.apply({"params": p}, x, z, method=model.log_px_given_codes))(
      params, xs, z)  # [81]
  assert float(np.exp(np.asarray(logp, np.float64)).sum()) == pytest.approx(1.0, abs=1e-5)


def test_code_shapes_and_bad_options(key):
  model = model_lib.create((28, 28, 1), 256, "tiny")
  assert model.code_shape == (7, 7)
  x = jax.ShapeDtypeStruct((3, 28, 28, 1), jnp.int32)
  params = jax.eval_shape(model.init, key, x)["params"]  # Shapes only: nothing is compiled.
  assert params["codebook"].shape == (model.num_codes, model.embedding_dim)
  c = jax.eval_shape(lambda p, x: model.apply({"params": p}, x, method=model.codes), params, x)
  assert c.shape == (3, 7, 7) and c.dtype == jnp.int32
  out = jax.eval_shape(lambda p, x: model.apply({"params": p}, x), params, x)
  assert out["z_e"].shape == (3, 7, 7, model.embedding_dim) and out["log_px"].shape == (3,)
  raw = jax.eval_shape(lambda p, z: model.apply({"params": p}, z, method=model.decode_raw), params,
                       jax.ShapeDtypeStruct((3, 7, 7), jnp.int32))
  assert raw.shape == (3, 28, 28, model.pixel_head.pixel_params)
  with pytest.raises(ValueError, match="divisible by 4"):
    model_lib.create((10, 10, 1), 256, "tiny")
  with pytest.raises(ValueError, match="unknown VQ-VAE option"):
    model_lib.create((8, 8, 1), 17, "tiny", num_code=4)
  with pytest.raises(ValueError, match="codebook_mode"):
    model_lib.create((8, 8, 1), 17, "tiny", codebook_mode="kmeans")


def _cli(*argv):
  return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("vqvae")
  vq, prior = root / "vqvae", root / "prior"
  # The codebook-loss mode here (eq. 3); the EMA mode (the configs' default) trains in test_configs.
  assert _cli("train", "--config", VQ_CONFIG, "--workdir", vq, *DIGITS,
              "--config.train.num_steps=3", "--config.train.sample_every=0",
              "--config.model.overrides.codebook_mode=loss") == 0
  assert _cli("train", "--config", PRIOR_CONFIG, "--workdir", prior, f"--config.data.path={vq}",
              "--config.model.name=pixelcnn", "--config.train.sample_every=0") == 0
  return str(vq), str(prior)


def test_codes_dataset_records_the_vqvae(runs):
  vq, _ = runs
  ds = data.load("vqvae_codes", path=vq)
  model, params, _, step = vq_train.restore(vq)
  assert step == 3 and model.codebook_mode == "loss"
  assert ds.event_shape == (2, 2, 1) and ds.num_levels == model.num_codes
  images = data.load("digits")
  assert ds.train.shape == (images.train.shape[0], 2, 2, 1)
  np.testing.assert_array_equal(ds.test[..., 0], vq_train.encode(model, params, images.test))
  assert ds.info["vqvae_workdir"] == os.path.abspath(vq) and ds.info["vqvae_step"] == 3
  assert os.path.isfile(os.path.join(vq, codes_lib.CODES_DIR, "step_00000003.npz"))
  with pytest.raises(ValueError, match=f"expected num_levels={model.num_codes}"):
    data.load("vqvae_codes", path=vq, num_levels=model.num_codes + 1)
  with pytest.raises(ValueError, match="data.path"):
    data.load("vqvae_codes")


def test_eval_bound_is_prior_plus_reconstruction(runs, capsys):
  _, prior_dir = runs
  assert _cli("eval", "--workdir", prior_dir, "--json") == 0
  out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  # Independently: codes from the encoder, the prior's exact log-likelihood through the public API, and
  # log p(x | z) from the decoder, one batch.
  p = pipeline.load(prior_dir)
  x = jnp.asarray(data.load("digits").test)
  vq = p.vq_model
  z = jax.jit(lambda q, x: vq.apply({"params": q}, x, method=vq.codes))(p.vq_params, x)  # [N, 2, 2]
  prior_nll = -np.asarray(arm.log_prob(p.prior, p.variables, z[..., None]), np.float64)
  recon_nll = -np.asarray(jax.jit(lambda q, x, z: vq.apply({"params": q}, x, z,
                                                           method=vq.log_px_given_codes))(
      p.vq_params, x, z), np.float64)
  assert out["n"] == x.shape[0] and out["bound"] is True
  assert out["prior_nats"] == pytest.approx(prior_nll.mean(), rel=1e-5)
  assert out["recon_nats"] == pytest.approx(recon_nll.mean(), rel=1e-5)
  assert out["nll_nats"] == pytest.approx(prior_nll.mean() + recon_nll.mean(), rel=1e-5)
  assert out["bits_per_dim"] == pytest.approx(out["nll_nats"] / (64 * np.log(2)), rel=1e-6)
  assert out["prior_bits_per_code"] == pytest.approx(out["prior_nats"] / (4 * np.log(2)), rel=1e-6)


def test_sample_decodes_prior_codes_to_an_image_grid(runs, tmp_path, capsys):
  _, prior_dir = runs
  out = tmp_path / "x.png"
  assert _cli("sample", "--workdir", prior_dir, "--num", 4, "--out", out) == 0
  assert "decoded by the VQ-VAE" in capsys.readouterr().out
  grid = np.asarray(Image.open(out))
  assert grid.shape[0] > 8 and grid.shape[1] > 8  # 8x8 images, not 2x2 code maps
  p = pipeline.load(prior_dir)
  xs, z = pipeline.sample_images(p.prior, p.variables, p.vq_model, p.vq_params, jax.random.key(0), 4)
  assert xs.shape == (4, 8, 8, 1) and z.shape == (4, 2, 2)
  assert xs.min() >= 0 and xs.max() < 17
  # The images are the most probable ones given the codes: each pixel's level maximises log p(x | z).
  vq = p.vq_model
  raw = np.asarray(jax.jit(lambda q, z: vq.apply({"params": q}, z, method=vq.decode_raw))(
      p.vq_params, jnp.asarray(z)))  # [4, 8, 8, P]
  all_levels = np.asarray(jax.vmap(lambda lv: p.vq_model.pixel_head.pixel_log_prob(
      jnp.asarray(raw), jnp.full(xs.shape, lv, jnp.int32)))(jnp.arange(17)))  # [17, 4, 8, 8]
  np.testing.assert_array_equal(xs[..., 0], all_levels.argmax(0))


def test_vqvae_eval_equals_the_reconstruction_computed_by_hand(runs, capsys):
  """``armodels eval`` on a VQ-VAE workdir reports the reconstruction NLL, bits/dim, perplexity and codes
  used of the digits' test split, recomputed here from the network's pieces without
  ``vq_train.evaluate``: the nearest codebook vector of each encoder output in float64 NumPy, ``log p(x |
  z)`` of those codes (the pixel head is checked against float64 in tests/distributions), the code
  frequencies' perplexity ``exp(-sum p log p)``."""
  vq, _ = runs
  assert _cli("eval", "--workdir", vq, "--json") == 0
  out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  model, params, _, _ = vq_train.restore(vq)
  x = jnp.asarray(data.load("digits").test)
  variables = {"params": params}
  z_e = np.asarray(model.apply(variables, x, method=model.encode), np.float64)  # [N, h, w, D]
  book = np.asarray(params["codebook"], np.float64)  # [K, D]
  codes = ((z_e[..., None, :] - book) ** 2).sum(-1).argmin(-1).astype(np.int32)  # [N, h, w]
  logp = np.asarray(model.apply(variables, x, jnp.asarray(codes), method=model.log_px_given_codes),
                    np.float64)
  nll = -logp.mean()
  p = np.bincount(codes.reshape(-1), minlength=model.num_codes) / codes.size
  perplexity = math.exp(-sum(q * math.log(q) for q in p if q > 0))
  assert out["n"] == len(x)
  assert out["nll_nats"] == pytest.approx(nll, rel=1e-5)
  assert out["bits_per_dim"] == pytest.approx(nll / (model.num_dims * math.log(2.0)), rel=1e-5)
  assert out["perplexity"] == pytest.approx(perplexity, rel=1e-5)
  assert out["codes_used"] == np.count_nonzero(p)


def test_bad_inputs_are_one_line_errors(runs, tmp_path, capsys):
  vq, prior_dir = runs
  k = vq_train.restore(vq)[0].num_codes
  assert _cli("train", "--config", PRIOR_CONFIG, "--workdir", tmp_path / "p1",
              f"--config.data.path={vq}", f"--config.data.num_levels={k + 3}") == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and f"expected num_levels={k}" in err
  assert _cli("train", "--config", PRIOR_CONFIG, "--workdir", tmp_path / "p2",
              f"--config.data.path={tmp_path / 'nothing'}") == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "does not exist" in err
  assert _cli("sample", "--workdir", vq, "--out", tmp_path / "y.png") == 2
  assert "stage 1" in capsys.readouterr().err
  # A prior whose K does not match the codebook (e.g. the VQ-VAE was retrained with another K).
  prior = training.restore(prior_dir)[0]
  vq_model = vq_train.restore(vq)[0]
  with pytest.raises(ValueError, match="num_levels"):
    pipeline.check_fit(prior.clone(num_levels=k + 1), vq_model)
