"""The fused kernels as XLA FFI custom calls (CPU, and CUDA when built with nvcc).

One handler serves every op: operand 0 is a float32 vector of the per-step scalars (lr, step,
...), so a new lr or step is new data, never a recompilation; then come the arrays of every
list the op uses; the results are the arrays of every list it writes, each aliased to its
operand, so under jax.jit with those arguments donated the update happens in place, with no
copy and no new allocation (write-only lists, such as the bf16 copy of a parameter, are passed
in only to be aliased).
"""
import jax
import jax.numpy as jnp
import numpy as np

from algoperf_kernels import _C
from algoperf_kernels import core

TARGET = 'algoperf_kernels_apply'
_registered = []


def register() -> None:
  """Registers the handlers with XLA (idempotent)."""
  if _registered:
    return
  jax.ffi.register_ffi_target(TARGET, _C.ffi_capsule('cpu'), platform='cpu')
  if _C.built_with_cuda():
    jax.ffi.register_ffi_target(TARGET, _C.ffi_capsule('cuda'), platform='CUDA')
  _registered.append(True)


def _describe(arrays) -> core.ListInfo:
  """Abstract facts (shapes, dtypes) suffice: XLA owns the memory."""
  n = len(arrays)
  return core.ListInfo([tuple(x.shape) for x in arrays], [jnp.dtype(x.dtype).name for x in arrays], ['xla'] * n,
                       [True] * n, [1] * n, [int(np.prod(x.shape, dtype=np.int64)) for x in arrays])


def apply(op: str, lists, hyper: dict, dyn: dict, *, flags: int = 0, write_over=None):
  """Runs `op` on lists of arrays (kernel list order, None for unused lists).

  Returns the new arrays of every written list, as a list of lists (None where not written). Reducing ops
  (op_info's reduce: amos_sums, prodigy_sums, graft) return (that, sums): sums is a float32 array of shape
  (n, num_sums), accumulated in float64 in a fixed order and rounded once. Ops with per-tensor scalars take
  each dyn value as a scalar or a sequence of n scalars.
  write_over: {l: k} writes write-only list l over the buffers of read-only list k (lists[l] is
  None; the results of l alias the operands of k): `triad` a <- b + s c in place of b, with no
  operand passed twice (which would make XLA copy it). Donate k's arrays, else XLA copies them
  first, as for any in-place result.
  """
  register()
  spec = core.SPECS[op]
  info = core.op_info(op, flags)
  write_over = dict(write_over or {})
  write_only = info['write'] & ~info['read']
  lists = list(lists)
  for l, k in write_over.items():
    if not ((write_only >> l) & 1 and (info['read'] >> k) & 1 and not (info['write'] >> k) & 1):
      raise ValueError(f'{op}: write_over={{{l}: {k}}} needs list {l} written only and list {k} read only')
    if lists[l] is not None:
      raise ValueError(f'{op}: list {l} is written over list {k}; pass None for it')
    if (info['half'] >> l) & 1 != (info['half'] >> k) & 1:
      raise ValueError(f'{op}: lists {l} and {k} differ in dtype; one cannot be written over the other')
    lists[l] = lists[k]
  if write_over and set(write_over) != {l for l in range(info['depth']) if (write_only >> l) & 1}:
    raise ValueError(f'{op}: write_over must name every write-only list (the kernel takes operands for all or none)')
  core.validate(op, flags, [None if lst is None else _describe(lst) for lst in lists])
  used = (info['read'] | info['write']) & ~(write_only if write_over else 0)
  first = next(lists[l] for l in range(info['depth']) if (used >> l) & 1)
  n = len(first)
  if info['per_tensor_dyn']:
    col = lambda v: jnp.broadcast_to(jnp.stack([jnp.asarray(x, jnp.float32).reshape(()) for x in v])
                                     if isinstance(v, (list, tuple)) else jnp.asarray(v, jnp.float32), (n,))
    operands = [jnp.stack([col(dyn[k]) for k in spec.dyn], axis=1).reshape(-1)]
  else:
    operands = [jnp.stack([jnp.asarray(dyn[k], jnp.float32).reshape(()) for k in spec.dyn])
                if spec.dyn else jnp.zeros((0,), jnp.float32)]
  operand_index = {}
  for l in range(info['depth']):
    if (used >> l) & 1:
      for t, x in enumerate(lists[l]):
        operand_index[(l, t)] = len(operands)
        operands.append(x)
  results, aliases, layout = [], {}, []
  for l in range(info['depth']):
    if (info['write'] >> l) & 1:
      layout.append(l)
      src = write_over.get(l, l)
      for t, x in enumerate(lists[l]):
        if (src, t) in operand_index:
          aliases[operand_index[(src, t)]] = len(results)
        results.append(jax.ShapeDtypeStruct(x.shape, x.dtype))
  ns = info['num_sums']
  if info['reduce']:
    # The sums, then a workspace for the CUDA backend's float64 partials and sums (see ffi_handlers.cc).
    chunks = int(_C.chunk_bases([int(np.prod(x.shape, dtype=np.int64)) for x in first])[-1])
    results.append(jax.ShapeDtypeStruct((n * ns,), jnp.float32))
    results.append(jax.ShapeDtypeStruct((2 * (chunks + n) * ns,), jnp.float32))
  call = jax.ffi.ffi_call(TARGET, results, input_output_aliases=aliases, vmap_method='sequential')
  outs = call(*operands, op=np.int64(core.OPS[op]), flags=np.int64(flags), n=np.int64(n),
              hyper=np.array([float(hyper[k]) for k in spec.hyper], np.float64))
  new = [None] * info['depth']
  for i, l in enumerate(layout):
    new[l] = list(outs[i * n:(i + 1) * n])
  if info['reduce']:
    return new, outs[len(layout) * n].reshape(n, ns)
  return new
