r"""char-RNN (2 x 256 LSTM) on tiny Shakespeare, bits per character on the last 10% of the text.

Model: Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural Networks" and its char-rnn
code's setting (multi-layer LSTM, Hochreiter & Schmidhuber 1997; character-level language modelling
as in Graves 2013, "Generating Sequences With Recurrent Neural Networks", section 3): windows of 100
characters from 32 parallel streams with the state carried between windows (truncated BPTT).
Karpathy's char-rnn reaches a validation loss of about 1.4-1.5 nats/char (Torch's ClassNLLCriterion;
2.0-2.2 bits/char) with 3 x 512 (``char_rnn_shakespeare_paper.py``); this size trains on a CPU. Ours:
1.484 nats/char (2.141 bits/char) after 6,000 steps, see experiments/README.md.

Launch (an hour or so on a CPU)::

  armodels train --config experiments/configs/char_rnn_shakespeare.py --workdir runs/char_rnn_shakespeare
  armodels sample --workdir runs/char_rnn_shakespeare --num 1 --length 500 --prime "ROMEO:" --temperature 0.8

Data: ``../shared/data/tiny_shakespeare/input.txt`` (1,115,394 characters, 65 distinct); any UTF-8
file with ``data.path=FILE``; ``data.name=tiny_shakespeare`` without a path reads tfds's copy.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.text_experiment(arg, size="small")
