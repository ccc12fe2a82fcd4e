"""Distributed Shampoo for JAX: the twin of torch_shampoo.py (same plan, same math; see its docstring).

State: per parameter the grafting moments (m, a; canonical layout, merged shape) and momentum u (native
layout); per factor size d a stack (n_d, d, d) of factors and one of roots, with a per-root `ok` flag. The
stacks are sharded over the device mesh along their first axis, and the eigendecompositions run under
shard_map: each device computes the roots of its share of the blocks, and XLA gathers them where a block's
preconditioning needs them. The step is one jitted function with three static phases (grafting only;
preconditioned; preconditioned with a root computation), chosen on the host from the step count and passed as traced flags (lax.cond), so one executable serves
every step (a static flag would compile three).

Kernels: the momentum/decay/parameter step runs on the fused `sgd` op (Shampoo's EMA-Nesterov form) when
momentum is used. The fused `graft` op returns per-block sums, which XLA FFI cannot (reductions are not
exposed there), so the grafting step is jnp code that XLA fuses.
"""
import functools
import logging
from typing import Any, Dict, List

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from algoperf import jax_sharding_utils
from submissions.common import jax_matrix_roots
from submissions.common import shampoo_blocks
from submissions.common.precond_config import ShampooConfig

log = logging.getLogger(__name__)


def path_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', getattr(k, 'idx', k))) for k in path)


def factor_update(g, k):
  dims = [i for i in range(g.ndim) if i != k]
  return jnp.tensordot(g, g, axes=(dims, dims))


def precondition(m, roots):
  out = m
  for q in roots:
    out = jnp.tensordot(out, q, axes=([0], [0]))
  return out


def block_slices(block):
  return tuple(slice(a, b) for a, b in block.ranges)


def to_canonical(x, plan):
  if plan.axes != tuple(range(len(plan.axes))):
    x = jnp.transpose(x, plan.axes)
  return x.reshape(plan.merged)


def from_canonical(x, plan):
  x = x.reshape(plan.canonical_shape)
  if plan.axes != tuple(range(len(plan.axes))):
    x = jnp.transpose(x, plan.inverse_axes)
  return x


def cond(pred, true_fn, false_fn, operand):
  """lax.cond for a traced flag; plain Python branching for a Python bool (a static phase)."""
  if isinstance(pred, (bool, np.bool_)):
    return true_fn(operand) if pred else false_fn(operand)
  return jax.lax.cond(pred, true_fn, false_fn, operand)


def assemble(parts, plan):
  """The merged-shape array from its blocks (one block: itself)."""
  if len(parts) == 1 and parts[0][0].shape == plan.merged:
    return parts[0][1]
  out = jnp.zeros(plan.merged, jnp.float32)
  for block, x in parts:
    out = out.at[block_slices(block)].set(x)
  return out


