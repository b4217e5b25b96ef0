r"""WaveNet (small) on the Free Spoken Digit Dataset conditioned on log-mel frames (a vocoder): the
speaker as the global condition and 40 log-mel bands every 256 samples (32 ms) as the local one.

Model: van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio", section 2.5 (local
conditioning on a lower-rate series through a learned upsampling) and section 3.2 (text-to-speech
conditioned on linguistic features); log-mel conditioning as in Shen et al. 2018 ("Natural TTS
Synthesis by Conditioning WaveNet on Mel Spectrogram Predictions"). Size small (see
``wavenet_fsdd.py``).

Launch (hours on a CPU)::

  armodels train --config experiments/configs/wavenet_fsdd_mel.py --workdir runs/wavenet_fsdd_mel
  python experiments/eval_fsdd.py --workdir runs/wavenet_fsdd_mel

Data: ``../shared/data/fsdd/fsdd.npz``; the log-mel features are standardised with the train split's
statistics, which the checkpoint keeps (``model.json``).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.audio_experiment(arg, size="small", labels="speaker", features="log_mel")
