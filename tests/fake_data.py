"""Small synthetic files in the formats of the shared datasets that have no embedded stand-in
(FSDD audio, plain text), for tests that run the loaders and configs without ../shared."""

import numpy as np


def write_fake_fsdd(path, num_per_digit: int = 6, seed: int = 0) -> str:
  """Writes a small FSDD-format npz (2 speakers x 10 digits x `num_per_digit` recordings of tones,
  8 kHz int16, indices 0.. so that indices <= 4 form the test split) and returns its path."""
  rng = np.random.default_rng(seed)
  speakers = np.array(["ann", "bob"])
  audio, offsets, digit, speaker, index, names = [], [0], [], [], [], []
  for d in range(10):
    for s in range(len(speakers)):
      for i in range(num_per_digit):
        n = int(rng.integers(600, 1400))
        t = np.arange(n) / 8000.0
        wave = 0.3 * np.sin(2 * np.pi * (200 + 60 * d + 30 * s) * t) + 0.01 * rng.normal(size=n)
        audio.append(np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16))
        offsets.append(offsets[-1] + n)
        digit.append(d)
        speaker.append(s)
        index.append(i)
        names.append(f"{d}_{speakers[s]}_{i}.wav")
  path = str(path)
  np.savez_compressed(
      path, audio=np.concatenate(audio), offsets=np.array(offsets, np.int64),
      digit=np.array(digit, np.uint8), speaker=np.array(speaker, np.uint8), speakers=speakers,
      index=np.array(index, np.uint8), is_test=np.array(index) <= 4, filenames=np.array(names),
      sample_rate=np.int32(8000))
  return path


def write_fake_text(path, num_chars: int = 6000, seed: int = 0) -> str:
  """Writes a small UTF-8 text of repeated Shakespeare-like lines (with a non-ASCII character)."""
  rng = np.random.default_rng(seed)
  words = ["to", "be", "or", "not", "that", "is", "the", "question", "ROMEO:", "JULIET:", "café"]
  out = []
  size = 0
  while size < num_chars:
    line = " ".join(rng.choice(words, size=int(rng.integers(3, 9)))) + ".\n"
    out.append(line)
    size += len(line)
  path = str(path)
  with open(path, "w", encoding="utf-8") as f:
    f.write("".join(out)[:num_chars])
  return path
