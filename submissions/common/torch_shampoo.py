"""Distributed Shampoo for PyTorch, as the v0.5 leaderboard submission configures it (submissions.md §2.1).

Per block G (shampoo_blocks): factors F_k <- b2 F_k + (1-b2) G_(k) G_(k)^T; Adam grafting state
a <- b2 a + (1-b2) G^2; on root steps Q_k = (F_k / (1-b2^t))^(-e/r) by eigendecomposition; filtered gradient
m~ (NAdam form if use_nadam, bias-corrected); from start_preconditioning_step the direction is
m~ x_1 Q_1 x_2 Q_2 ..., rescaled per block to the grafting direction's norm; then decoupled weight decay,
EMA-Nesterov momentum and p -= lr D.

Kernels: the Adam grafting step (filtered gradient, second moment, direction, per-block sum of squares) is
the fused `graft` op and the momentum/decay/parameter step the `sgd` op (Shampoo's EMA-Nesterov form);
ALGOPERF_KERNELS=off runs the same math in torch.

Distributed (DDP): every rank owns a share of the blocks (shampoo_blocks.assign_owners), keeps only their
factors, roots and grafting state, computes their directions, and the directions are summed over the ranks
(each element is non-zero on exactly one rank, so the sum is an exact gather). Parameters then update
identically everywhere.

Bad input: a parameter with a dimension >= 1,000,000, and any block whose root cannot be computed (NaN/Inf
statistics, eigh failing in fp32 and fp64), take the grafting update; a warning names the parameter.
Departure: the published code keeps the previous root when eigh fails and raises on NaN statistics; here the
block uses its grafting direction until a later root succeeds (the brief's rule: never a NaN, never a stop).
"""
import logging
from typing import List, Optional

import torch
import torch.distributed as dist

from submissions.common import shampoo_blocks
from submissions.common import torch_matrix_roots
from submissions.common import torch_precond_state
from submissions.common.precond_config import ShampooConfig

log = logging.getLogger(__name__)


def factor_update(g: torch.Tensor, k: int) -> torch.Tensor:
  """G_(k) G_(k)^T: contract G with itself over every dim except k."""
  dims = [i for i in range(g.dim()) if i != k]
  return torch.tensordot(g, g, dims=(dims, dims))


def precondition(m: torch.Tensor, roots: List[torch.Tensor]) -> torch.Tensor:
  """m x_1 Q_1 x_2 Q_2 ...: contracting dim 0 with a symmetric Q moves it last, so o steps restore the order."""
  out = m
  for q in roots:
    out = torch.tensordot(out, q, dims=([0], [0]))
  return out


def _world():
  if dist.is_available() and dist.is_initialized():
    return dist.get_world_size(), dist.get_rank()
  return 1, 0


class _BlockState:
  __slots__ = ('index', 'block', 'factors', 'roots', 'exponent', 'm', 'a', 'ok')

  def __init__(self, index, block, exponent, like, need_m, need_a, factors=True):
    self.index = index
    self.block = block
    self.exponent = exponent
    self.factors = [torch.zeros(d, d, dtype=torch.float32, device=like.device)
                    for d in block.shape] if factors else []
    self.roots: Optional[List[torch.Tensor]] = None
    self.ok = False
    zeros = lambda: torch.zeros(block.shape, dtype=torch.float32, device=like.device)
    self.m = zeros() if need_m else None
    self.a = zeros() if need_a else None


