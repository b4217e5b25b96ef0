"""The PyTorch peer of ``bench_train.py``'s matched cases: the same four shapes, an Adam step each.

    /tmp/torchvenv/bin/python experiments/bench_peer_torch.py [--cases made,nade] [--json FILE]

PyTorch is not a dependency of the project: install the CPU build in a separate environment, e.g.
``python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy`` (nothing else of the
project is imported, so no other package is needed). The tests never import this file.

The models are written here from the architecture descriptions of pytorch-generative's defaults (the
library the project compares against), in the straightforward PyTorch style of that library: masked
layers multiply their weight by a mask buffer in ``forward``, and NADE runs a Python loop over the 784
dimensions. Each step is ``loss = -log_likelihood.mean(); loss.backward(); opt.step(); opt.zero_grad()``
(Adam, learning rate 1e-3) on one fixed batch of random binary 28x28 data, with ``torch.set_num_threads``
(default 2). Printed: median / min / max seconds over ``--steps`` (10) after ``--warmup`` (3) steps.

* ``made``: MADE 784-500-784, ReLU, one fixed mask set (input degrees 1..784 in order, hidden degrees
  drawn uniformly from 1..783), Bernoulli logits; batch 64.
* ``nade``: NADE with 500 sigmoid hidden units (a_{d+1} = a_d + W[:, d] x_d, h_d = sigmoid(a_d),
  logit_d = V_d . h_d + b_d), a Python loop over the dimensions; batch 64.
* ``pixelcnn``: 7x7 mask-A conv 1 -> 128, 12 residual blocks (ReLU, 1x1 128 -> 64, ReLU, 3x3 mask-B
  64 -> 64, ReLU, 1x1 64 -> 128, plus the input), head ReLU, 1x1 128 -> 32, ReLU, 1x1 32 -> 1; batch 16.
* ``gated_pixelcnn``: 10 gated layers of 128 maps with 3x3 receptive rows (vertical stack: a 2x3 conv to
  256 maps, shifted down one row for the link; horizontal stack: a 1x2 conv to 256 maps, mask B, plus a
  1x1 256 -> 256 link from the vertical stack; gates tanh * sigmoid; 1x1 128 -> 128 on the horizontal
  output with a residual), the first layer from the 1 input channel with mask A and no residual; head 1x1
  128 -> 32, ReLU, 1x1 32 -> 1; batch 16.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

SIDE = 28
NUM_DIMS = SIDE * SIDE


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
  """Mean over the batch of the summed negative Bernoulli log-likelihood (nats)."""
  per_dim = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
  return per_dim.reshape(x.shape[0], -1).sum(dim=1).mean()


# ---------------------------------------------------------------------------------------------------
# MADE


class MaskedLinear(nn.Linear):
  """A linear layer whose weight is multiplied by a fixed 0/1 mask in every forward pass."""

  def __init__(self, fan_in: int, fan_out: int, mask: torch.Tensor):
    super().__init__(fan_in, fan_out)
    self.register_buffer("mask", mask.to(self.weight.dtype))  # [fan_out, fan_in]

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):

  def __init__(self, num_dims: int = NUM_DIMS, hidden: int = 500, seed: int = 0):
    super().__init__()
    gen = torch.Generator().manual_seed(seed)
    in_degree = torch.arange(1, num_dims + 1)                        # the identity ordering
    hid_degree = torch.randint(1, num_dims, (hidden,), generator=gen)  # 1 .. D-1
    hidden_mask = hid_degree[:, None] >= in_degree[None, :]         # [H, D]
    out_mask = in_degree[:, None] > hid_degree[None, :]             # [D, H]
    self.hidden = MaskedLinear(num_dims, hidden, hidden_mask)
    self.out = MaskedLinear(hidden, num_dims, out_mask)

  def loss(self, x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(x.shape[0], -1)
    return bernoulli_nll(self.out(torch.relu(self.hidden(flat))), flat)


# ---------------------------------------------------------------------------------------------------
# NADE


class NADE(nn.Module):

  def __init__(self, num_dims: int = NUM_DIMS, hidden: int = 500):
    super().__init__()
    self.num_dims = num_dims
    self.W = nn.Parameter(torch.randn(hidden, num_dims) * 0.01)   # input weights, column d for x_d
    self.c = nn.Parameter(torch.zeros(hidden))
    self.V = nn.Parameter(torch.randn(num_dims, hidden) * 0.01)   # output weights, row d for x_d
    self.b = nn.Parameter(torch.zeros(num_dims))

  def loss(self, x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(x.shape[0], -1)
    a = self.c.expand(flat.shape[0], -1)
    logits = []
    for d in range(self.num_dims):
      h = torch.sigmoid(a)
      logits.append(h @ self.V[d] + self.b[d])                   # [B]
      a = a + flat[:, d:d + 1] * self.W[:, d]                     # add x_d's contribution
    return bernoulli_nll(torch.stack(logits, dim=1), flat)


# ---------------------------------------------------------------------------------------------------
# PixelCNN


def causal_mask(out_ch: int, in_ch: int, kh: int, kw: int, kind: str) -> torch.Tensor:
  """The 0/1 mask of a raster-order masked kernel centred at (kh // 2, kw // 2) (one image channel, so
  no channel groups): rows below the centre are cut, and in the centre row the columns right of the
  centre, and the centre itself for mask 'A'."""
  mask = torch.ones(out_ch, in_ch, kh, kw)
  ci, cj = kh // 2, kw // 2
  mask[:, :, ci + 1:, :] = 0
  mask[:, :, ci, cj + (1 if kind == "B" else 0):] = 0
  return mask


class MaskedConv2d(nn.Conv2d):
  """A 'same'-padded conv whose weight is multiplied by a mask buffer in every forward pass."""

  def __init__(self, in_ch: int, out_ch: int, kernel: int, kind: str):
    super().__init__(in_ch, out_ch, kernel, padding=kernel // 2)
    self.register_buffer("mask", causal_mask(out_ch, in_ch, kernel, kernel, kind))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ResidualBlock(nn.Module):

  def __init__(self, features: int):
    super().__init__()
    half = features // 2
    self.reduce = nn.Conv2d(features, half, 1)
    self.conv = MaskedConv2d(half, half, 3, "B")
    self.expand = nn.Conv2d(half, features, 1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    y = self.reduce(torch.relu(x))
    y = self.conv(torch.relu(y))
    y = self.expand(torch.relu(y))
    return x + y


class PixelCNN(nn.Module):

  def __init__(self, features: int = 128, blocks: int = 12, head: int = 32):
    super().__init__()
    self.first = MaskedConv2d(1, features, 7, "A")
    self.blocks = nn.ModuleList([ResidualBlock(features) for _ in range(blocks)])
    self.head1 = nn.Conv2d(features, head, 1)
    self.head2 = nn.Conv2d(head, 1, 1)

  def loss(self, x: torch.Tensor) -> torch.Tensor:
    y = self.first(x)
    for block in self.blocks:
      y = block(y)
    logits = self.head2(torch.relu(self.head1(torch.relu(y))))
    return bernoulli_nll(logits, x)


# ---------------------------------------------------------------------------------------------------
# Gated PixelCNN


class GatedLayer(nn.Module):
  """One layer of the two stacks; ``first`` takes the image (mask A, no residual)."""

  def __init__(self, in_ch: int, features: int, kernel: int, first: bool):
    super().__init__()
    self.first = first
    self.pad = kernel // 2
    # Vertical: rows i-pad..i, all columns j-pad..j+pad.
    self.vertical = nn.Conv2d(in_ch, 2 * features, (self.pad + 1, kernel))
    self.link = nn.Conv2d(2 * features, 2 * features, 1)
    # Horizontal: columns j-pad..j of row i; mask A drops column j itself.
    self.horizontal = nn.Conv2d(in_ch, 2 * features, (1, self.pad + 1))
    hmask = torch.ones(2 * features, in_ch, 1, self.pad + 1)
    if first:
      hmask[..., -1] = 0
    self.register_buffer("hmask", hmask)
    self.out = nn.Conv2d(features, features, 1)

  @staticmethod
  def gate(y: torch.Tensor) -> torch.Tensor:
    a, b = y.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)

  def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    height = v.shape[2]
    v_pre = self.vertical(F.pad(v, (self.pad, self.pad, self.pad, 0)))        # [B, 2F, H, W]
    above = F.pad(v_pre, (0, 0, 1, 0))[:, :, :height, :]                      # row i <- row i-1
    h_pre = F.conv2d(F.pad(h, (self.pad, 0, 0, 0)), self.horizontal.weight * self.hmask,
                     self.horizontal.bias)
    h_out = self.out(self.gate(h_pre + self.link(above)))
    if not self.first:
      h_out = h_out + h
    return self.gate(v_pre), h_out


class GatedPixelCNN(nn.Module):

  def __init__(self, features: int = 128, layers: int = 10, kernel: int = 3, head: int = 32):
    super().__init__()
    self.layers = nn.ModuleList(
        [GatedLayer(1 if i == 0 else features, features, kernel, first=i == 0) for i in range(layers)])
    self.head1 = nn.Conv2d(features, head, 1)
    self.head2 = nn.Conv2d(head, 1, 1)

  def loss(self, x: torch.Tensor) -> torch.Tensor:
    v = h = x
    for layer in self.layers:
      v, h = layer(v, h)
    return bernoulli_nll(self.head2(torch.relu(self.head1(h))), x)


# ---------------------------------------------------------------------------------------------------

CASES = {
    # name: (constructor, batch, input shape per example, the matched JAX case)
    "made": (MADE, 64, (NUM_DIMS,), "made_peer"),
    "nade": (NADE, 64, (NUM_DIMS,), "nade_peer"),
    "pixelcnn": (PixelCNN, 16, (1, SIDE, SIDE), "pixelcnn_peer"),
    "gated_pixelcnn": (GatedPixelCNN, 16, (1, SIDE, SIDE), "gated_pixelcnn_peer"),
}


def bench(name: str, steps: int, warmup: int, seed: int) -> dict:
  build, batch, shape, jax_case = CASES[name]
  torch.manual_seed(seed)
  model = build()
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)
  x = torch.randint(0, 2, (batch,) + shape, generator=torch.Generator().manual_seed(seed)).float()
  times = []
  loss = None
  for i in range(warmup + steps):
    start = time.perf_counter()
    loss = model.loss(x)
    loss.backward()
    opt.step()
    opt.zero_grad()
    if i >= warmup:
      times.append(time.perf_counter() - start)
  median = statistics.median(times)
  return dict(case=name, jax_case=jax_case, batch=batch,
              params=sum(p.numel() for p in model.parameters()), times_s=times, median_s=median,
              min_s=min(times), max_s=max(times), examples_per_s=batch / median,
              final_loss=float(loss.detach()))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {list(CASES)}")
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--json", default="")
  args = parser.parse_args(argv)
  names = [c.strip() for c in args.cases.split(",") if c.strip()]
  unknown = [n for n in names if n not in CASES]
  if unknown:
    raise SystemExit(f"unknown cases {unknown}; expected some of {list(CASES)}")
  torch.set_num_threads(args.threads)
  print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()}", flush=True)

  rows = []
  for name in names:
    row = bench(name, args.steps, args.warmup, args.seed)
    print(f"{name}: {row['median_s']:.4f} s/step", flush=True)
    rows.append(row)

  print()
  print("| case | matches | batch | params | median s | min s | max s | ex/s |")
  print("| --- | --- | --- | --- | --- | --- | --- | --- |")
  for r in rows:
    print(f"| {r['case']} | {r['jax_case']} | {r['batch']} | {r['params']:,} | {r['median_s']:.4f} "
          f"| {r['min_s']:.4f} | {r['max_s']:.4f} | {r['examples_per_s']:.1f} |")
  if args.json:
    result = dict(date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  command=" ".join([os.path.basename(sys.executable)] + sys.argv),
                  torch=torch.__version__, threads=args.threads, cpu_count=os.cpu_count(),
                  machine=platform.processor() or platform.machine(), steps=args.steps,
                  warmup=args.warmup, load_average_end=list(os.getloadavg()), results=rows)
    with open(args.json, "w") as f:
      json.dump(result, f, indent=2)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
  main()
