r"""Image GPT as a character-level language model on tiny Shakespeare (bits per character on the last 10%).

Model: the decoder-only transformer of Chen et al., "Generative Pretraining from Pixels", ICML 2020 (the
GPT-2 architecture) over sequences of 256 characters (``armodels_jax/models/image_gpt.py``): 4 blocks
of width 128, 4 heads, a 65-way softmax. Compare with the char-RNN (``char_rnn_shakespeare.py``, 2 x 256
LSTM): 1.484 nats/char on the same validation text (Karpathy 2015's char-rnn: about 1.4-1.5). Unlike
the char-RNN, which carries its state through the whole text, the transformer reads each window of 256
characters from its first character (no earlier context): its validation number is the mean over
every position of non-overlapping windows, so the first characters of each window are predicted with
little context. Adam with a cosine schedule and clipping: our choices.

Launch::

  armodels train --config experiments/configs/image_gpt_shakespeare.py --workdir runs/image_gpt_shakespeare
  armodels sample --workdir runs/image_gpt_shakespeare --num 1 --prime "ROMEO:" --temperature 0.8

Data: ``../shared/data/tiny_shakespeare/input.txt`` (1,115,394 characters, 65 distinct); any UTF-8
file with ``data.path=FILE``.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

import _common


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  cfg = _common.text_experiment(arg, size="small", model_name="image_gpt", tbptt=False, seq_len=256,
                                batch_size=32, learning_rate=1e-3, num_steps=5_000, eval_every=500,
                                checkpoint_every=500)
  if arg != "tiny":
    cfg.model.overrides.width = 128
  return cfg
