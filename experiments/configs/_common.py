"""Shared pieces of the experiment configs (not a config itself: the leading underscore keeps it out of
the config list).

A config file loads this module by path (config files are imported by path, not as a package)::

  import _common

``dense_binarized_mnist(...)`` is the training setup of the dense family (FVSBN, NADE, EoNADE, NADE-k,
MADE) on binarized MNIST: Adam with a cosine schedule, gradient clipping, EMA (Polyak) weights for
evaluation, batch 100. These optimizer settings are ours, not the papers' (which used SGD or Adagrad with
early stopping); the stored data have no test split, so the validation split is evaluated.
"""

import os

from armodels_jax import config as config_lib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data"))
BINARIZED_MNIST = os.path.join(SHARED_DATA, "binarized_mnist", "binarized_mnist.npz")


def model_config(model_name: str, arg=None, size: str = "paper", overrides=None):
  """The default config with seed 0, the model and its size, and the model overrides; the tiny variant
  (``arg='tiny'``) keeps the tiny size as it is, without the overrides."""
  cfg = config_lib.default_config()
  cfg.seed = 0
  cfg.model.name = model_name
  cfg.model.size = size
  if arg != "tiny":
    for key, value in (overrides or {}).items():
      cfg.model.overrides[key] = value
  return cfg


def dense_binarized_mnist(model_name: str, arg=None, *, size: str = "paper", overrides=None,
                          num_steps: int = 100_000, batch_size: int = 100, learning_rate: float = 1e-3,
                          ema_decay: float = 0.9995, eval_every: int = 5000, eval_max_examples: int = 0,
                          eval_batch_size: int = 1000, weight_decay: float = 0.0,
                          checkpoint_every: int = 5000):
  """The locked config of a dense model on binarized MNIST (50,000 train / 10,000 valid images).

  Args:
    model_name: registry name.
    arg: the config file's argument: None (the experiment) or ``'tiny'``.
    size: model size.
    overrides: model overrides (``cfg.model.overrides``).
    num_steps, batch_size, learning_rate, ema_decay, weight_decay: the train group.
    eval_every, eval_max_examples, eval_batch_size: evaluation during training (0 examples = all).
    checkpoint_every: checkpoint period; every checkpoint is kept, so the one with the best validation
      NLL can be shipped (early stopping after the fact, as the papers selected by validation).
  """
  cfg = model_config(model_name, arg, size, overrides)
  cfg.data.name = "binarized_mnist"
  cfg.data.path = BINARIZED_MNIST

  t = cfg.train
  t.batch_size = batch_size
  t.num_steps = num_steps
  t.optimizer = "adamw" if weight_decay else "adam"
  t.weight_decay = weight_decay
  t.learning_rate = learning_rate
  t.schedule = "cosine"
  t.warmup_steps = 1000
  t.grad_clip_norm = 1.0
  t.ema_decay = ema_decay
  t.log_every = 500
  t.eval_every = eval_every
  t.eval_batch_size = eval_batch_size
  t.eval_max_examples = eval_max_examples
  t.checkpoint_every = checkpoint_every
  t.keep_checkpoints = 0  # Keep all.
  t.sample_every = 0
  t.num_samples = 64
  return config_lib.apply_variant(cfg, arg)


