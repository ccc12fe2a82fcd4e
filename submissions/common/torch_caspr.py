"""CASPR Adaptive for PyTorch: the twin of the published JAX submission (submissions.md §2.8).

Every parameter gets the NAdam direction adam = m_bar / (sqrt(v_hat) + eps). Parameters merged to 2-D
(shampoo_blocks.caspr_plan, in Flax's layout: torch Linear weights are transposed) are tiled into <= 1024
blocks; per block, every step:
  coeff = tr(P_L reg(prev_L) P_L)^+ / rows on the step after a refresh (else 1), and then prev_L <- L;
  L <- b2 L + (1-b2) G G^T;  R <- b2 coeff R + (1-b2) (P_L G)^T (P_L G) / rows;
every 20 steps P_L = L^-1/2 and P_R = R^-1/2 by coupled Newton (old P kept if it fails); after step 101
U = P_L m_bar P_R per block, grafted layer-wise to ||adam||; finally p -= lr (U + wd p).

Departures: statistics are not zero-padded to 1024 x 1024 before inversion (the padding is a separate
diagonal block, so the valid block's root is the same; the mean-eigenvalue normalisation divides by the
block's own size), and a parameter whose merged dims both exceed 1024 is tiled correctly (upstream has a
reshape error there). A zero U (zero gradient) gives a zero step instead of 0/0.

Kernels: the NAdam direction (filtered gradient, second moment, direction, per-parameter sum of squares)
is the fused `graft` op with Nesterov; ALGOPERF_KERNELS=off runs the same math in torch.
Distributed (DDP): each rank owns a share of the blocks (statistics, roots, U); the ungrafted U are summed
over the ranks (an exact gather) and every rank grafts and updates all parameters.
"""
import logging
from typing import List

import torch
import torch.distributed as dist

from submissions.common import shampoo_blocks
from submissions.common import torch_matrix_roots
from submissions.common import torch_precond_state
from submissions.common.precond_config import CasprConfig

log = logging.getLogger(__name__)


def _world():
  if dist.is_available() and dist.is_initialized():
    return dist.get_world_size(), dist.get_rank()
  return 1, 0


def regularized(a: torch.Tensor) -> torch.Tensor:
  """A + 1e-6 lambda_max(A) I, lambda_max by power iteration on A / (tr A / n)."""
  n = a.shape[0]
  scale = torch.trace(a) / n
  lam = torch_matrix_roots.power_iteration(a / scale) * scale if float(scale) != 0.0 else scale
  return a + 1e-6 * lam * torch.eye(n, dtype=a.dtype, device=a.device)


class _Block:
  __slots__ = ('index', 'block', 'rows', 'big_l', 'prev_l', 'p_l', 'big_r', 'p_r')

  def __init__(self, index, block, eps, device):
    m, n = block.shape
    eye = lambda k: torch.eye(k, dtype=torch.float32, device=device)
    self.index, self.block, self.rows = index, block, m
    self.big_l, self.prev_l, self.p_l = eps * eye(m), eps * eye(m), eye(m)
    self.big_r, self.p_r = eye(n), eye(n)


