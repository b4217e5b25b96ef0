r"""WaveNet at the paper's size on the Free Spoken Digit Dataset, speaker- and digit-conditioned.

Model: van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio": 30 layers with
dilations 1, 2, ..., 512 three times (section 2.1), 64 residual and 256 skip channels, a 256-way
mu-law softmax (section 2.2); the receptive field is 3,071 samples (0.38 s at 8 kHz). The paper
reports speech quality in MOS, not a likelihood on this data.

Launch (a GPU; about 5 s per step of 4 x 16,000 samples on a 2-core CPU)::

  armodels train --config experiments/configs/wavenet_fsdd_paper.py --workdir runs/wavenet_fsdd_paper
  python experiments/eval_fsdd.py --workdir runs/wavenet_fsdd_paper

Data: ``../shared/data/fsdd/fsdd.npz`` (see ``wavenet_fsdd.py`` for other sources).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.audio_experiment(arg, size="paper", labels="speaker", features="digit",
                                  window=8192, batch_size=16, num_steps=100_000, eval_every=5000,
                                  checkpoint_every=2000)
