"""Character-level text: vocabularies, encoding and windowed datasets (char-rnn's setting).

Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural Networks" (the char-rnn code):
a character language model reads one UTF-8 file (tiny Shakespeare's ``input.txt``: 1,115,394
characters, 65 distinct), the vocabulary is the sorted set of its characters, and training runs
over consecutive windows of ``seq_len`` characters. The windows here stay in text order, so a
stateful model can carry its state from one window to the next (truncated backpropagation through
time, ``train.tbptt``).

The split is by characters: the last ``valid_fraction`` of the text is the validation text (the
"last 10%" of tiny Shakespeare), the ``test_fraction`` before it the test text, the rest the
training text. Each split is cut into non-overlapping windows (its remainder dropped).

Dimension glossary: n characters of a text, N windows of a split, T = ``seq_len``.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from armodels_jax.data.dataset import Dataset

__all__ = ["build_vocab", "encode", "decode", "windows", "load_text", "load_tiny_shakespeare"]


def build_vocab(text: str) -> list[str]:
  """The sorted unique characters of `text`.

  Raises:
    ValueError: `text` is not a non-empty string.
  """
  if not isinstance(text, str):
    raise ValueError(f"build_vocab: expected a str, got {type(text).__name__}.")
  if not text:
    raise ValueError("build_vocab: expected a non-empty text, got ''.")
  return sorted(set(text))


def _codes(vocab: Sequence[str]) -> np.ndarray:
  """Unicode code points of the vocabulary ``[V]``, after checking it is a list of unique characters."""
  if isinstance(vocab, str) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
    raise ValueError(f"expected a vocabulary as a list of single characters, got {vocab!r:.200}.")
  codes = np.array([ord(c) for c in vocab], np.int64)  # [V]
  if len(np.unique(codes)) != len(codes):
    raise ValueError("expected a vocabulary of distinct characters, got duplicates.")
  if len(codes) == 0:
    raise ValueError("expected a non-empty vocabulary, got [].")
  return codes


def encode(text: str, vocab: Sequence[str]) -> np.ndarray:
  """Character ids of `text`: ``vocab.index(ch)`` for every character, int32 ``[n]``.

  Raises:
    ValueError: `text` holds a character that is not in `vocab` (the message names it), or `vocab`
      is not a list of distinct single characters.
  """
  if not isinstance(text, str):
    raise ValueError(f"encode: expected a str, got {type(text).__name__}.")
  codes = _codes(vocab)
  order = np.argsort(codes)  # [V]
  sorted_codes = codes[order]
  chars = np.frombuffer(text.encode("utf-32-le"), np.uint32).astype(np.int64)  # [n]
  pos = np.clip(np.searchsorted(sorted_codes, chars), 0, len(codes) - 1)  # [n]
  unknown = sorted_codes[pos] != chars
  if unknown.any():
    first = int(np.argmax(unknown))
    raise ValueError(
        f"encode: character {text[first]!r} (at position {first}) is not in the vocabulary of "
        f"{len(codes)} characters; expected characters from {''.join(vocab)!r:.200}.")
  return order[pos].astype(np.int32)


def decode(ids, vocab: Sequence[str]) -> str:
  """The text of character ids ``[n]`` (the inverse of `encode`).

  Raises:
    ValueError: `ids` is not a 1-D integer array with values in ``[0, len(vocab))``.
  """
  _codes(vocab)
  ids = np.asarray(ids)
  if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0):
    raise ValueError(f"decode: expected integer ids of shape (n,), got dtype {ids.dtype} and "
                     f"shape {ids.shape}.")
  if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
    raise ValueError(f"decode: expected ids in [0, {len(vocab)}), got values in "
                     f"[{ids.min()}, {ids.max()}].")
  table = np.array(list(vocab), dtype=object)
  return "".join(table[ids])


def windows(ids: np.ndarray, seq_len: int, what: str = "text") -> np.ndarray:
  """Consecutive non-overlapping windows, in text order: ``[n] -> [n // T, T]`` (remainder dropped).

  Raises:
    ValueError: fewer than `seq_len` ids.
  """
  n = len(ids) // seq_len
  if n < 1:
    raise ValueError(f"{what}: expected at least one window of seq_len={seq_len} characters, got "
                     f"{len(ids)} characters.")
  return np.asarray(ids[:n * seq_len], np.int32).reshape(n, seq_len)


def _check_seq_len(seq_len) -> int:
  if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
    raise ValueError(f"expected seq_len a positive int, got {seq_len!r}.")
  return int(seq_len)


def _read_utf8(path) -> str:
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise ValueError(f"expected an existing UTF-8 text file, got path {path!r} (not found).")
  with open(path, "rb") as f:
    raw = f.read()
  try:
    return raw.decode("utf-8")
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: expected UTF-8 text, got invalid bytes at offset {e.start} "
                     f"({e.reason}).") from None


def _dataset(name: str, splits: dict[str, Optional[str]], seq_len: int, where: str) -> Dataset:
  """Windows of each split's text, with the vocabulary of all of them together."""
  vocab = build_vocab("".join(t for t in splits.values() if t))
  if len(vocab) < 2:
    raise ValueError(f"{where}: expected at least 2 distinct characters, got {vocab!r}.")
  arrays = {split: None if text is None else
            windows(encode(text, vocab), seq_len, f"{where}, split {split!r}")
            for split, text in splits.items()}
  return Dataset(
      name=name, train=arrays["train"], valid=arrays["valid"], test=arrays["test"],
      train_labels=None, valid_labels=None, test_labels=None, event_shape=(seq_len,),
      num_levels=len(vocab), info={"kind": "text", "vocab": vocab})


def load_text(*, path, seq_len: int = 100, valid_fraction: float = 0.1,
              test_fraction: float = 0.0) -> Dataset:
  """A UTF-8 text file as windows of characters.

  Args:
    path: the file (e.g. char-rnn's tiny Shakespeare ``input.txt``).
    seq_len: T, characters per window (the event shape is ``(T,)``).
    valid_fraction: the last fraction of the text is the valid split (0: none).
    test_fraction: the fraction just before the valid text is the test split (0: none).

  Returns:
    A `Dataset` named 'text': int32 windows ``[N, T]`` of each split in text order, ``num_levels``
    the vocabulary size, ``info = {'kind': 'text', 'vocab': [...]}`` (the sorted characters of the
    whole text; id i is ``vocab[i]``).

  Raises:
    ValueError: a missing file, bad UTF-8, fractions outside ``[0, 1)`` or adding up to 1 or more,
      or a split shorter than one window.
  """
  seq_len = _check_seq_len(seq_len)
  for field, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
      raise ValueError(f"load_text: expected {field} in [0, 1), got {value!r}.")
  if valid_fraction + test_fraction >= 1.0:
    raise ValueError(f"load_text: expected valid_fraction + test_fraction < 1, got "
                     f"{valid_fraction} + {test_fraction}.")
  text = _read_utf8(path)
  n = len(text)
  n_valid, n_test = int(n * valid_fraction), int(n * test_fraction)
  n_train = n - n_valid - n_test
  splits = {
      "train": text[:n_train],
      "test": text[n_train:n_train + n_test] if test_fraction > 0 else None,
      "valid": text[n_train + n_test:] if valid_fraction > 0 else None,
  }
  return _dataset("text", splits, seq_len, f"text file {os.fspath(path)!r} ({n} characters)")


_TFDS_NAME = "tiny_shakespeare"
_TFDS_SPLITS = {"train": "train", "valid": "validation", "test": "test"}


def load_tiny_shakespeare(*, path=None, data_dir=None, seq_len: int = 100) -> Dataset:
  """Tiny Shakespeare (Karpathy's char-rnn data), from its ``input.txt`` or from tfds.

  Args:
    path: char-rnn's ``input.txt``: read by `load_text` with the last 10% as the valid split.
    data_dir: without `path`, the tfds data directory of a prepared ``tiny_shakespeare`` (its
      train / validation / test texts become the train / valid / test splits); never downloads.
    seq_len: T, characters per window.

  Returns:
    A `Dataset` (named 'tiny_shakespeare' when read from tfds; 'text' from a file) as described in
    `load_text`.

  Raises:
    ValueError: as `load_text`; or the tfds copy is not prepared (the message says how to prepare
      it).
  """
  if path is not None:
    return load_text(path=path, seq_len=seq_len, valid_fraction=0.1)
  seq_len = _check_seq_len(seq_len)
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  from armodels_jax.data import tfds_source  # pylint: disable=g-import-not-at-top

  data_dir = None if data_dir is None else os.fspath(data_dir)
  texts = {}
  for split, tfds_split in _TFDS_SPLITS.items():
    try:
      source = tfds.data_source(_TFDS_NAME, split=tfds_split, data_dir=data_dir, download=False,
                                try_gcs=False)
    except (AssertionError, FileNotFoundError, NotImplementedError, OSError) as e:
      message = tfds_source._not_prepared_message(  # pylint: disable=protected-access
          tfds, _TFDS_NAME, tfds_split, data_dir, e)
      raise ValueError(message + "\nOr pass path= char-rnn's input.txt (data.path=FILE).") from e
    parts = []
    for i in range(len(source)):
      value = source[i]["text"]
      parts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
    texts[split] = "".join(parts)
  return _dataset(_TFDS_NAME, texts, seq_len, f"tfds:{_TFDS_NAME}")