class Caspr(torch_precond_state.PreconditionerStateDict, torch.optim.Optimizer):
  PARAM_LISTS = ('mu', 'nu')
  BLOCK_SLOTS = ('big_l', 'prev_l', 'p_l', 'big_r', 'p_r')

  def __init__(self, named_kinds, config: CasprConfig, use_kernels: bool = True, rules_shape_fn=None):
    """rules_shape_fn(name, shape): the shape the NAdam limit sees (shampoo_blocks.full_scale_shape)."""
    params = [p for _, p, _ in named_kinds]
    super().__init__(params, dict(lr=config.learning_rate))
    self.config = c = config
    self.use_kernels = use_kernels
    self.names = [n for n, _, _ in named_kinds]
    rules_shape_fn = rules_shape_fn or shampoo_blocks.own_shape
    self.plans = [shampoo_blocks.caspr_plan(n, p.shape, kind, rules_shape_fn(n, p.shape)) for n, p, kind in named_kinds]
    self.world, self.rank = _world()
    owners = shampoo_blocks.assign_owners(self.plans, self.world)
    self.blocks: List[_Block] = []
    for i, plan in enumerate(self.plans):
      if not plan.blocks and len(plan.merged) >= 2:
        log.warning('CASPR: parameter %s (shape %s) takes the NAdam update: %s.', plan.name, tuple(plan.shape),
                    plan.reason)
      for j, block in enumerate(plan.blocks):
        if owners[i][j] == self.rank:
          self.blocks.append(_Block(i, block, c.matrix_epsilon, params[i].device))
    self.mu = [torch.zeros_like(p) for p in params]
    self.nu = [torch.zeros_like(p) for p in params]
    numels = [p.numel() for p in params]
    self._flat = torch.zeros(sum(numels), dtype=torch.float32, device=params[0].device)
    self._u = list(torch.split(self._flat, numels))
    self.step_count = 0
    self._warned = set()

  def _named_blocks(self):
    return [('', self.blocks)]

  def _nadam(self, grads, t):
    """(m_bar, adam direction, ||adam||^2) per parameter."""
    c = self.config
    if self.use_kernels:
      from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
      dirs = [torch.empty_like(g) for g in grads]
      mbar = [torch.empty_like(g) for g in grads]
      sums = torch_ops.adam_graft(grads, self.mu, self.nu, dirs, mbar, step=t, beta1=c.beta1, beta2=c.beta2,
                                  eps=c.epsilon, nesterov=True)
      return mbar, dirs, [float(x) for x in sums.tolist()]
    mbar, dirs, sums = [], [], []
    for g, mu, nu in zip(grads, self.mu, self.nu):
      mu.lerp_(g, 1 - c.beta1)
      nu.mul_(c.beta2).addcmul_(g, g, value=1 - c.beta2)
      mb = torch.lerp(mu, g, 1 - c.beta1) / (1 - c.beta1**t)
      d = mb / ((nu / (1 - c.beta2**t)).sqrt() + c.epsilon)
      mbar.append(mb)
      dirs.append(d)
      sums.append(float(torch.sum(d.double()**2)))
    return mbar, dirs, sums

  def _canonical(self, i, x):
    plan = self.plans[i]
    if plan.axes != tuple(range(len(plan.axes))):
      x = x.permute(plan.axes)
    return x.reshape(plan.merged)

  @staticmethod
  def _view(x, block):
    return x[tuple(slice(a, b) for a, b in block.ranges)]

  def _root(self, s, stat, old, t):
    p = torch_matrix_roots.caspr_inverse_root(stat)
    if p is None:
      key = (s.index, s.block.ranges)
      if key not in self._warned:
        self._warned.add(key)
        log.warning('CASPR: the inverse root of parameter %s, block %s, did not converge at step %d; the block '
                    'keeps its previous preconditioner.', self.names[s.index], s.block.ranges, t)
      return old
    return p

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
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]  # unused: zero gradient
    mbar, adam, sums = self._nadam(grads, t)
    fresh = c.fresh(t)
    precondition = t > c.start_preconditioning_step
    if precondition:
      self._flat.zero_()
    for s in self.blocks:
      g = self._view(self._canonical(s.index, grads[s.index]), s.block)
      coeff = 1.0
      if fresh:
        coeff = torch.clamp(torch.trace(s.p_l @ regularized(s.prev_l) @ s.p_l), min=0.0) / s.rows
        s.prev_l = s.big_l.clone()
      s.big_l.mul_(c.beta2).add_(g @ g.T, alpha=1 - c.beta2)
      pg = s.p_l @ g
      s.big_r.mul_(c.beta2 * coeff).add_(pg.T @ pg, alpha=(1 - c.beta2) / s.rows)
      if c.root_due(t):
        s.p_l = self._root(s, s.big_l, s.p_l, t)
        s.p_r = self._root(s, s.big_r, s.p_r, t)
      if precondition:
        u = s.p_l @ self._view(self._canonical(s.index, mbar[s.index]), s.block) @ s.p_r
        self._write(s, u)
    if precondition and self.world > 1:
      dist.all_reduce(self._flat)
    for i, (p, a, sq) in enumerate(zip(params, adam, sums)):
      d = a
      if precondition and self.plans[i].blocks:
        u = self._u[i].view(p.shape)
        norm = float(torch.linalg.vector_norm(u))
        d = u * (sq**0.5 / norm) if norm > 0 else torch.zeros_like(u)
      p.sub_(lr * (d + c.weight_decay * p))
    return loss

  def _write(self, s, u):
    plan = self.plans[s.index]
    if plan.axes == tuple(range(len(plan.axes))):
      self._view(self._u[s.index].view(plan.merged), s.block).copy_(u)
      return
    canon = torch.zeros(plan.merged, dtype=u.dtype, device=u.device)
    self._view(canon, s.block).copy_(u)
    self._u[s.index].view(plan.shape).add_(canon.reshape(plan.canonical_shape).permute(plan.inverse_axes))

  def state_bytes(self) -> int:
    total = self._flat.numel() * 4 + sum(x.numel() * 4 for x in self.mu + self.nu)
    for s in self.blocks:
      total += sum(x.numel() * 4 for x in (s.big_l, s.prev_l, s.p_l, s.big_r, s.p_r))
    return total