class Shampoo(torch_precond_state.PreconditionerStateDict, torch.optim.Optimizer):
  """named_kinds: (name, parameter, kind) triples (shampoo_blocks.torch_named_kinds)."""
  PARAM_LISTS = ('u',)
  BLOCK_SLOTS = ('factors', 'roots', 'm', 'a', 'ok')

  def __init__(self, named_kinds, config: ShampooConfig, use_kernels: bool = True, rules_shape_fn=None):
    """rules_shape_fn(name, shape): the shape the graft-only rule sees (shampoo_blocks.full_scale_shape)."""
    params = [p for _, p, _ in named_kinds]
    super().__init__(params, dict(lr=config.learning_rate))
    self.config = c = config
    self.use_kernels = use_kernels
    self.names = [n for n, _, _ in named_kinds]
    rules_shape_fn = rules_shape_fn or shampoo_blocks.own_shape
    self.plans = [shampoo_blocks.shampoo_plan(n, p.shape, kind, c.max_preconditioner_dim, rules_shape_fn(n, p.shape))
                  for n, p, kind in named_kinds]
    self.world, self.rank = _world()
    owners = shampoo_blocks.assign_owners(self.plans, self.world)
    need_m = c.beta1 != 0.0
    need_a = c.grafting_type == 'ADAM'
    self.blocks: List[List[_BlockState]] = []
    self.graft_only = []  # (index, _BlockState over the whole param) for parameters without blocks
    for i, (plan, p) in enumerate(zip(self.plans, params)):
      if not plan.blocks:
        log.warning('Shampoo: parameter %s (shape %s) takes the grafting update only: %s.', plan.name,
                    tuple(plan.shape), plan.reason)
        whole = shampoo_blocks.Block(tuple((0, d) for d in plan.merged))
        self.graft_only.append(_BlockState(i, whole, 0.0, p, need_m, need_a, factors=False))
        self.blocks.append([])
        continue
      mine = []
      for j, block in enumerate(plan.blocks):
        if owners[i][j] == self.rank:
          exponent = shampoo_blocks.root_exponent(block.order, c.inv_root_override, c.exponent_multiplier)
          mine.append(_BlockState(i, block, exponent, p, need_m, need_a))
      self.blocks.append(mine)
    self.u = [torch.zeros_like(p) for p in params] if c.momentum != 0.0 else None
    numels = [p.numel() for p in params]
    self._flat = torch.zeros(sum(numels), dtype=torch.float32, device=params[0].device)
    self._dirs = list(torch.split(self._flat, numels))
    self.step_count = 0
    self._warned = set()

  def _named_blocks(self):
    return [('', [s for states in self.blocks for s in states]), ('graft:', self.graft_only)]

  # -- pieces of the step -------------------------------------------------------------------------------

  def _canonical_grad(self, i, p):
    plan = self.plans[i]
    g = p.grad if p.grad is not None else torch.zeros_like(p)  # an unused parameter: a zero gradient
    if plan.axes != tuple(range(len(plan.axes))):
      g = g.permute(plan.axes)
    return g.reshape(plan.merged)

  @staticmethod
  def _block_view(x, block):
    return x[tuple(slice(a, b) for a, b in block.ranges)]

  def _graft(self, states, grads, t):
    """Filtered gradients and grafting directions for a list of blocks; returns (filtered, dirs, sq norms)."""
    c = self.config
    if c.grafting_type == 'ADAM' and self.use_kernels:
      from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
      dirs = [torch.empty_like(g) for g in grads]
      filtered = [torch.empty_like(g) for g in grads] if c.beta1 != 0.0 else list(grads)
      sums = torch_ops.adam_graft(grads, [s.m for s in states] if c.beta1 != 0.0 else None, [s.a for s in states],
                                  dirs, filtered if c.beta1 != 0.0 else None, step=t, beta1=c.beta1,
                                  beta2=c.beta2, eps=c.grafting_epsilon, nesterov=c.use_nadam)
      return filtered, dirs, [float(x) for x in sums.tolist()]
    filtered, dirs, sums = [], [], []
    for s, g in zip(states, grads):
      if c.beta1 != 0.0:
        s.m.lerp_(g, 1 - c.beta1)
        num = torch.lerp(s.m, g, 1 - c.beta1) if c.use_nadam else s.m
        mt = num / (1 - c.beta1**t)
      else:
        mt = g
      if c.grafting_type == 'ADAM':
        s.a.mul_(c.beta2).addcmul_(g, g, value=1 - c.beta2)
        d = mt / ((s.a / (1 - c.beta2**t)).sqrt() + c.grafting_epsilon)
      else:
        d = mt
      filtered.append(mt)
      dirs.append(d)
      sums.append(float(torch.sum(d.double()**2)))
    return filtered, dirs, sums

  def _compute_roots(self, t):
    bc2 = 1 - self.config.beta2**t
    for states in self.blocks:
      for s in states:
        roots = []
        for f in s.factors:
          q = torch_matrix_roots.eigh_inverse_root(f / bc2, s.exponent, self.config.epsilon)
          if q is None:
            break
          roots.append(q)
        s.ok = len(roots) == len(s.factors)
        if s.ok:
          s.roots = roots
        else:
          key = (s.index, s.block.ranges)
          if key not in self._warned:
            self._warned.add(key)
            log.warning('Shampoo: the inverse root of parameter %s, block %s, failed (non-finite statistics or '
                        'eigh failure) at step %d; the block takes the grafting update until a root succeeds.',
                        self.names[s.index], s.block.ranges, t)

  def _apply(self, lr):
    """D <- dir + wd p; EMA-Nesterov momentum; p -= lr D."""
    c = self.config
    params = self.param_groups[0]['params']
    dirs = [d.view(p.shape) for d, p in zip(self._dirs, params)]
    if self.use_kernels and self.u is not None:
      from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
      torch_ops.sgd(params, dirs, self.u, lr=lr, momentum=c.momentum, dampening=c.momentum,
                    weight_decay=c.weight_decay, nesterov=True, first_step=False, dir_grad=1 - c.momentum,
                    dir_buf=c.momentum)
      return
    for p, d, k in zip(params, dirs, range(len(params))):
      d.add_(p, alpha=c.weight_decay)
      if self.u is not None:
        self.u[k].mul_(c.momentum).add_(d, alpha=1 - c.momentum)
        d.mul_(1 - c.momentum).add_(self.u[k], alpha=c.momentum)
      p.add_(d, alpha=-lr)

  # -- the step ------------------------------------------------------------------------------------------

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    c = self.config
    self.step_count += 1
    t = self.step_count
    params = self.param_groups[0]['params']
    lr = self.param_groups[0]['lr']
    self._flat.zero_()
    canon = [self._canonical_grad(i, p) for i, p in enumerate(params)]
    states, grads = [], []
    for i, blocks in enumerate(self.blocks):
      for s in blocks:
        g = self._block_view(canon[i], s.block).contiguous()
        for k, f in enumerate(s.factors):
          f.mul_(c.beta2).add_(factor_update(g, k), alpha=1 - c.beta2)
        states.append(s)
        grads.append(g)
    if c.root_due(t):
      self._compute_roots(t)
    # Graft-only parameters are element-wise: every rank updates them (no gather needed).
    g_only = [self._canonical_grad(s.index, params[s.index]).contiguous() for s in self.graft_only]
    all_states = states + self.graft_only
    filtered, gdirs, sums = self._graft(all_states, grads + g_only, t) if all_states else ([], [], [])
    preconditioning = t >= c.start_preconditioning_step
    for n, (s, mt, gd, sq) in enumerate(zip(all_states, filtered, gdirs, sums)):
      plan = self.plans[s.index]
      if preconditioning and n < len(states) and s.ok:
        d = precondition(mt, s.roots)
        d = d * (sq**0.5 / (float(torch.linalg.vector_norm(d)) + 1e-16))
      else:
        d = gd
      if plan.axes == tuple(range(len(plan.axes))):
        self._block_view(self._dirs[s.index].view(plan.merged), s.block).copy_(d)
      else:  # the flat buffer holds the native layout
        self._write_permuted(s, d)
    if self.world > 1:
      dist.all_reduce(self._flat)
    self._apply(lr)
    return loss

  def _write_permuted(self, s, d):
    plan = self.plans[s.index]
    canon = torch.zeros(plan.merged, dtype=d.dtype, device=d.device)
    self._block_view(canon, s.block).copy_(d)
    native = canon.reshape(plan.canonical_shape).permute(plan.inverse_axes)
    self._dirs[s.index].view(plan.shape).add_(native)

  # -- memory --------------------------------------------------------------------------------------------

  def state_bytes(self) -> int:
    """Bytes of optimizer state held by this rank (factors, roots, grafting, momentum, direction buffer)."""
    total = self._flat.numel() * 4
    for states in self.blocks + [self.graft_only]:
      for s in states:
        total += sum(f.numel() * 4 for f in s.factors) * 2  # factors and roots
        total += sum(x.numel() * 4 for x in (s.m, s.a) if x is not None)
    if self.u is not None:
      total += sum(u.numel() * 4 for u in self.u)
    return total