class Shampoo:
  """Plans, state and the jitted optimizer step for one parameter tree."""

  def __init__(self, params, config: ShampooConfig, use_kernels: bool = True, kind_fn=None, rules_shape_fn=None):
    """rules_shape_fn(name, shape): the shape the graft-only rule sees (shampoo_blocks.full_scale_shape)."""
    self.config = c = config
    self.use_kernels = use_kernels
    leaves, self.treedef = jax.tree_util.tree_flatten_with_path(params)
    self.names = [path_name(p) for p, _ in leaves]
    kind_fn = kind_fn or shampoo_blocks.flax_kind
    rules_shape_fn = rules_shape_fn or shampoo_blocks.own_shape
    plans = [shampoo_blocks.shampoo_plan(n, x.shape, kind_fn(n, x.ndim), c.max_preconditioner_dim,
                                         rules_shape_fn(n, x.shape))
             for n, (_, x) in zip(self.names, leaves)]
    for plan in plans:
      if not plan.blocks:
        log.warning('Shampoo: parameter %s (shape %s) takes the grafting update only: %s.', plan.name,
                    tuple(plan.shape), plan.reason)
    self.layout = shampoo_blocks.assign_slots(plans)
    self.plans = self.layout.params
    self.mesh = jax_sharding_utils.get_mesh()
    self.shards = self.mesh.devices.size
    self.sizes = [d for d, _ in self.layout.groups]
    exps = {d: np.full(shampoo_blocks.padded(n, self.shards), 0.25, np.float32) for d, n in self.layout.groups}
    for plan in self.plans:
      for block in plan.blocks:
        e = shampoo_blocks.root_exponent(block.order, c.inv_root_override, c.exponent_multiplier)
        for d, slot in zip(block.shape, block.slots):
          exps[d][slot] = e
    self.exponents = {str(d): v for d, v in exps.items()}

  # -- state -----------------------------------------------------------------------------------------------

  def _stack_sharding(self):
    return NamedSharding(self.mesh, PartitionSpec('batch'))

  def init(self, params) -> Dict[str, Any]:
    c = self.config
    leaves = self.treedef.flatten_up_to(params)
    zeros = lambda plan: jnp.zeros(plan.merged, jnp.float32)
    state = {'count': jnp.zeros([], jnp.int32),
             'm': [zeros(p) for p in self.plans] if c.beta1 != 0.0 else None,
             'a': [zeros(p) for p in self.plans] if c.grafting_type == 'ADAM' else None,
             'u': [jnp.zeros(x.shape, jnp.float32) for x in leaves] if c.momentum != 0.0 else None}
    state = jax_sharding_utils.replicate(state)
    stacks = {}
    for d, n in self.layout.groups:
      n = shampoo_blocks.padded(n, self.shards)
      stacks[str(d)] = {'f': jnp.zeros((n, d, d), jnp.float32), 'q': jnp.zeros((n, d, d), jnp.float32),
                        'ok': jnp.zeros((n,), bool)}
    state['stacks'] = jax.device_put(stacks, self._stack_sharding())
    return state

  def state_bytes(self, state) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))

  # -- roots -----------------------------------------------------------------------------------------------

  def _roots(self, stacks, count):
    bc2 = 1.0 - self.config.beta2**count.astype(jnp.float32)
    eps = self.config.epsilon
    out = {}
    for key, s in stacks.items():
      exps = jnp.asarray(self.exponents[key])

      def local(f, q, e):
        return jax_matrix_roots.eigh_inverse_roots(f / bc2, e, eps, q)

      if self.shards > 1:
        spec = PartitionSpec('batch')
        local = jax.shard_map(local, mesh=self.mesh, in_specs=(spec, spec, spec), out_specs=(spec, spec),
                              check_vma=False)
      q, ok = local(s['f'], s['q'], exps)
      out[key] = {'f': s['f'], 'q': q, 'ok': ok}
    return out

  # -- the update ------------------------------------------------------------------------------------------

  def update(self, grads, state, params, lr, *, precondition_now: bool, roots_now: bool):
    """Returns (new_params, new_state). Static flags: use the roots; recompute them first."""
    c = self.config
    g_leaves = self.treedef.flatten_up_to(grads)
    p_leaves = self.treedef.flatten_up_to(params)
    count = state['count'] + 1
    t = count.astype(jnp.float32)
    canon = [to_canonical(g.astype(jnp.float32), plan) for g, plan in zip(g_leaves, self.plans)]

    # 1. Factor statistics.
    contrib = {str(d): [None] * n for d, n in self.layout.groups}
    for plan, g in zip(self.plans, canon):
      for block in plan.blocks:
        gb = g[block_slices(block)]
        for k, (d, slot) in enumerate(zip(block.shape, block.slots)):
          contrib[str(d)][slot] = factor_update(gb, k)
    stacks = {}
    for key, s in state['stacks'].items():
      d = int(key)
      parts = contrib[key] + [jnp.zeros((d, d), jnp.float32)] * (s['f'].shape[0] - len(contrib[key]))
      f = c.beta2 * s['f'] + (1 - c.beta2) * jnp.stack(parts)
      stacks[key] = dict(s, f=jax.lax.with_sharding_constraint(f, self._stack_sharding()))
    stacks = cond(roots_now, lambda s: self._roots(s, count), lambda s: s, stacks)
    stacks = jax.lax.with_sharding_constraint(stacks, self._stack_sharding())

    # 2. Grafting step (element-wise) and filtered gradient.
    new_m, new_a, filtered, gdirs = [], [], [], []
    for i, g in enumerate(canon):
      if c.beta1 != 0.0:
        m = state['m'][i] + (1 - c.beta1) * (g - state['m'][i])
        num = m + (1 - c.beta1) * (g - m) if c.use_nadam else m
        mt = num / (1 - c.beta1**t)
        new_m.append(m)
      else:
        mt = g
      if c.grafting_type == 'ADAM':
        a = c.beta2 * state['a'][i] + (1 - c.beta2) * g * g
        d = mt / (jnp.sqrt(a / (1 - c.beta2**t)) + c.grafting_epsilon)
        new_a.append(a)
      else:
        d = mt
      filtered.append(mt)
      gdirs.append(d)

    # 3. Shampoo directions, grafted per block (from start_preconditioning_step).
    graft_dirs = [from_canonical(gd, plan) for gd, plan in zip(gdirs, self.plans)]
    dirs = cond(precondition_now, lambda ops: self._shampoo_dirs(*ops), lambda ops: graft_dirs,
                (stacks, filtered, gdirs))

    # 4. Weight decay, EMA-Nesterov momentum, parameter step.
    new_u = None
    if c.momentum != 0.0 and self.use_kernels:
      from algoperf_kernels import jax_ops  # pylint: disable=import-outside-toplevel
      hyper = dict(momentum=c.momentum, dampening=c.momentum, weight_decay=c.weight_decay,
                   decoupled_weight_decay=0.0, dir_grad=1 - c.momentum, dir_buf=c.momentum)
      from algoperf_kernels import core  # pylint: disable=import-outside-toplevel
      out = jax_ops.apply('sgd', [p_leaves, dirs, state['u']], hyper, dict(lr=lr, first=0.0),
                          flags=core.flags_for(nesterov=True))
      new_p, new_u = out[0], out[2]
    else:
      new_p, new_u = [], [] if c.momentum != 0.0 else None
      for k, (p, d) in enumerate(zip(p_leaves, dirs)):
        d = d + c.weight_decay * p
        if c.momentum != 0.0:
          u = c.momentum * state['u'][k] + (1 - c.momentum) * d
          d = (1 - c.momentum) * d + c.momentum * u
          new_u.append(u)
        new_p.append(p - lr * d)
    new_state = {'count': count, 'm': new_m if c.beta1 != 0.0 else None,
                 'a': new_a if c.grafting_type == 'ADAM' else None, 'u': new_u, 'stacks': stacks}
    return jax.tree.unflatten(self.treedef, new_p), new_state

  def _shampoo_dirs(self, stacks, filtered, gdirs):
    dirs = []
    for plan, mt, gd in zip(self.plans, filtered, gdirs):
      if not plan.blocks:
        dirs.append(from_canonical(gd, plan))
        continue
      parts = []
      for block in plan.blocks:
        sl = block_slices(block)
        roots = [stacks[str(d)]['q'][slot] for d, slot in zip(block.shape, block.slots)]
        ok = functools.reduce(jnp.logical_and, [stacks[str(d)]['ok'][slot] for d, slot in zip(block.shape, block.slots)])
        dsh = precondition(mt[sl], roots)
        graft_norm = jnp.sqrt(jnp.sum(jnp.square(gd[sl])))
        dsh = dsh * (graft_norm / (jnp.sqrt(jnp.sum(jnp.square(dsh))) + 1e-16))
        parts.append((block, jnp.where(ok, dsh, gd[sl])))
      dirs.append(from_canonical(assemble(parts, plan), plan))
    return dirs

  def failed_blocks(self, state) -> List[str]:
    """Names of the parameters with a block whose last root failed (fetched on the host)."""
    ok = {k: np.asarray(v['ok']) for k, v in state['stacks'].items()}
    out = []
    for plan in self.plans:
      for block in plan.blocks:
        if not all(ok[str(d)][slot] for d, slot in zip(block.shape, block.slots)):
          out.append(f'{plan.name} block {block.ranges}')
    return out
