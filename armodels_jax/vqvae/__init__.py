"""VQ-VAE with an autoregressive prior over its code maps: two-stage training with the library's loop.

References: van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning"
(NeurIPS), sections 3 (the quantiser, eq. 1-3; EMA codebook, appendix A.1) and 4 (the architecture, the
PixelCNN prior fitted afterwards); Razavi, van den Oord & Vinyals 2019, "Generating Diverse
High-Fidelity Images with VQ-VAE-2", section 3 (stage 1: the VQ-VAE; stage 2: an autoregressive prior
over its codes).

Design. The VQ-VAE is not an exact-likelihood autoregressive model (its likelihood is a bound), so it is
not in the ``arm.models`` registry. Each stage is an ordinary run of ``armodels train``:

* Stage 1, ``model.name='vqvae'`` (`train`): ``training.train_and_evaluate`` hands such a config to
  `train.Stage1Task`, run by the one trainer, which reads the same locked config groups (``model.size`` and
  ``model.overrides`` build the `model.VQVAE`; ``data`` and ``train`` as for every model) and writes the
  same workdir layout; its state adds the codebook statistics and its step minimises
  ``-log p(x | z_q) + beta ||z_e - sg[e]||^2`` (EMA codebook, or the codebook loss), re-initialising dead
  codes (`quantizer`). ``p(x | z)`` is an exact, normalised pixel head of ``armodels_jax.distributions``
  (the discretized logistic mixture or a categorical).
* Stage 2, any registry image model with ``data.name='vqvae_codes'`` and ``data.path=<stage-1 workdir>``
  (`codes`): the data loader restores the VQ-VAE and encodes every split to ``(h, w, 1)`` maps of K
  levels, so the unchanged loop trains the prior. The dataset's ``info`` records the stage-1 workdir
  and the loop saves it in the prior's ``model.json``.
* ``armodels sample`` / ``eval`` on the prior's workdir (`pipeline`) find the VQ-VAE through that
  record: samples are prior codes (cached sampler) decoded by the VQ-VAE; eval reports the bound
  ``-log p(x) <= -log p_prior(z(x)) - log p(x | z(x))`` in nats and bits/dim, with its two terms.
  ``eval`` on a stage-1 workdir reports the reconstruction NLL and codebook perplexity.

Modules: `quantizer` (pure functions), `model` (the network and `model.create`), `stage1` (a trained
VQ-VAE read back: restore, encode, evaluate), `train` (stage 1 as a task of the one trainer), `codes` (the
stage-2 data), `pipeline` (both stages together). The submodules load on first use, so that the data
layer can read a VQ-VAE (`codes` -> `stage1`) without importing the trainer.
"""

import importlib

from armodels_jax.vqvae.model import VQVAE, create

_LAZY = ("codes", "model", "pipeline", "quantizer", "stage1", "train")


def __getattr__(name):
  if name in _LAZY:
    return importlib.import_module(f"armodels_jax.vqvae.{name}")
  if name in ("evaluate_bound", "sample_images"):
    return getattr(importlib.import_module("armodels_jax.vqvae.pipeline"), name)
  raise AttributeError(f"module 'armodels_jax.vqvae' has no attribute {name!r}")


__all__ = ["codes", "model", "pipeline", "quantizer", "stage1", "train", "VQVAE", "create", "evaluate_bound",
           "sample_images"]
