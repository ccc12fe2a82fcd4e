"""The element-wise update rules for PyTorch submissions: one kernel path and one plain path per rule.

Each factory returns a torch.optim.Optimizer: by default the fused-kernel class from
`algoperf_kernels.torch_optim`, with ALGOPERF_KERNELS=off the plain torch class below (the same math,
submissions.md §0, kept once for every submission). The group's 'lr' is the current rate (a scheduler
may change it); each step reads it.
"""
import math

import torch

from submissions.common import kernel_switch


class _Plain(torch.optim.Optimizer):

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for group in self.param_groups:
      for p in group['params']:
        if p.grad is not None:
          self._update(p, p.grad, self.state[p], group)
    return loss


class PlainNAdamW(_Plain):
  """AlgoPerf's NAdamW (not torch.optim.NAdam) and NadamP (power != 2: v still accumulates g^2).

  p *= 1 - lr wd; m = lerp(m, g, 1-b1); v = b2 v + (1-b2) g^2;
  p -= lr/(1-b1^t) (b1 m + (1-b1) g) / (denominator), denominator sqrt(v)/sqrt(1-b2^t) + eps for p = 2,
  (v/(1-b2^t))^(1/p) + eps otherwise. nesterov=False is AdamW (numerator m).
  """

  def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, power=2.0, nesterov=True):
    super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                  power=float(power), nesterov=nesterov))

  def _update(self, p, g, state, group):
    b1, b2 = group['betas']
    lr, eps, wd, power = group['lr'], group['eps'], group['weight_decay'], group['power']
    if not state:
      state['step'] = 0
      state['exp_avg'] = torch.zeros_like(p, dtype=torch.float32)
      state['exp_avg_sq'] = torch.zeros_like(p, dtype=torch.float32)
    state['step'] += 1
    t = state['step']
    m, v = state['exp_avg'], state['exp_avg_sq']
    p.mul_(1 - lr * wd)
    m.lerp_(g, 1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    numerator = m.mul(b1).add_(g, alpha=1 - b1) if group.get('nesterov', True) else m
    if power == 2.0:
      denom = (v.sqrt() / math.sqrt(bc2)).add_(eps)
    else:
      denom = (v / bc2).pow_(1.0 / power).add_(eps)
    p.addcdiv_(numerator, denom, value=-lr / bc1)


def nadamw(params, lr, betas, eps=1e-8, weight_decay=0.0, power=2.0) -> torch.optim.Optimizer:
  if not kernel_switch.kernels_enabled():
    return PlainNAdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, power=power)
  from algoperf_kernels import torch_optim  # pylint: disable=import-outside-toplevel
  return torch_optim.NAdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, power=power)


class PlainNesterovSGD(_Plain):
  """optax.trace(momentum, nesterov=True) + decoupled weight decay: b = g + mu b; p -= lr (g + mu b + wd p).
  nesterov=False is heavy ball: p -= lr (b + wd p)."""

  def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=0.0, nesterov=True):
    super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))

  def _update(self, p, g, state, group):
    mu = group['momentum']
    if not state:
      state['momentum_buffer'] = torch.zeros_like(p, dtype=torch.float32)
    buf = state['momentum_buffer']
    buf.mul_(mu).add_(g)
    direction = g.add(buf, alpha=mu) if group.get('nesterov', True) else buf.clone()
    direction.add_(p, alpha=group['weight_decay'])
    p.add_(direction, alpha=-group['lr'])


def nesterov_sgd(params, lr, momentum, weight_decay=0.0) -> torch.optim.Optimizer:
  if not kernel_switch.kernels_enabled():
    return PlainNesterovSGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
  from algoperf_kernels import torch_optim  # pylint: disable=import-outside-toplevel
  return torch_optim.SGD(params, lr=lr, momentum=momentum, dampening=0.0, weight_decay=0.0, nesterov=True,
                         decoupled_weight_decay=weight_decay)


