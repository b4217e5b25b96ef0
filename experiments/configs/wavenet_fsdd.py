r"""WaveNet (small) on the Free Spoken Digit Dataset: speaker-conditioned (global) and digit-conditioned
(a one-hot local track, upsampled by a learned transposed convolution).

Model: van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio", sections 2.1-2.5
(conditioning: 2.5). Size small: 16 layers (dilations 1..128 twice), 32 residual and 128 skip
channels, a 512-sample receptive field (64 ms at 8 kHz). The paper reports no likelihood on FSDD; it
reports speech in MOS only.

Launch (hours on a CPU; the tiny variant takes seconds)::

  armodels train --config experiments/configs/wavenet_fsdd.py --workdir runs/wavenet_fsdd
  python experiments/eval_fsdd.py --workdir runs/wavenet_fsdd        # NLL over whole test recordings
  armodels sample --workdir runs/wavenet_fsdd --num 2 --label 3 --digit 7 --length 8192 --out seven.wav

Data: ``../shared/data/fsdd/fsdd.npz`` (3,000 recordings, 6 speakers; the official test split is
recordings 0-4 of every speaker and digit). Users without it: ``data.name=tfds:spoken_digit`` or
``data.name=wav_folder`` with ``data.path`` set to the repository's ``recordings/`` folder and
``data.sample_rate=8000``.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.audio_experiment(arg, size="small", labels="speaker", features="digit")
