"""`load(name, **options)`: one entry point for every dataset."""

from __future__ import annotations

import inspect

from armodels_jax.data import audio, embedded, local, tabular, text, tfds_source
from armodels_jax.data.dataset import Dataset

_LOADERS = {
    "digits": embedded.load_digits,
    "binarized_mnist": local.load_binarized_mnist,
    "mnist": local.load_mnist,
    "npz": local.load_npz,
    "wine_quality_red": tabular.load_wine_quality_red,
    "sklearn_wine": tabular.load_sklearn_wine,
    "text": text.load_text,
    "tiny_shakespeare": text.load_tiny_shakespeare,
    "fsdd": audio.load_fsdd,
    "wav_folder": audio.load_wav_folder,
    "tfds:spoken_digit": audio.load_tfds_spoken_digit,
}
_TFDS_PREFIX = "tfds:"


def _vqvae_codes(*, path=None, num_levels=None) -> Dataset:
  """The code maps of a trained VQ-VAE (imported here: it restores a checkpoint)."""
  from armodels_jax.vqvae import codes  # pylint: disable=g-import-not-at-top

  return codes.load_vqvae_codes(path=path, num_levels=num_levels, load_images=load)


_LOADERS["vqvae_codes"] = _vqvae_codes


def names() -> tuple:
  """The dataset names `load` accepts ('tfds:<name>' stands for any tfds name)."""
  return tuple(_LOADERS) + (_TFDS_PREFIX + "<name>",)


def _options(loader) -> tuple:
  """The keyword-only options of a loader: (all, required)."""
  params = [p for p in inspect.signature(loader).parameters.values()
            if p.kind == inspect.Parameter.KEYWORD_ONLY]
  required = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
  return tuple(p.name for p in params), required


def load(name: str, **options) -> Dataset:
  """Loads a dataset by name.

  Names and their options:
    'digits': scikit-learn's bundled 8x8 digits (the embedded default; no
      file needed). Options: `binarize=False` (True: pixel >= 8 -> 1).
    'binarized_mnist': `path` to an .npz with `train`, `valid` and optionally
      `test`.
    'mnist': `path` to the directory of the four original IDX .gz files;
      `binarize` in {None, 'threshold', 'stochastic'}, `binarize_seed=0`.
    'npz': `path`, `train_key='train'`, `valid_key='valid'`,
      `test_key='test'`, `event_shape=None`, `num_levels=None`.
    'wine_quality_red': real-valued (num_levels=None), one fold of the UCI red
      wine file at `path`; `fold=0`, `num_folds=10`, `seed=0`,
      `valid_fraction=0.1`; standardised by the train split.
    'sklearn_wine': scikit-learn's bundled wine data (real-valued, embedded),
      with the same fold options.
    'text': any UTF-8 text file at `path`, characters as levels (the vocabulary
      is saved in `info`), windows of `seq_len` in text order; the last
      `valid_fraction` (0.1) of the text is valid, `test_fraction` before it.
    'tiny_shakespeare': the char-rnn text at `path`, or tfds's copy (prepared)
      without one; `seq_len`.
    'fsdd': the Free Spoken Digit Dataset (8 kHz speech) at `path` (the packed
      npz or a folder of its WAVs), cut into windows of `window` samples;
      `labels` ('speaker', 'digit', 'speaker_digit', None), `features`
      ('log_mel', 'digit', None: a per-frame track every `hop` samples),
      `quantization` ('mu_law' with `levels`, or 'pcm16'), `sample_rate`,
      `speakers`, `valid_fraction`, `max_recordings` (see
      `audio.load_fsdd`).
    'wav_folder': every WAV under `path`, resampled to `sample_rate`; the
      same windowing, `labels='folder'` for one class per sub-folder.
    'tfds:spoken_digit': tfds's copy of FSDD (prepared; needs TensorFlow).
    'vqvae_codes': the code maps of the VQ-VAE trained in workdir `path`
      (stage 2 of VQ-VAE + prior; `num_levels`, if given, must equal its
      codebook size; see `armodels_jax.vqvae.codes`).
    'tfds:<name>' (e.g. 'tfds:mnist'): a tfds dataset prepared in the
      array_record format; `train_split='train'`, `valid_split=None`,
      `test_split=None`, `data_dir=None`, `num_levels=None`. Never downloads.

  See the loaders (`embedded.load_digits`, `local.load_binarized_mnist`,
  `local.load_mnist`, `local.load_npz`, `tabular.load_wine_quality_red`,
  `tabular.load_sklearn_wine`, `tfds_source.load_tfds`, `audio.load_fsdd`,
  `audio.load_wav_folder`, `audio.load_tfds_spoken_digit`, `text.load_text`,
  `text.load_tiny_shakespeare`) for details.

  Args:
    name: one of the names above.
    **options: the options of that name.

  Returns:
    A `Dataset`.

  Raises:
    ValueError: for an unknown name, an unknown or missing option, or data
      that are not integer levels in `[0, num_levels)` (finite reals for the
      real-valued datasets).
  """
  if not isinstance(name, str):
    raise ValueError(f"Expected a dataset name in {names()}, got {name!r}.")
  if name in _LOADERS:  # Before the generic tfds prefix: 'tfds:spoken_digit' has its own loader.
    loader = _LOADERS[name]
    args = ()
  elif name.startswith(_TFDS_PREFIX) and len(name) > len(_TFDS_PREFIX):
    loader = tfds_source.load_tfds
    args = (name[len(_TFDS_PREFIX):],)
  else:
    raise ValueError(f"Expected a dataset name in {names()}, got {name!r}.")
  allowed, required = _options(loader)
  unknown = sorted(set(options) - set(allowed))
  if unknown:
    raise ValueError(
        f"Dataset {name!r}: expected options among {list(allowed)}, got "
        f"unknown option(s) {unknown}.")
  missing = [o for o in required if o not in options]
  if missing:
    raise ValueError(
        f"Dataset {name!r}: expected option(s) {missing} (options: "
        f"{list(allowed)}), got {sorted(options)}.")
  return loader(*args, **options)