MNIST = os.path.join(SHARED_DATA, "mnist")
# The data fields of each image dataset. tfds datasets: the papers validate on held-out training
# images and report on the test split (ImageNet: on the official validation split, which has no labels
# in the test sense; the last 1% of train validates). armodels_jax never downloads: prepare a tfds
# dataset once (``tfds build cifar10 --file_format=array_record``, see armodels_jax.data.tfds_source).
# Local files default to ../shared/data beside the repository; point elsewhere with
# --config.data.path=...: binarized MNIST is an .npz with uint8 train (50000, 28, 28) and valid
# (10000, 28, 28) and no test split (the validation split is evaluated); MNIST is the four IDX .gz
# files (the first 50,000 training images train, the last 10,000 validate, t10k tests).
IMAGE_DATA = {
    "binarized_mnist": {"name": "binarized_mnist", "path": BINARIZED_MNIST},
    "mnist": {"name": "mnist", "path": MNIST},
    "cifar10": {"name": "tfds:cifar10", "train_split": "train[:90%]", "valid_split": "train[90%:]",
                "test_split": "test"},
    # Downsampled ImageNet (van den Oord et al. 2016, section 5): tfds's `imagenet_resized` is a box
    # resize of the same images; the papers' files (`downsampled_imagenet`) are no longer served, so
    # numbers are close, not identical. Preparing it (`tfds build imagenet_resized/32x32
    # --file_format=array_record`) needs the ImageNet archives, see tfds's instructions.
    "imagenet32": {"name": "tfds:imagenet_resized/32x32", "train_split": "train[:99%]",
                   "valid_split": "train[99%:]", "test_split": "validation"},
    "imagenet64": {"name": "tfds:imagenet_resized/64x64", "train_split": "train[:99%]",
                   "valid_split": "train[99%:]", "test_split": "validation"},
    "digits": {"name": "digits"},
}


def image_experiment(model_name: str, data: str, arg=None, *, size: str = "paper", overrides=None,
                     structure=None, conditional: bool = False, num_steps: int = 100_000,
                     batch_size: int = 64, learning_rate: float = 1e-3, ema_decay: float = 0.9995,
                     warmup_steps: int = 1000, eval_every: int = 5000, eval_max_examples: int = 0,
                     eval_batch_size: int = 250, checkpoint_every: int = 5000, sample_every: int = 0,
                     weight_decay: float = 0.0, cpu_devices: int = 0):
  """The locked config of an image model (PixelCNN family, PixelRNN, PixelSNAIL).

  Adam (AdamW with ``weight_decay``) with a cosine schedule, gradient clipping at norm 1 and EMA
  (Polyak) weights for evaluation; every checkpoint is kept so the best one by validation NLL can
  be shipped. The papers' optimizers differ (RMSProp for PixelRNN, Adam with exponential decay for
  PixelCNN++); the sizes and heads are theirs.

  Args:
    model_name: registry name.
    data: a key of ``IMAGE_DATA`` (CIFAR-10 comes through tfds: prepare it once, see
      ``armodels_jax.data.tfds_source``).
    arg: the config file's argument: None (the experiment) or ``'tiny'``.
    size: model size.
    overrides: size overrides (``cfg.model.overrides``), dropped by the tiny variant.
    structure: overrides kept by the tiny variant too (head kind, number of classes).
    conditional: pass the dataset's labels as ``cond``.
    num_steps, batch_size, learning_rate, ema_decay, warmup_steps, weight_decay: the train group.
    eval_every, eval_max_examples, eval_batch_size: evaluation during training (0 examples = all).
    checkpoint_every, sample_every: periods (0 = only at the end / never).
    cpu_devices: ``train.cpu_devices`` (2 for the models whose step is a scan, which a second CPU
      device runs beside the first; BENCHMARKS.md).
  """
  cfg = config_lib.default_config()
  cfg.seed = 0
  cfg.model.name = model_name
  cfg.model.size = size
  cfg.model.conditional = conditional
  kept = dict(structure or {})
  if arg != "tiny":
    kept.update(overrides or {})
  for key, value in kept.items():
    cfg.model.overrides[key] = value
  for field, value in IMAGE_DATA[data].items():
    cfg.data[field] = value

  t = cfg.train
  t.batch_size = batch_size
  t.num_steps = num_steps
  t.optimizer = "adamw" if weight_decay else "adam"
  t.weight_decay = weight_decay
  t.learning_rate = learning_rate
  t.schedule = "cosine"
  t.warmup_steps = warmup_steps
  t.grad_clip_norm = 1.0
  t.ema_decay = ema_decay
  t.log_every = 100
  t.eval_every = eval_every
  t.eval_batch_size = eval_batch_size
  t.eval_max_examples = eval_max_examples
  t.checkpoint_every = checkpoint_every
  t.keep_checkpoints = 0  # Keep all.
  t.sample_every = sample_every
  t.num_samples = 16
  t.cpu_devices = cpu_devices
  return config_lib.apply_variant(cfg, arg)