class PlainAdamG(_Plain):
  """AdamG (submissions.md §3.6): the step is min(1/sqrt(t), lr); weight decay is 0 and not offered.

  v = b2 v + (1-b2) g^2; n = b3 n + (1-b3) p_num v^q_num; m = b1 m + (1-b1) g n;
  p -= min(1/sqrt(t), lr) (m/(1-b1^t)) / (sqrt(v)/sqrt(1-b2^t) + eps).
  """

  def __init__(self, params, lr=1.0, betas=(0.95, 0.999, 0.95), eps=1e-8, p_num=0.2, q_num=0.24):
    super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, p_num=p_num, q_num=q_num))

  def _update(self, p, g, state, group):
    b1, b2, b3 = group['betas']
    if not state:
      state['step'] = 0
      for name in ('exp_avg', 'exp_avg_sq', 'numerator'):
        state[name] = torch.zeros_like(p, dtype=torch.float32)
    state['step'] += 1
    t = state['step']
    m, v, n = state['exp_avg'], state['exp_avg_sq'], state['numerator']
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    n.mul_(b3).add_(v.pow(group['q_num']), alpha=(1 - b3) * group['p_num'])
    m.mul_(b1).add_(g * n, alpha=1 - b1)
    step_size = min(1.0 / math.sqrt(t), group['lr'])
    denom = (v.sqrt() / math.sqrt(1 - b2**t)).add_(group['eps'])
    p.addcdiv_(m, denom, value=-step_size / (1 - b1**t))


def adamg(params, lr=1.0, betas=(0.95, 0.999, 0.95), eps=1e-8, p_num=0.2, q_num=0.24) -> torch.optim.Optimizer:
  if not kernel_switch.kernels_enabled():
    return PlainAdamG(params, lr=lr, betas=betas, eps=eps, p_num=p_num, q_num=q_num)
  from algoperf_kernels import torch_optim  # pylint: disable=import-outside-toplevel
  return torch_optim.AdamG(params, lr=lr, betas=betas, eps=eps, p_num=p_num, q_num=q_num)


def lambda_scheduler(optimizer: torch.optim.Optimizer, factor):
  """LambdaLR with `factor(count)` (count = updates already applied) as a float multiple of the peak lr."""
  return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda count: float(factor(count)))


class _TorchOps:
  sqrt = staticmethod(torch.sqrt)
  where = staticmethod(torch.where)

  @staticmethod
  def maximum(x, y):
    return torch.maximum(x, y) if torch.is_tensor(y) else torch.clamp(x, min=y)

  @staticmethod
  def mean(x, axes):
    return x.mean(dim=axes, keepdim=True) if axes else x


class _AmosKernels:
  """amos_rules.kernel_step's two passes on torch tensors (algoperf_kernels.torch_ops, in place)."""

  def __init__(self, b1: float, b2: float):
    self.hyper = dict(beta1=b1, beta2=b2)

  def sums(self, reduced, gs, mus, nus, **dyn):
    from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
    sums = torch_ops.amos_sums(gs, mus, nus, **self.hyper, **dyn, reduced=reduced)
    return mus, nus, list(sums.float().reshape(len(gs), -1))

  def step(self, reduced, ps, gs, mus, nus, **dyn):
    from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
    if reduced:
      torch_ops.amos_step(ps, gs, mus, nus, **self.hyper, **dyn, reduced=True)
    else:
      dyn['c_now'] = dyn.pop('v_hat')
      torch_ops.amos_step(ps, gs, mus, nus, **self.hyper, **dyn)
    return ps, mus


