"""Pretrained weights without the repository (issue 17, section 4): the package's index of manifests, the
download from a base URL into the cache with sha256 checks, and its errors, offline through ``file://``.

An install from a wheel is simulated by pointing the package at a missing ``pretrained/`` folder; the
"remote" is a copy of one shipped checkpoint in ``tmp_path``.
"""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from armodels_jax import checkpointing
from armodels_jax import pretrained

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_DIR = os.path.join(REPO, "pretrained")
NAME = "row_lstm_binarized_mnist"  # the smallest shipped checkpoint


@pytest.fixture
def wheel(tmp_path, monkeypatch):
  """No checkout folder, an empty cache, and a remote copy of NAME; returns (remote folder, base URL)."""
  monkeypatch.delenv("ARMODELS_PRETRAINED", raising=False)
  monkeypatch.delenv("ARMODELS_PRETRAINED_URL", raising=False)
  monkeypatch.setenv("ARMODELS_CACHE", str(tmp_path / "cache"))
  monkeypatch.setattr(pretrained, "directory", lambda: str(tmp_path / "no_checkout"))
  remote = tmp_path / "remote"
  shutil.copytree(os.path.join(SHIPPED_DIR, NAME), remote / NAME)
  return remote, (remote.as_uri())


def _chunk(folder):
  files = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs]
  return max(files, key=os.path.getsize)


def test_index_matches_the_shipped_manifests(tmp_path):
  """The package's index is pretrained/*/manifest.json, and write_index regenerates it byte for byte."""
  index = pretrained.index()
  shipped = sorted(n for n in os.listdir(SHIPPED_DIR)
                   if os.path.isfile(os.path.join(SHIPPED_DIR, n, pretrained.MANIFEST_FILE)))
  assert sorted(index) == shipped
  for name in shipped:
    with open(os.path.join(SHIPPED_DIR, name, pretrained.MANIFEST_FILE)) as f:
      assert index[name] == json.load(f), name
    assert set(index[name]["sizes"]) == set(index[name]["files"]), name
  out = tmp_path / "index.json"
  pretrained.write_index(SHIPPED_DIR, str(out))
  with open(pretrained.INDEX_FILE) as f:
    assert out.read_text() == f.read(), "regenerate: python experiments/make_pretrained.py --index"


def test_download_verifies_caches_and_loads(wheel, monkeypatch):
  remote, url = wheel
  assert NAME in pretrained.names()  # From the index, with no checkout folder.
  assert pretrained.manifest(NAME)["files"] == pretrained.index()[NAME]["files"]  # no download needed
  model, variables = pretrained.load(NAME, base_url=url)
  cached = os.path.join(pretrained.cache_directory(), NAME)
  assert os.path.isfile(os.path.join(cached, pretrained.MANIFEST_FILE))
  pretrained.verify(cached)
  _, reference = pretrained.load(os.path.join(SHIPPED_DIR, NAME))
  for a, b in zip(jax.tree.leaves(variables), jax.tree.leaves(reference), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Second use: from the cache, the remote no longer needed ($ARMODELS_PRETRAINED_URL is the default).
  shutil.rmtree(remote)
  monkeypatch.setenv("ARMODELS_PRETRAINED_URL", url)
  assert pretrained.load(NAME)[0] == model


def test_tampered_download_is_refused_and_not_cached(wheel):
  remote, url = wheel
  chunk = _chunk(remote / NAME)
  data = bytearray(open(chunk, "rb").read())
  data[len(data) // 2] ^= 0x01
  open(chunk, "wb").write(bytes(data))
  rel = os.path.relpath(chunk, remote / NAME).replace(os.sep, "/")
  with pytest.raises(checkpointing.CheckpointError, match=f"{rel} has sha256 .*tampered"):
    pretrained.load(NAME, base_url=url)
  cached = os.path.join(pretrained.cache_directory(), NAME, *rel.split("/"))
  assert not os.path.exists(cached) and not os.path.exists(cached + ".part")


def test_missing_remote_file_and_offline_are_clear_errors(wheel, monkeypatch):
  remote, url = wheel
  for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
    monkeypatch.delenv(proxy, raising=False)
  os.remove(remote / NAME / "model.json")
  with pytest.raises(FileNotFoundError, match=f"{NAME}/model.json not found"):
    pretrained.load(NAME, base_url=url)
  # Port 9 (discard) on the loopback refuses at once: what an offline machine sees, without waiting.
  with pytest.raises(ConnectionError, match="offline.*ARMODELS_PRETRAINED"):
    pretrained.load(NAME, base_url="http://127.0.0.1:9/pretrained")
  with pytest.raises(ValueError, match="unknown pretrained checkpoint 'nope'"):
    pretrained.load("nope", base_url=url)