# The image experiments side by side: one row per config file ``<row>.py``, whose ``get_config`` is
# ``image_row(<row>)``. A row is (model, data, keyword arguments of ``image_experiment``); the comments
# say what each row reproduces. The optimizer settings (Adam, cosine schedule, gradient clipping, EMA
# weights) are ours throughout; the models are the papers'. Where a paper has no number for a dataset
# the row says what to compare with. ImageNet rows use the registry's ``paper`` size (the CIFAR-10
# model; the papers' ImageNet models were larger).
#   PixelRNN: van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016.
#   Gated PixelCNN: van den Oord et al., "Conditional Image Generation with PixelCNN Decoders",
#     NeurIPS 2016 (class-conditional: a class-dependent bias in every layer, section 2.3).
#   PixelCNN++: Salimans, Karpathy, Chen & Kingma, "PixelCNN++", ICLR 2017 (the paper trained with Adam,
#     learning rate 1e-3 decayed by 0.999995 per step, on 8 GPUs; here a cosine schedule).
#   PixelSNAIL: Chen, Mishra, Rohaninejad & Abbeel, "PixelSNAIL: An Improved Autoregressive Generative
#     Model", ICML 2018.
IMAGE_ROWS = {
    # PixelRNN Table 4 (binarized MNIST, test NLL): Row LSTM 80.54 nats, Diagonal BiLSTM 79.20 nats,
    # with the paper's 7-layer MNIST models. Table 5 (CIFAR-10, test): PixelCNN 3.14, Row LSTM 3.07,
    # Diagonal BiLSTM 3.00 bits/dim, 12-layer models (PixelCNN: 15 residual blocks).
    # Their steps are scans over rows (diagonals): two CPU devices run them about 1.35x faster.
    "row_lstm_binarized_mnist": ("row_lstm", "binarized_mnist",
                                 dict(batch_size=16, eval_every=5000, cpu_devices=2)),
    "diagonal_bilstm_binarized_mnist": ("diagonal_bilstm", "binarized_mnist",
                                        dict(batch_size=16, eval_every=5000, cpu_devices=2)),
    "pixelcnn_cifar10": ("pixelcnn", "cifar10", dict(batch_size=16)),
    "row_lstm_cifar10": ("row_lstm", "cifar10", dict(batch_size=16)),
    "diagonal_bilstm_cifar10": ("diagonal_bilstm", "cifar10", dict(batch_size=16)),
    # Gated PixelCNN Table 1 (CIFAR-10): 3.03 bits/dim; Table 2 (ImageNet validation split): 3.83 (32x32),
    # 3.57 (64x64). Binarized MNIST: no number, compare with PixelCNN's 81.30 nats (PixelRNN Table 4).
    # MNIST (256 levels, the label as cond): no number. Digits: the embedded 8x8 digits, class-
    # conditional, minutes on a CPU (samples drawn for the labels 0, 1, 2, ... in turn). The shipped
    # binarized-MNIST checkpoint is size small at batch 16: 3,000 steps, then phases of 2,000, 10,000,
    # 10,000 and 10,000 steps, each warm-started from the one before (81.79 nats, all 10,000 valid; the recipe:
    # experiments/reproduce.py ROWS).
    "gated_pixelcnn_binarized_mnist": ("gated_pixelcnn", "binarized_mnist", dict(batch_size=64)),
    "gated_pixelcnn_mnist": ("gated_pixelcnn", "mnist",
                             dict(batch_size=64, structure=dict(num_classes=10), conditional=True)),
    "gated_pixelcnn_cifar10": ("gated_pixelcnn", "cifar10", dict(batch_size=16)),
    "gated_pixelcnn_imagenet32": ("gated_pixelcnn", "imagenet32", dict(batch_size=16)),
    "gated_pixelcnn_imagenet64": ("gated_pixelcnn", "imagenet64", dict(batch_size=16)),
    "gated_pixelcnn_digits": ("gated_pixelcnn", "digits", dict(
        size="small", structure=dict(num_classes=10), conditional=True, num_steps=2000, batch_size=32,
        warmup_steps=100, ema_decay=0.995, eval_every=500, eval_batch_size=270, checkpoint_every=500,
        sample_every=1000, weight_decay=1.0)),
    # PixelCNN++ Table 1 (CIFAR-10, test): 2.92 bits/dim (160 filters, 5 resnets per block, 3
    # resolutions, 10 logistics, dropout 0.5). Binarized MNIST (the logistic mixture with bin width 2):
    # compare with PixelCNN's 81.30 nats. MNIST (256 levels): no number. Binarized MNIST's schedule is a
    # CPU budget: 25,000 steps (8 epochs at batch 16; the run began under a 100,000-step cosine and was
    # shortened at step 9,000, so the learning rate anneals within two sessions of a 2-core CPU); the
    # shipped checkpoint adds a 10,000-step phase at lr 2e-4 warm-started from it (80.20 nats, all 10,000
    # valid, size small: experiments/reproduce.py ROWS).
    "pixelcnn_pp_binarized_mnist": ("pixelcnn_pp", "binarized_mnist",
                                    dict(batch_size=16, num_steps=25_000)),
    "pixelcnn_pp_mnist": ("pixelcnn_pp", "mnist", dict(batch_size=16)),
    "pixelcnn_pp_cifar10": ("pixelcnn_pp", "cifar10", dict(batch_size=16, ema_decay=0.9995)),
    # PixelSNAIL Table 1 (test / ImageNet validation): 2.85 bits/dim CIFAR-10 (the paper's CIFAR model,
    # discretized logistic mixture), 3.80 ImageNet 32x32. Binarized MNIST: compare with PixelCNN's
    # 81.30 nats. MNIST (256 levels): no number. The shipped binarized-MNIST checkpoint is size small at
    # batch 16: 1,500 steps, then phases of 4,000, 6,000 and 6,000 steps, each warm-started from the one
    # before (80.89 nats, all 10,000 valid; experiments/reproduce.py ROWS).
    "pixelsnail_binarized_mnist": ("pixelsnail", "binarized_mnist", dict(batch_size=16)),
    "pixelsnail_mnist": ("pixelsnail", "mnist", dict(batch_size=16)),
    "pixelsnail_cifar10": ("pixelsnail", "cifar10", dict(batch_size=16, learning_rate=3e-4)),
    "pixelsnail_imagenet32": ("pixelsnail", "imagenet32", dict(batch_size=16, learning_rate=3e-4)),
}


