"""CASPR Adaptive for JAX (the published framework): the twin of torch_caspr.py; see its docstring for the
update, the departures and the plan.

State: NAdam moments (mu, nu) per parameter; per block L, prev_L, P_L stacked by row count ('left' stacks)
and R, P_R stacked by column count ('right' stacks). The stacks are sharded over the device mesh on their
first axis and the coupled-Newton roots run under shard_map, each device on its share (as the published
code spreads them over the pmap devices). Phases of the jitted step: precondition (t > 101), roots
(t % 20 == 0), fresh (the step after a refresh), passed as traced flags (lax.cond): one executable.
"""
import logging
from typing import Any, Dict, List

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from algoperf import jax_sharding_utils
from submissions.common import jax_matrix_roots
from submissions.common import shampoo_blocks
from submissions.common.jax_shampoo import block_slices, cond, from_canonical, path_name, to_canonical
from submissions.common.precond_config import CasprConfig

log = logging.getLogger(__name__)


def regularized(a):
  n = a.shape[0]
  scale = jnp.trace(a) / n
  safe = jnp.where(scale != 0, scale, 1.0)
  lam = jax_matrix_roots.power_iteration(a / safe) * scale
  return a + 1e-6 * lam * jnp.eye(n, dtype=a.dtype)


class Caspr:

  def __init__(self, params, config: CasprConfig, use_kernels: bool = True, kind_fn=None, rules_shape_fn=None):
    """rules_shape_fn(name, shape): the shape the NAdam limit sees (shampoo_blocks.full_scale_shape)."""
    del use_kernels  # No fused op fits CASPR's JAX step (the graft op's per-tensor sums are not exposed to XLA).
    self.config = config
    leaves, self.treedef = jax.tree_util.tree_flatten_with_path(params)
    self.names = [path_name(p) for p, _ in leaves]
    kind_fn = kind_fn or shampoo_blocks.flax_kind
    rules_shape_fn = rules_shape_fn or shampoo_blocks.own_shape
    plans = [shampoo_blocks.caspr_plan(n, x.shape, kind_fn(n, x.ndim), rules_shape_fn(n, x.shape))
             for n, (_, x) in zip(self.names, leaves)]
    for plan in plans:
      if not plan.blocks and len(plan.merged) >= 2:
        log.warning('CASPR: parameter %s (shape %s) takes the NAdam update: %s.', plan.name, tuple(plan.shape),
                    plan.reason)
    self.left = shampoo_blocks.assign_slots(plans, sides=[0])
    self.right = shampoo_blocks.assign_slots(plans, sides=[1])
    self.plans = plans
    self.mesh = jax_sharding_utils.get_mesh()
    self.shards = self.mesh.devices.size
    # rows of each left slot (the valid rows of its block), for the / rows of R's update and coeff.
    self.blocks = []  # (param index, block, left key, left slot, right key, right slot)
    for i, (lp, rp) in enumerate(zip(self.left.params, self.right.params)):
      for lb, rb in zip(lp.blocks, rp.blocks):
        self.blocks.append((i, lb, str(lb.shape[0]), lb.slots[0], str(rb.shape[1]), rb.slots[1]))

  def _sharding(self):
    return NamedSharding(self.mesh, PartitionSpec('batch'))

  def init(self, params) -> Dict[str, Any]:
    c = self.config
    leaves = self.treedef.flatten_up_to(params)
    state = {'count': jnp.zeros([], jnp.int32), 'mu': [jnp.zeros(x.shape, jnp.float32) for x in leaves],
             'nu': [jnp.zeros(x.shape, jnp.float32) for x in leaves]}
    state = jax_sharding_utils.replicate(state)
    eye = lambda n, d: jnp.broadcast_to(jnp.eye(d, dtype=jnp.float32), (n, d, d))
    left, right = {}, {}
    for d, n in self.left.groups:
      n = shampoo_blocks.padded(n, self.shards)
      left[str(d)] = {'L': c.matrix_epsilon * eye(n, d), 'prev_L': c.matrix_epsilon * eye(n, d), 'P_L': eye(n, d),
                      'ok': jnp.ones((n,), bool)}
    for d, n in self.right.groups:
      n = shampoo_blocks.padded(n, self.shards)
      right[str(d)] = {'R': eye(n, d), 'P_R': eye(n, d), 'ok': jnp.ones((n,), bool)}
    state['left'] = jax.device_put(left, self._sharding())
    state['right'] = jax.device_put(right, self._sharding())
    return state

  def state_bytes(self, state) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))

  def _roots(self, stats, old):
    fn = jax.vmap(jax_matrix_roots.caspr_inverse_root)
    if self.shards > 1:
      spec = PartitionSpec('batch')
      fn = jax.shard_map(fn, mesh=self.mesh, in_specs=(spec, spec), out_specs=(spec, spec), check_vma=False)
    return fn(stats, old)

  def update(self, grads, state, params, lr, *, precondition_now: bool, roots_now: bool, fresh: bool):
    c = self.config
    g_leaves = [g.astype(jnp.float32) for g in self.treedef.flatten_up_to(grads)]
    p_leaves = self.treedef.flatten_up_to(params)
    count = state['count'] + 1
    t = count.astype(jnp.float32)
    mu = [m + (1 - c.beta1) * (g - m) for m, g in zip(state['mu'], g_leaves)]
    nu = [c.beta2 * v + (1 - c.beta2) * g * g for v, g in zip(state['nu'], g_leaves)]
    mbar = [(m + (1 - c.beta1) * (g - m)) / (1 - c.beta1**t) for m, g in zip(mu, g_leaves)]
    adam = [mb / (jnp.sqrt(v / (1 - c.beta2**t)) + c.epsilon) for mb, v in zip(mbar, nu)]

    left = {k: dict(v) for k, v in state['left'].items()}
    right = {k: dict(v) for k, v in state['right'].items()}
    canon = [to_canonical(g, plan) for g, plan in zip(g_leaves, self.plans)]
    new = {('L', k): list(v['L']) for k, v in left.items()}
    new.update({('prev_L', k): list(v['prev_L']) for k, v in left.items()})
    new.update({('R', k): list(v['R']) for k, v in right.items()})
    for i, block, lk, ls, rk, rs in self.blocks:
      g = canon[i][block_slices(block)]
      rows = block.shape[0]
      p_l = left[lk]['P_L'][ls]
      big_l, prev_l, big_r = left[lk]['L'][ls], left[lk]['prev_L'][ls], right[rk]['R'][rs]
      coeff = cond(fresh, lambda ops: jnp.maximum(jnp.trace(ops[0] @ regularized(ops[1]) @ ops[0]), 0.0) / rows,
                   lambda ops: jnp.ones([], jnp.float32), (p_l, prev_l))
      new[('prev_L', lk)][ls] = cond(fresh, lambda ops: ops[0], lambda ops: ops[1], (big_l, prev_l))
      new[('L', lk)][ls] = c.beta2 * big_l + (1 - c.beta2) * (g @ g.T)
      pg = p_l @ g
      new[('R', rk)][rs] = c.beta2 * coeff * big_r + (1 - c.beta2) * (pg.T @ pg) / rows
    for (name, k), mats in new.items():
      target = left if name in ('L', 'prev_L') else right
      target[k][name] = jax.lax.with_sharding_constraint(jnp.stack(mats), self._sharding())
    left, right = cond(roots_now, self._refresh, lambda lr_: lr_, (left, right))
    dirs = cond(precondition_now, lambda ops: self._caspr_dirs(*ops), lambda ops: list(adam),
                (left, right, mbar, adam))
    new_p = [p - lr * (d + c.weight_decay * p) for p, d in zip(p_leaves, dirs)]
    new_state = {'count': count, 'mu': mu, 'nu': nu, 'left': left, 'right': right}
    return jax.tree.unflatten(self.treedef, new_p), new_state

  def _refresh(self, stacks):
    left, right = ({k: dict(v) for k, v in stacks[0].items()}, {k: dict(v) for k, v in stacks[1].items()})
    for v in left.values():
      v['P_L'], v['ok'] = self._roots(v['L'], v['P_L'])
    for v in right.values():
      v['P_R'], v['ok'] = self._roots(v['R'], v['P_R'])
    return left, right

  def _caspr_dirs(self, left, right, mbar, adam):
    dirs = list(adam)
    parts: Dict[int, List] = {}
    for i, block, lk, ls, rk, rs in self.blocks:
      m = to_canonical(mbar[i], self.plans[i])[block_slices(block)]
      parts.setdefault(i, []).append((block, left[lk]['P_L'][ls] @ m @ right[rk]['P_R'][rs]))
    for i, blocks in parts.items():
      plan = self.plans[i]
      u = jnp.zeros(plan.merged, jnp.float32)
      for block, x in blocks:
        u = u.at[block_slices(block)].set(x)
      u = from_canonical(u, plan)
      norm = jnp.sqrt(jnp.sum(jnp.square(u)))
      scale = jnp.sqrt(jnp.sum(jnp.square(adam[i]))) / jnp.where(norm > 0, norm, 1.0)
      dirs[i] = jnp.where(norm > 0, u * scale, 0.0)
    return dirs

  def failed_blocks(self, state) -> List[str]:
    """Names of the blocks whose last root computation was not accepted (fetched on the host)."""
    ok_l = {k: np.asarray(v['ok']) for k, v in state['left'].items()}
    ok_r = {k: np.asarray(v['ok']) for k, v in state['right'].items()}
    return [f'{self.names[i]} block {block.ranges}' for i, block, lk, ls, rk, rs in self.blocks
            if not (ok_l[lk][ls] and ok_r[rk][rs])]
