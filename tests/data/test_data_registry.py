"""Tests of `load`'s name and option checks."""

import pytest

from armodels_jax import data


def test_names():
  assert set(data.names()) >= {"digits", "binarized_mnist", "mnist", "npz"}


@pytest.mark.parametrize("name", ["cifar", "tfds:", "", "Digits"])
def test_unknown_name(name):
  with pytest.raises(ValueError, match=r"Expected a dataset name in .*digits"):
    data.load(name)


def test_unknown_option_names_allowed_ones():
  with pytest.raises(ValueError, match=r"\['binarize'\].*\['bianrize'\]"):
    data.load("digits", bianrize=True)
  with pytest.raises(ValueError, match=r"'train_split'.*\['split'\]"):
    data.load("tfds:mnist", split="train")


def test_missing_required_option():
  with pytest.raises(ValueError, match=r"\['path'\]"):
    data.load("npz")
