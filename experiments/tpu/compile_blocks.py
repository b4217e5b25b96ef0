r"""What one PixelCNN++ gated resnet costs XLA:TPU to compile, unrolled and scanned (issue 28).

The train step (forward and backward, gradient averaged over ``'data'``) of N gated resnets
(:class:`armodels_jax.layers.shifted_conv.GatedResnet`, F filters, 32 x 32, global batch 64 on the
compile-only chips of ``v5e:2x2``), written as N module calls or as one ``lax.scan`` over the blocks'
stacked parameters. Prints the compile's wall and CPU seconds and the per-chip generated code and
temporaries (``memory_analysis()``). Needs libtpu (``pip install -e '.[tpu]'``)::

  JAX_PLATFORMS=cpu python experiments/tpu/compile_blocks.py unrolled 1 160
  JAX_PLATFORMS=cpu python experiments/tpu/compile_blocks.py scan 4 160

Results: BENCHMARKS.md, "TPU plan".
"""

import sys
import time

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P

from armodels_jax import aot
from armodels_jax.layers import conv_ops
from armodels_jax.layers.shifted_conv import GatedResnet
from armodels_jax.training import sharding as shd


def main(mode: str, n: int, features: int) -> None:
  if mode not in ("unrolled", "scan"):
    raise SystemExit(f"expected mode 'unrolled' or 'scan', got {mode!r}")
  mesh = shd.make_mesh(aot.topology_devices("v5e:2x2")[0])
  block = GatedResnet(features, "down", 0.0, width=32)

  def step(params, x):
    def loss(params):
      if mode == "scan":
        h, _ = jax.lax.scan(lambda h, p: (block.apply({"params": p}, h), None), x, params)
      else:
        h = x
        for k in range(n):
          h = block.apply({"params": jax.tree.map(lambda a, k=k: a[k], params)}, h)
      return h.sum()
    return jax.lax.pmean(jax.grad(loss)(params), shd.DATA_AXIS)

  step = jax.shard_map(step, mesh=mesh, in_specs=(P(), P(shd.DATA_AXIS)), out_specs=P(),
                       check_vma=False)
  with conv_ops.compiling_for("tpu"):
    one = jax.eval_shape(block.init, jax.random.key(0), jnp.zeros((1, 32, 32, features)))["params"]
    params = jax.tree.map(lambda s: jax.ShapeDtypeStruct((n,) + s.shape, s.dtype,
                                                         sharding=NamedSharding(mesh, P())), one)
    x = jax.ShapeDtypeStruct((64, 32, 32, features), jnp.float32,
                             sharding=NamedSharding(mesh, P(shd.DATA_AXIS)))
    jax.config.update("jax_enable_compilation_cache", False)
    t0, c0 = time.perf_counter(), time.process_time()
    compiled = jax.jit(step).lower(params, x).compile()
  mem = compiled.memory_analysis()
  print(f"{mode} N={n} F={features}: compile {time.perf_counter() - t0:.1f} s wall, "
        f"{time.process_time() - c0:.1f} s CPU; per chip code {mem.generated_code_size_in_bytes / 2**20:.2f} "
        f"MiB, temporaries {mem.temp_size_in_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
  main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
