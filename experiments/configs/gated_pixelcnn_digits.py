r"""Class-conditional Gated PixelCNN on scikit-learn's 8x8 digits (embedded; minutes on a CPU).

Model: van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016, section 2.3.
Samples are drawn for the labels 0, 1, 2, ... in turn. The optimizer settings (Adam, cosine schedule, gradient clipping, EMA weights) are ours.

Launch (minutes on a CPU)::

  armodels train --config experiments/configs/gated_pixelcnn_digits.py --workdir runs/gated_pixelcnn_digits
  armodels train --config experiments/configs/gated_pixelcnn_digits.py:tiny --workdir /tmp/gated_pixelcnn_digits_tiny

Data: scikit-learn's bundled 8x8 digits (17 grey levels, with labels), embedded: no files needed.

``arg``: None (the experiment) or ``'tiny'`` (seconds: tiny model, batch 8, 2 steps).
"""

from armodels_jax import training

_common = training.load_config_module(__file__, "_common.py")


def get_config(arg=None):
  """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
  return _common.image_experiment("gated_pixelcnn", "digits", arg, size="small", structure=dict(num_classes=10), conditional=True,
      num_steps=2000, batch_size=32, warmup_steps=100, ema_decay=0.995, eval_every=500,
      eval_batch_size=270, checkpoint_every=500, sample_every=1000, weight_decay=1.0)