def image_row(row: str):
  """The ``get_config(arg)`` of the image config file ``<row>.py`` (a key of ``IMAGE_ROWS``)."""
  model_name, data, kwargs = IMAGE_ROWS[row]

  def get_config(arg=None):
    """Returns the locked config; ``arg='tiny'`` shrinks it to a seconds-long smoke run."""
    return image_experiment(model_name, data, arg, **{"size": "paper", **kwargs})

  return get_config


def set_train(cfg, **fields):
  """Sets fields of the locked ``cfg.train`` group (a misspelt name raises)."""
  for name, value in fields.items():
    setattr(cfg.train, name, value)


FSDD = os.path.join(SHARED_DATA, "fsdd", "fsdd.npz")
TINY_SHAKESPEARE = os.path.join(SHARED_DATA, "tiny_shakespeare", "input.txt")


def audio_experiment(arg=None, *, size: str = "small", labels: str | None = "speaker",
                     features: str | None = "digit", window: int = 2048, hop: int = 256,
                     num_mels: int = 40, num_steps: int = 20_000, batch_size: int = 16,
                     learning_rate: float = 1e-3, ema_decay: float = 0.999, eval_every: int = 2000,
                     checkpoint_every: int = 1000, sample_every: int = 0,
                     quantization: str = "mu_law", head_kind: str = "auto"):
  """The locked config of WaveNet on the Free Spoken Digit Dataset (8 kHz, 256 mu-law levels, or
  65,536 levels of 16-bit PCM with ``quantization='pcm16'``).

  Training examples are windows of ``window`` samples cut from the recordings; the global condition
  is ``labels`` (``'speaker'``: 6 classes, ``'digit'``, ``'speaker_digit'`` or None) and the local
  condition ``features`` (``'digit'``: a one-hot track, ``'log_mel'``: ``num_mels`` log-mel frames,
  or None), one frame per ``hop`` samples, upsampled by the model's learned transposed convolution.
  The evaluation during training covers windows of the test recordings (FSDD has no validation
  split); the reported number is over whole test recordings (``experiments/eval_fsdd.py``). Adam,
  cosine schedule, clipping at norm 1, EMA weights: our choices (the paper gives none for its
  audio experiments).
  """
  num_classes = {"speaker": 6, "digit": 10, "speaker_digit": 60, None: 0}[labels]
  local_dim = {"digit": 10, "log_mel": num_mels, None: 0}[features]
  cfg = config_lib.default_config()
  cfg.seed = 0
  cfg.model.name = "wavenet"
  cfg.model.size = size
  cfg.model.conditional = bool(num_classes or local_dim)
  structure = dict(num_classes=num_classes, local_dim=local_dim, local_hop=hop if local_dim else 0)
  if head_kind != "auto":
    structure["head_kind"] = head_kind
  for key, value in structure.items():
    cfg.model.overrides[key] = value
  cfg.data.name, cfg.data.path = "fsdd", FSDD
  cfg.data.quantization = quantization
  cfg.data.levels = 65536 if quantization == "pcm16" else 256
  cfg.data.window, cfg.data.hop = window, hop
  cfg.data.labels, cfg.data.features = labels, features
  if features == "log_mel":
    cfg.data.num_mels = num_mels

  set_train(cfg, batch_size=batch_size, num_steps=num_steps, learning_rate=learning_rate,
            schedule="cosine", warmup_steps=500, grad_clip_norm=1.0, ema_decay=ema_decay,
            log_every=100, eval_every=eval_every, eval_batch_size=64, eval_max_examples=512,
            checkpoint_every=checkpoint_every, keep_checkpoints=0,  # Keep all.
            sample_every=sample_every, num_samples=6)
  return config_lib.apply_variant(cfg, arg)


