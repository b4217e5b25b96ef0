"""Masks against their definitions, entry by entry (section 3.4 of Pixel RNN;
section 4 of MADE)."""

import itertools

import numpy as np
import pytest

from armodels_jax.layers import masks


@pytest.mark.parametrize("k,cin,cout,groups", [(7, 3, 6, 3), (3, 4, 8, 2), (5, 1, 2, 1), (1, 3, 3, 3)])
@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_spatial_mask_matches_definition(k, cin, cout, groups, mask_type):
  m = masks.spatial_mask(k, cin, cout, mask_type, groups)
  half = k // 2
  assert m.shape == (half + 1, k, cin, cout)
  for r, c, i, o in itertools.product(range(half + 1), range(k), range(cin), range(cout)):
    gi, go = i // (cin // groups), o // (cout // groups)
    if r < half or c < half:
      want = 1.0  # strictly above, or left of the centre
    elif c > half:
      want = 0.0
    else:
      want = float(gi < go if mask_type == "A" else gi <= go)
    assert m[r, c, i, o] == want, (r, c, i, o)


def test_spatial_mask_errors():
  with pytest.raises(ValueError, match="odd kernel"):
    masks.spatial_mask(4, 1, 1, "A")
  with pytest.raises(ValueError, match="mask_type"):
    masks.spatial_mask(3, 1, 1, "C")
  with pytest.raises(ValueError, match="divisible"):
    masks.spatial_mask(3, 3, 4, "B", num_groups=3)


def test_mask_a_first_channel_sees_nothing_at_centre():
  m = masks.pixel_mask(3, 3, "A", 3)
  np.testing.assert_array_equal(m, [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
  np.testing.assert_array_equal(masks.pixel_mask(3, 3, "B", 3), [[1, 1, 1], [0, 1, 1], [0, 0, 1]])


@pytest.mark.parametrize("seed", [None, 0, 1])
def test_made_masks_are_autoregressive(seed):
  num_dims, hidden = 6, (10, 7)
  rng = None if seed is None else np.random.default_rng(seed)
  order = np.random.default_rng(5).permutation(num_dims)
  degrees = masks.made_degrees(order, hidden, rng)
  layer_masks = masks.made_masks(degrees, params_per_dim=2)
  # Path counts from each input to each output through the masked MLP.
  paths = layer_masks[0]
  for m in layer_masks[1:]:
    paths = paths @ m
  direct = masks.made_direct_mask(degrees[0], params_per_dim=2)
  assert direct.shape == (num_dims, 2 * num_dims)
  paths = paths + direct  # the direct connections obey the same order
  paths = paths.reshape(num_dims, num_dims, 2)  # [in, out, P]
  position = np.argsort(order)
  for d_in, d_out in itertools.product(range(num_dims), range(num_dims)):
    if position[d_in] >= position[d_out]:
      assert paths[d_in, d_out].sum() == 0, (d_in, d_out)
  if seed is None:  # evenly spread degrees keep every allowed connection
    for t in range(1, num_dims):
      assert paths[order[t - 1], order[t]].sum() > 0


def test_made_degrees_rejects_non_permutation():
  with pytest.raises(ValueError, match="permutation"):
    masks.made_degrees([0, 0, 1], (4,), None)


def test_made_direct_mask_is_the_strict_order():
  order = np.array([2, 0, 1])
  degrees = masks.made_degrees(order, (4,), None)
  direct = masks.made_direct_mask(degrees[0])
  # dimension 2 is first (sees nothing), 0 sees 2, 1 sees 2 and 0.
  np.testing.assert_array_equal(direct, [[0, 1, 0], [0, 0, 0], [1, 1, 0]])
