r"""WaveNet (small) on 16-bit FSDD audio with a discretized logistic mixture head (65,536 levels),
speaker- and digit-conditioned.

Model: van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio" (sections 2.1-2.5), with
the 256-way mu-law softmax replaced by a mixture of 10 discretized logistics over the 16-bit levels, as
in Parallel WaveNet (van den Oord et al. 2018, section 2.1) and PixelCNN++ (Salimans et al. 2017,
section 2.1). Its bits per sample are over 65,536 levels, not comparable with the mu-law runs.

Launch (hours on a CPU)::

  armodels train --config experiments/configs/wavenet_fsdd_16bit.py --workdir runs/wavenet_fsdd_16bit
  python experiments/eval_fsdd.py --workdir runs/wavenet_fsdd_16bit

Data: ``../shared/data/fsdd/fsdd.npz`` (int16 samples, level = sample + 32768).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.audio_experiment(arg, size="small", labels="speaker", features="digit",
                                  quantization="pcm16", head_kind="logistic_mixture")
