r"""char-RNN at Karpathy's size (3 x 512 LSTM, dropout 0.5) on tiny Shakespeare.

Model: Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural Networks" (char-rnn: a
validation loss of about 1.4-1.5 nats/char, i.e. 2.0-2.2 bits/char, on tiny Shakespeare at this
size); LSTM of Hochreiter & Schmidhuber 1997; truncated BPTT over windows of 100 characters, 64
parallel streams.

Launch (a GPU; hours on a CPU)::

  armodels train --config experiments/configs/char_rnn_shakespeare_paper.py --workdir runs/char_rnn_paper

Data: ``../shared/data/tiny_shakespeare/input.txt`` (the last 10% is the validation text).

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.text_experiment(arg, size="paper", batch_size=64, num_steps=50_000)