class Amos(torch.optim.Optimizer):
  """Amos (submissions.md §2.7) after a global gradient-norm clip at clip_norm (optax's form:
  g * clip_norm/|g| when |g| >= clip_norm); the rules are amos_rules'. Built from named parameters
  (the names give each variable's type). By default the float32 variables whose reduced shape is one value
  step on the fused kernels in two passes (amos_rules.kernel_step); the others, and all of them with
  ALGOPERF_KERNELS=off, run amos_rules' leaf functions in torch (the same math).
  """

  def __init__(self, named_params, style: str, b1: float, b2: float, l2: float, converge: float, warmup: float,
               step_hint: int, eta_override: float = -1.0, clip_norm: float = 1.0):
    from submissions.common import amos_rules  # pylint: disable=import-outside-toplevel
    self._rules = amos_rules
    named = list(named_params)
    self._metas = [amos_rules.meta(name.split('.'), p.shape, eta_override, torch_layout=True) for name, p in named]
    super().__init__([p for _, p in named], dict(lr=1.0))
    self.style, self.b1, self.b2, self.l2, self.clip_norm = style, b1, b2, l2, clip_norm
    self.xi = amos_rules.xi(max(m.k for m in self._metas), converge, step_hint, warmup)
    self.warmup_steps = int(warmup * step_hint)
    self.count = 0
    self._kernels = _AmosKernels(b1, b2) if kernel_switch.kernels_enabled() else None

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    params = self.param_groups[0]['params']
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    norm = float(torch.sqrt(sum(torch.sum(g.float() * g.float()) for g in grads)))
    scale = 1.0 if norm < self.clip_norm else self.clip_norm / norm
    t, b2 = self.count, self.b2
    c_prev = (1 - b2) / (1 - b2**t) if t > 0 else 0.0
    c_now = (1 - b2) / (1 - b2**(t + 1))
    xi_t = self._rules.xi_at(t, self.xi, self.warmup_steps)
    leaf = self._rules.adam_leaf if self.style == 'adam' else self._rules.reduced_leaf
    fused = []
    for p, g, m in zip(params, grads, self._metas):
      st = self.state[p]
      if not st:
        nu_shape, b_shape = self._rules.state_shapes(p.shape, m, self.style)
        st['mu'] = torch.zeros_like(p, dtype=torch.float32)
        st['nu'] = torch.zeros(nu_shape, dtype=torch.float32, device=p.device)
        st['b'] = torch.zeros(b_shape, dtype=torch.float32, device=p.device)
      if (self._kernels is not None and p.dtype == torch.float32 and g.dtype == torch.float32 and g.is_contiguous()
          and p.is_contiguous() and self._rules.reduces_whole_tensor(p.shape, m)):
        fused.append((p, g, st, m))
        continue
      new_p, st['mu'], st['nu'], st['b'] = leaf(_TorchOps, p.float(), g.float() * scale, st['mu'], st['nu'], st['b'],
                                                c_prev, c_now, xi_t, m, self.b1, b2, self.l2)
      p.copy_(new_p)
    if fused:
      ps, gs, sts, metas = zip(*fused)
      _, _, nus, bs = self._rules.kernel_step(_TorchOps, self._kernels, self.style, list(ps), list(gs),
                                              [st['mu'] for st in sts], [st['nu'] for st in sts],
                                              [st['b'] for st in sts], metas, scale, c_prev, c_now, xi_t, self.b1,
                                              b2, self.l2)
      for st, nu, b in zip(sts, nus, bs):
        st['nu'], st['b'] = nu, b
    self.count += 1
    return loss


# Target-setting algorithms (tools/target_setting): AdamW and heavy-ball momentum ----------------------------


def adamw(params, lr, betas, eps=1e-8, weight_decay=0.0) -> torch.optim.Optimizer:
  """AdamW with the decay multiplied by lr (torch's form), on the kernels or the plain path."""
  if not kernel_switch.kernels_enabled():
    return PlainNAdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, nesterov=False)
  from algoperf_kernels import torch_optim  # pylint: disable=import-outside-toplevel
  return torch_optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def heavy_ball_sgd(params, lr, momentum, weight_decay=0.0) -> torch.optim.Optimizer:
  """Heavy-ball momentum b = g + mu b; p -= lr (b + wd p), on the kernels or the plain path."""
  if not kernel_switch.kernels_enabled():
    return PlainNesterovSGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=False)
  from algoperf_kernels import torch_optim  # pylint: disable=import-outside-toplevel
  return torch_optim.SGD(params, lr=lr, momentum=momentum, dampening=0.0, weight_decay=0.0, nesterov=False,
                         decoupled_weight_decay=weight_decay)
