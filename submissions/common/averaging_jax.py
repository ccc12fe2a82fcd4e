"""LAWA queue and EMA of parameters for JAX submissions, on the fused kernels by default.

The queue is k slot trees plus their running sum (sum += p - oldest; oldest <- p); the average is sum / k.
Each function is jitted with the updated buffers donated, so the kernels (lawa_push, ema, scale_copy) update
them in place; ALGOPERF_KERNELS=off runs the same formulas as jax.numpy. Trees hold float32 leaves.
The slot to replace is a static index (at most k compilations of a tiny function).
"""
import functools

import jax
import jax.numpy as jnp

from submissions.common import kernel_switch


def zeros_like_tree(params):
  return jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)


def _kernel_apply(op, lists, dyn, n_out):
  from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
  return jax_ops.apply(op, lists, {}, dyn)[:n_out]


def lerp(a, b, w: float):
  """torch.lerp's two-branch form (what the kernels compute): exact at w = 1."""
  if abs(w) < 0.5:
    return a + w * (b - a)
  return b - (b - a) * (1.0 - w)


@functools.partial(jax.jit, static_argnums=(3,), donate_argnums=(0, 1))
def _push(sums, slot, params, use_kernels):
  leaves, treedef = jax.tree.flatten(params)
  s, o = treedef.flatten_up_to(sums), treedef.flatten_up_to(slot)
  if use_kernels:
    new_s, new_o = _kernel_apply('lawa_push', [s, o, leaves], {}, 2)
  else:
    new_s = [a + (p - b) for a, b, p in zip(s, o, leaves)]
    new_o = [p + 0.0 for p in leaves]
  return jax.tree.unflatten(treedef, new_s), jax.tree.unflatten(treedef, new_o)


def push(queue, params, index: int):
  """Replaces slot `index` by params and updates the running sum; returns the new queue dict."""
  sums, slot = _push(queue['sums'], queue['slots'][index], params, kernel_switch.kernels_enabled())
  slots = tuple(slot if i == index else s for i, s in enumerate(queue['slots']))
  return {'sums': sums, 'slots': slots}


def new_queue(params, k: int):
  return {'sums': zeros_like_tree(params), 'slots': tuple(zeros_like_tree(params) for _ in range(k))}


@functools.partial(jax.jit, static_argnums=(1, 2))
def _average(sums, k, use_kernels):
  leaves, treedef = jax.tree.flatten(sums)
  if use_kernels:
    outs = [jnp.zeros_like(s) for s in leaves]
    (out,) = _kernel_apply('scale_copy', [outs, leaves], dict(scale=1.0 / k), 1)
  else:
    out = [s * jnp.float32(1.0 / k) for s in leaves]
  return jax.tree.unflatten(treedef, out)


def average(queue, k: int):
  """The mean of the k queued snapshots, as a new tree."""
  return _average(queue['sums'], int(k), kernel_switch.kernels_enabled())


@functools.partial(jax.jit, static_argnums=(2, 3), donate_argnums=(0,))
def _ema(shadow, params, decay, use_kernels):
  if use_kernels:
    from algoperf_kernels import optax_ops  # pylint: disable=import-outside-toplevel
    return optax_ops.ema(shadow, params, decay)
  return jax.tree.map(lambda e, p: lerp(e, p, 1.0 - decay), shadow, params)


def ema_push(shadow, params, decay: float, first: bool):
  """shadow <- decay shadow + (1 - decay) params; the first snapshot is copied."""
  return _ema(shadow, params, 0.0 if first else float(decay), kernel_switch.kernels_enabled())