def text_experiment(arg=None, *, size: str = "small", seq_len: int = 100, num_steps: int = 20_000,
                    batch_size: int = 32, learning_rate: float = 2e-3, eval_every: int = 1000,
                    checkpoint_every: int = 1000, model_name: str = "char_rnn", tbptt: bool = True):
  """The locked config of a character model on tiny Shakespeare (the last 10% of the text is valid).

  Karpathy's char-rnn setting: windows of ``seq_len`` characters from ``batch_size`` parallel
  streams through the text, with the LSTM state carried from one window to the next (truncated
  backpropagation through time, ``train.tbptt``), gradient clipping, and evaluation over the whole
  validation text with the state carried. Adam with a cosine schedule replaces char-rnn's RMSProp
  with step decay. A model without a state (``model_name='image_gpt'``, ``tbptt=False``) trains
  and is evaluated on the windows independently, each read from its first character.
  """
  cfg = config_lib.default_config()
  cfg.seed = 0
  cfg.model.name = model_name
  cfg.model.size = size
  cfg.data.name, cfg.data.path = "text", TINY_SHAKESPEARE
  cfg.data.seq_len = seq_len

  set_train(cfg, tbptt=tbptt, batch_size=batch_size, num_steps=num_steps,
            learning_rate=learning_rate, schedule="cosine", warmup_steps=200, grad_clip_norm=5.0,
            log_every=100, eval_every=eval_every, eval_batch_size=64,
            checkpoint_every=checkpoint_every, keep_checkpoints=0,  # Keep all.
            num_samples=4)
  return config_lib.apply_variant(cfg, arg)


# The config schema (armodels_jax.config, which imports only ml_collections), for the config files.
default_config = config_lib.default_config
apply_variant = config_lib.apply_variant
