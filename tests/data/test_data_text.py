"""Text data (char-rnn's setting): vocabulary, encoding, windows in text order, splits by characters,
errors, and tiny Shakespeare through tfds's mock data (no files, no network)."""

import numpy as np
import pytest

from armodels_jax.data import text


def _write(tmp_path, content: str, name="input.txt"):
  path = tmp_path / name
  path.write_text(content, encoding="utf-8")
  return str(path)


def test_vocab_encode_decode_round_trip():
  s = "hello, world\nçà 😀"
  vocab = text.build_vocab(s)
  assert vocab == sorted(set(s)) and len(vocab) == len(set(s))
  ids = text.encode(s, vocab)
  assert ids.dtype == np.int32 and ids.shape == (len(s),)
  # Independent reference: list.index per character.
  np.testing.assert_array_equal(ids, [vocab.index(c) for c in s])
  assert text.decode(ids, vocab) == s
  # An unsorted vocabulary works too (id i is vocab[i]).
  shuffled = vocab[::-1]
  np.testing.assert_array_equal(text.encode(s, shuffled), [shuffled.index(c) for c in s])


def test_encode_and_decode_errors():
  vocab = text.build_vocab("abc")
  with pytest.raises(ValueError, match="'z'.*position 2"):
    text.encode("abz", vocab)
  with pytest.raises(ValueError, match=r"\[0, 3\)"):
    text.decode(np.array([0, 3]), vocab)
  with pytest.raises(ValueError, match="distinct"):
    text.encode("ab", ["a", "a", "b"])
  with pytest.raises(ValueError, match="non-empty"):
    text.build_vocab("")


def test_load_text_windows_in_order_and_splits(tmp_path):
  rng = np.random.default_rng(0)
  letters = np.array(list("abcdefgh \n"))
  content = "".join(rng.choice(letters, size=1003))
  path = _write(tmp_path, content)
  ds = text.load_text(path=path, seq_len=7, valid_fraction=0.1, test_fraction=0.2)
  vocab = sorted(set(content))
  assert ds.info == {"kind": "text", "vocab": vocab}
  assert ds.num_levels == len(vocab) and ds.event_shape == (7,)
  # Split by characters: train | test | valid (the last 10%).
  n_valid, n_test = int(1003 * 0.1), int(1003 * 0.2)
  n_train = 1003 - n_valid - n_test
  parts = {"train": content[:n_train], "test": content[n_train:n_train + n_test],
           "valid": content[n_train + n_test:]}
  assert len(parts["valid"]) == 100
  for split, part in parts.items():
    x = ds.split(split)
    assert x.dtype == np.int32 and x.shape == (len(part) // 7, 7)
    # Consecutive windows in text order, the remainder dropped.
    assert "".join(text.decode(w, vocab) for w in x) == part[:len(part) // 7 * 7]
  assert ds.train_labels is None and ds.train_features is None


def test_load_text_defaults_and_no_test(tmp_path):
  content = "abcd" * 300  # 1200 characters
  ds = text.load_text(path=_write(tmp_path, content), seq_len=100)
  assert ds.test is None
  assert ds.train.shape == (10, 100) and ds.valid.shape == (1, 100)  # 1080 and 120 characters
  ds = text.load_text(path=_write(tmp_path, content), seq_len=10, valid_fraction=0.0)
  assert ds.valid is None and ds.train.shape == (120, 10)


def test_load_text_errors(tmp_path):
  with pytest.raises(ValueError, match="not found"):
    text.load_text(path=str(tmp_path / "missing.txt"))
  bad = tmp_path / "bad.txt"
  bad.write_bytes(b"abc\xff\xfedef")
  with pytest.raises(ValueError, match="UTF-8"):
    text.load_text(path=str(bad), seq_len=2)
  short = _write(tmp_path, "abcdefghij" * 5)  # 50 characters: valid gets 5 < 8
  with pytest.raises(ValueError, match="split 'valid'.*seq_len=8"):
    text.load_text(path=short, seq_len=8)
  with pytest.raises(ValueError, match="valid_fraction"):
    text.load_text(path=short, valid_fraction=1.0)
  with pytest.raises(ValueError, match="< 1"):
    text.load_text(path=short, valid_fraction=0.5, test_fraction=0.5)
  with pytest.raises(ValueError, match="seq_len"):
    text.load_text(path=short, seq_len=0)
  with pytest.raises(ValueError, match="2 distinct"):
    text.load_text(path=_write(tmp_path, "aaaaaaaaaa", "one.txt"), seq_len=1)


def test_tiny_shakespeare_from_a_file_is_load_text(tmp_path):
  content = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20
  path = _write(tmp_path, content)
  ds = text.load_tiny_shakespeare(path=path, seq_len=10)
  ref = text.load_text(path=path, seq_len=10, valid_fraction=0.1)
  np.testing.assert_array_equal(ds.train, ref.train)
  np.testing.assert_array_equal(ds.valid, ref.valid)
  assert ds.info == ref.info and ds.test is None


def test_tiny_shakespeare_from_tfds_mock_data():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=1):
    ds = text.load_tiny_shakespeare(seq_len=3)
    direct = {}
    for split, tfds_split in (("train", "train"), ("valid", "validation"), ("test", "test")):
      source = tfds.data_source("tiny_shakespeare", split=tfds_split, download=False)
      value = source[0]["text"]
      direct[split] = value.decode() if isinstance(value, bytes) else value
  vocab = sorted(set("".join(direct.values())))
  assert ds.info == {"kind": "text", "vocab": vocab} and ds.num_levels == len(vocab)
  for split, part in direct.items():
    n = len(part) // 3
    assert ds.split(split).shape == (n, 3)
    np.testing.assert_array_equal(ds.split(split).reshape(-1), [vocab.index(c) for c in part[:3 * n]])


def test_tiny_shakespeare_not_prepared_says_how(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  with pytest.raises(ValueError, match=r"tfds build tiny_shakespeare[\s\S]*input.txt"):
    text.load_tiny_shakespeare(data_dir=tmp_path, seq_len=10)
