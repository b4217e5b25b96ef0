"""Building blocks: pure NumPy masks and the masked, shifted, gated and attention layers (each with its
decode cache)."""

from armodels_jax.layers import masks
from armodels_jax.layers.attention import CausalSelfAttention, causal_mask
from armodels_jax.layers.causal_conv import CausalConv1D
from armodels_jax.layers.lstm import LSTM, lstm_cell
from armodels_jax.layers.gated_stacks import HorizontalConv, VerticalConv, gate
from armodels_jax.layers.masked_conv import MaskedConv2D
from armodels_jax.layers.masked_dense import MaskedDense
from armodels_jax.layers.running_sum import RunningSum
from armodels_jax.layers.shifted_conv import (DownRightShiftedConv2D, DownRightShiftedDeconv2D,
                                              DownShiftedConv2D, DownShiftedDeconv2D, GatedResnet,
                                              concat_elu, down_shift, right_shift)

__all__ = ["CausalConv1D", "CausalSelfAttention", "DownRightShiftedConv2D", "DownRightShiftedDeconv2D",
           "DownShiftedConv2D", "DownShiftedDeconv2D", "GatedResnet", "HorizontalConv", "LSTM", "MaskedConv2D",
           "MaskedDense", "RunningSum", "VerticalConv", "causal_mask", "concat_elu", "down_shift", "gate",
           "lstm_cell", "masks", "right_shift"]
