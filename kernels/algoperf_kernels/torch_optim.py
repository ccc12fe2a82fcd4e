"""torch.optim.Optimizer classes over the fused kernels, plus EMA and LAWA-queue averaging.

Each step groups a param group's tensors by (device, dtype, step) and makes one fused call per
bucket. bf16 parameters keep an fp32 'master' copy in the state; the kernels update the master
and rewrite the bf16 parameter in the same pass, so an edit made to a bf16 parameter outside the
optimizer must go through the master: call `opt.sync_master()` after editing, or edit
`opt.master(p)`. state_dict()/load_state_dict() round-trip the state exactly (torch would
otherwise cast fp32 state of bf16 params to bf16 on load) and load torch.optim's own state dicts
for the same algorithm.

The constructors take torch.optim's keywords. `foreach` and `fused` are accepted and ignored:
every step is one fused kernel call per bucket whatever they say. `maximize` negates the
gradients (into a temporary: one extra pass). `amsgrad=True` and `differentiable=True` are
refused with a ValueError. Parameters may be float32 or bfloat16 (kernels), or float16 (fp32
state and master, like bf16) and float64 (float64 state), which take a plain torch fallback with
the same formula; any dense layout (contiguous, channels_last, ...) whose gradient has the same
strides. Hyper-parameters, dtypes, devices and layouts are checked when a group is added,
and errors name the parameter's position in the list you passed.
"""
import collections
import math

import torch

import algoperf_kernels as _ak
from algoperf_kernels import torch_ops

_KERNEL_DTYPES = (torch.float32, torch.bfloat16)
_FALLBACK_DTYPES = (torch.float16, torch.float64)
_MASTER_DTYPES = (torch.bfloat16, torch.float16)


def _state_dtype(p):
  return torch.float64 if p.dtype == torch.float64 else torch.float32


def _float_state(p):
  return torch.zeros_like(p, dtype=_state_dtype(p), memory_format=torch.preserve_format)


def _master(p):
  return torch.empty_like(p, dtype=torch.float32, memory_format=torch.preserve_format).copy_(p.detach())


def _like_param(p, v, dtype):
  """`v` in dtype and in p's memory layout (loaded state may come from another layout or dtype)."""
  if v.dtype == dtype and v.device == p.device and torch_ops.layout(v) == torch_ops.layout(p):
    return v
  return torch.empty_like(p, dtype=dtype, memory_format=torch.preserve_format).copy_(v)


def _number(x):
  return float(x) if torch.is_tensor(x) else x


class _Fused(torch.optim.Optimizer):
  """Shared bookkeeping: checks with user-facing positions, dtype-preserving state loading, masters."""

  _name = 'optimizer'

  def __init__(self, params, defaults):
    if isinstance(params, torch.Tensor):
      raise TypeError(f'{type(self).__name__}: params must be an iterable of tensors or dicts, got a Tensor')
    params = list(params)
    self._grouped = bool(params) and isinstance(params[0], dict)
    super().__init__(params, defaults)

  def _where(self, gi, j):
    return f"param_groups[{gi}]['params'][{j}]" if self._grouped or gi else f'params[{j}]'

  def _group_name(self, gi):
    return f'{type(self).__name__}: param_groups[{gi}]' if self._grouped or gi else type(self).__name__

  def _check_hyper(self, group, gi):
    """Raises ValueError for hyper-parameters outside their domain (subclasses)."""

  def _check_range(self, gi, name, value, lo, hi=None, hi_open=True):
    v = _number(value)
    bad = not (v >= lo) or (hi is not None and (v >= hi if hi_open else v > hi))
    if bad:
      rng = f'in [{lo}, {hi})' if hi is not None and hi_open else f'in [{lo}, {hi}]' if hi is not None else f'>= {lo}'
      raise ValueError(f'{self._group_name(gi)}: {name}={value} is invalid; it must be {rng}')

  _dtypes = _KERNEL_DTYPES + _FALLBACK_DTYPES

  def _check_param(self, p, where):
    name = type(self).__name__
    if not isinstance(p, torch.Tensor):
      raise TypeError(f'{name}: {where} is a {type(p).__name__}, expected a torch.Tensor')
    if p.dtype not in self._dtypes:
      allowed = ', '.join(str(d).replace('torch.', '') for d in self._dtypes)
      raise ValueError(f'{name}: {where} has dtype {str(p.dtype).replace("torch.", "")}; {name} takes {allowed}')
    if p.device.type not in ('cpu', 'cuda'):
      raise ValueError(f'{name}: {where} is on {p.device}; the kernels run on cpu and cuda')
    if p.device.type == 'cuda' and not _ak.built_with_cuda():
      raise ValueError(f'{name}: {where} is on {p.device} but algoperf_kernels was built without CUDA')
    if p.layout != torch.strided or not torch_ops.is_dense(p):
      raise ValueError(f'{name}: {where} is not a dense tensor (strides {tuple(p.stride())}); the kernels take '
                       'contiguous or permuted layouts without gaps: pass a contiguous parameter')

  def _check_group(self, group, gi):
    self._check_hyper(group, gi)
    for j, p in enumerate(group['params']):
      self._check_param(p, self._where(gi, j))

  def add_param_group(self, param_group):
    gi = len(self.param_groups)
    super().add_param_group(param_group)
    try:
      self._check_group(self.param_groups[-1], gi)
    except (ValueError, TypeError):
      self.param_groups.pop()
      raise

  def _grads(self, group, gi=None):
    gi = self.param_groups.index(group) if gi is None else gi
    for j, p in enumerate(group['params']):
      g = p.grad
      if g is None:
        continue
      if g.is_sparse:
        raise ValueError(f'{type(self).__name__} does not support sparse gradients ({self._where(gi, j)})')
      if g.dtype != p.dtype:
        raise ValueError(f'{type(self).__name__}: the gradient of {self._where(gi, j)} is '
                         f'{str(g.dtype).replace("torch.", "")}, its parameter '
                         f'{str(p.dtype).replace("torch.", "")}; they must match')
      if torch_ops.layout(g) != torch_ops.layout(p):
        raise ValueError(f'{type(self).__name__}: the gradient of {self._where(gi, j)} has strides {tuple(g.stride())}, '
                         f'its parameter {tuple(p.stride())}; the kernels need both in one layout')
      yield p

  def _maybe_neg(self, group, gs):
    return torch._foreach_neg(gs) if group.get('maximize') else gs

  def _normalize_state(self, p, st):
    """Loaded state (ours or torch.optim's) in the kernels' dtypes and the parameter's layout."""
    for name, v in list(st.items()):
      if name in ('step', 'master') or not torch.is_tensor(v):
        continue
      st[name] = _like_param(p, v, _state_dtype(p))
    if p.dtype in _MASTER_DTYPES:
      st['master'] = _master(p) if 'master' not in st else _like_param(p, st['master'], torch.float32)
    if 'step' in st and not torch.is_tensor(st['step']):
      st['step'] = torch.tensor(float(st['step']), dtype=torch.float32)

  def load_state_dict(self, state_dict):
    # Keep every saved state tensor's dtype (fp32 moments and masters of bf16 params).
    saved = {k: {n: v for n, v in s.items() if torch.is_tensor(v)} for k, s in state_dict['state'].items()}
    super().load_state_dict(state_dict)
    for gi, (saved_group, group) in enumerate(zip(state_dict['param_groups'], self.param_groups)):
      for k, v in self.defaults.items():  # torch.optim's groups lack our own keys (nesterov, power, ...)
        group.setdefault(k, v)
      self._check_hyper(group, gi)
      for i, p in zip(saved_group['params'], group['params']):
        for name, v in saved.get(i, {}).items():
          host_step = name == 'step' and not group.get('capturable', False)
          self.state[p][name] = v.to(device=v.device if host_step else p.device, dtype=v.dtype).clone()
        if p in self.state:
          self._normalize_state(p, self.state[p])

  @torch.no_grad()
  def sync_master(self):
    """Copies every bf16/fp16 parameter into its fp32 master: call after editing such parameters
    outside the optimizer (loading weights, clipping, re-initialising), else the next step
    rewrites them from the master and the edit is lost."""
    for group in self.param_groups:
      for p in group['params']:
        st = self.state.get(p)
        if st and 'master' in st:
          st['master'].copy_(p.detach())

  def master(self, p):
    """The fp32 master of a bf16/fp16 parameter (edit it to change the parameter exactly), or p."""
    st = self.state.get(p)
    return st['master'] if st and 'master' in st else p


def _refuse_torch_only(name, amsgrad=False, differentiable=False):
  if amsgrad:
    raise ValueError(f'{name}(amsgrad=True) is not implemented by the fused kernels; use torch.optim.AdamW('
                     'amsgrad=True)')
  if differentiable:
    raise ValueError(f'{name}(differentiable=True) is not supported: the kernels update in place outside '
                     'autograd; use the torch.optim class')


def _adamw_fallback(ps, gs, ms, vs, masters, t, lr, beta1, beta2, eps, weight_decay, nesterov, power):
  """The kernels' AdamW formula with torch ops, for float16 (on an fp32 master) and float64."""
  bc1, bc2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
  for p, g, m, v, w in zip(ps, gs, ms, vs, masters or [None] * len(ps)):
    x = p if w is None else w
    g = g.to(x.dtype)
    x.mul_(1.0 - lr * weight_decay)
    m.lerp_(g, 1.0 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
    num = m.lerp(g, 1.0 - beta1) if nesterov else m
    den = (v.sqrt() / math.sqrt(bc2)) if power == 2.0 else (v / bc2).pow(1.0 / power)
    x.addcdiv_(num, den.add_(eps), value=-lr / bc1)
    if w is not None:
      p.copy_(w)


class AdamW(_Fused):
  """Fused AdamW with torch.optim.AdamW semantics (bit-identical to fused=True on the CPU).

  Takes torch.optim.AdamW's arguments (see the module docstring for foreach, fused, maximize,
  amsgrad and differentiable). nesterov=True gives the AlgoPerf NAdamW (numerator
  b1 m_t + (1-b1) g), power != 2 NadamP's (v/bc2)^(1/power) denominator. capturable=True keeps
  'step' on the device and passes lr and step to the kernel in device memory, so a CUDA step can
  be captured in a CUDA graph (all params of a group must then share one step count).
  """

  def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
               maximize=False, foreach=None, capturable=False, differentiable=False, fused=None, nesterov=False,
               power=2.0):
    _refuse_torch_only(type(self).__name__, amsgrad, differentiable)
    defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=False,
                    maximize=maximize, foreach=foreach, capturable=capturable, differentiable=False, fused=fused,
                    nesterov=nesterov, power=float(power))
    super().__init__(params, defaults)

  def _check_hyper(self, group, gi):
    _refuse_torch_only(type(self).__name__, group.get('amsgrad'), group.get('differentiable'))
    self._check_range(gi, 'lr', group['lr'], 0.0)
    self._check_range(gi, 'eps', group['eps'], 0.0)
    betas = group['betas']
    if len(betas) != 2:
      raise ValueError(f'{self._group_name(gi)}: betas={betas} must be a pair (beta1, beta2)')
    self._check_range(gi, 'betas[0]', betas[0], 0.0, 1.0)
    self._check_range(gi, 'betas[1]', betas[1], 0.0, 1.0)
    self._check_range(gi, 'weight_decay', group['weight_decay'], 0.0)
    if not group['power'] > 0:
      raise ValueError(f'{self._group_name(gi)}: power={group["power"]} must be positive')

  def _state(self, p, group):
    st = self.state[p]
    if 'exp_avg' not in st:
      step_device = p.device if group['capturable'] else 'cpu'
      st['step'] = torch.zeros((), dtype=torch.float32, device=step_device)
      st['exp_avg'] = _float_state(p)
      st['exp_avg_sq'] = _float_state(p)
      if p.dtype in _MASTER_DTYPES:
        st['master'] = _master(p)
    return st

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for gi, group in enumerate(self.param_groups):
      beta1, beta2 = (_number(b) for b in group['betas'])
      buckets = collections.defaultdict(lambda: ([], [], [], [], [], []))
      entries = [(p, self._state(p, group)) for p in self._grads(group, gi)]
      if not entries:
        continue
      # One host read of every step count (params added later may lag behind the others).
      steps = [None] * len(entries) if group['capturable'] else torch.stack(
          [st['step'] for _, st in entries]).tolist()
      for (p, st), step in zip(entries, steps):
        for lst, t in zip(buckets[(p.device, p.dtype, step)],
                          (p, p.grad, st['exp_avg'], st['exp_avg_sq'], st.get('master'), st['step'])):
          lst.append(t)
      for (_, dtype, step), (ps, gs, ms, vs, masters, steps) in buckets.items():
        torch._foreach_add_(steps, 1.0)
        gs = self._maybe_neg(group, gs)
        if dtype not in _KERNEL_DTYPES:
          t = float(steps[0]) if step is None else step + 1.0
          _adamw_fallback(ps, gs, ms, vs, masters if dtype in _MASTER_DTYPES else None, t, float(group['lr']),
                          beta1, beta2, group['eps'], group['weight_decay'], group['nesterov'], group['power'])
          continue
        kw = dict(beta1=beta1, beta2=beta2, eps=group['eps'], weight_decay=group['weight_decay'],
                  nesterov=group['nesterov'], power=group['power'],
                  masters=masters if dtype == torch.bfloat16 else None)
        if group['capturable'] and ps[0].is_cuda:
          lr, device = group['lr'], ps[0].device
          # torch.full is a fill kernel, not a host-to-device copy, so it is safe inside a capture.
          lr_t = lr.reshape(()).to(device, torch.float32) if torch.is_tensor(lr) else torch.full((), float(lr),
                                                                                                 device=device)
          torch_ops.adamw(ps, gs, ms, vs, dyn_device=torch.stack([lr_t, steps[0]]), **kw)
        else:
          t = float(steps[0]) if step is None else step + 1.0  # capturable groups on the CPU: read it back
          torch_ops.adamw(ps, gs, ms, vs, lr=float(group['lr']), step=t, **kw)
    return loss


class NAdamW(AdamW):
  """The AlgoPerf NAdamW (not torch.optim.NAdam, which has a momentum-decay schedule).

  Takes torch.optim.AdamW's arguments (the same notes apply) plus power (NadamP)."""

  def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
               power=2.0, capturable=False, maximize=False, foreach=None, differentiable=False, fused=None):
    super().__init__(params, lr, betas, eps, weight_decay, amsgrad, nesterov=True, power=power,
                     capturable=capturable, maximize=maximize, foreach=foreach, differentiable=differentiable,
                     fused=fused)


def _sgd_fallback(ps, gs, bufs, masters, first, lr, momentum, dampening, weight_decay, nesterov, decoupled):
  """The kernels' SGD formula with torch ops, for float16 (on an fp32 master) and float64."""
  mom, damp = (0.0, 1.0) if first else (momentum, 1.0 - dampening)
  for p, g, buf, w in zip(ps, gs, bufs, masters or [None] * len(ps)):
    x = p if w is None else w
    d = g.to(x.dtype).add(x, alpha=weight_decay)
    buf.mul_(mom).add_(d, alpha=damp)
    direction = d.add(buf, alpha=momentum) if nesterov else buf
    x.add_(direction.add(x, alpha=decoupled), alpha=-lr)
    if w is not None:
      p.copy_(w)


class SGD(_Fused):
  """Fused momentum SGD with torch.optim.SGD semantics (coupled weight_decay, dampening,
  Nesterov), plus decoupled_weight_decay (lr * wd * p added after momentum, as optax's
  trace -> add_decayed_weights). A momentum buffer is kept even when momentum == 0 (torch keeps
  None then; such a state dict loads and starts the buffer afresh). Takes torch.optim.SGD's
  keywords (see the module docstring for foreach, fused, maximize and differentiable)."""

  def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
               maximize=False, foreach=None, differentiable=False, fused=None, decoupled_weight_decay=0.0):
    _refuse_torch_only(type(self).__name__, differentiable=differentiable)
    if nesterov and (momentum <= 0 or dampening != 0):
      raise ValueError('Nesterov momentum requires a momentum and zero dampening')
    defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                    nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=False, fused=fused,
                    decoupled_weight_decay=decoupled_weight_decay)
    super().__init__(params, defaults)

  def _check_hyper(self, group, gi):
    _refuse_torch_only(type(self).__name__, differentiable=group.get('differentiable'))
    self._check_range(gi, 'lr', group['lr'], 0.0)
    self._check_range(gi, 'momentum', group['momentum'], 0.0)
    self._check_range(gi, 'dampening', group['dampening'], 0.0, 1.0, hi_open=False)
    self._check_range(gi, 'weight_decay', group['weight_decay'], 0.0)
    self._check_range(gi, 'decoupled_weight_decay', group['decoupled_weight_decay'], 0.0)

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for gi, group in enumerate(self.param_groups):
      buckets = collections.defaultdict(lambda: ([], [], [], []))
      for p in self._grads(group, gi):
        st = self.state[p]
        first = st.get('momentum_buffer') is None
        if first:
          st['momentum_buffer'] = _float_state(p)
          if p.dtype in _MASTER_DTYPES and 'master' not in st:
            st['master'] = _master(p)
        for lst, t in zip(buckets[(p.device, p.dtype, first)], (p, p.grad, st['momentum_buffer'], st.get('master'))):
          lst.append(t)
      for (_, dtype, first), (ps, gs, bufs, masters) in buckets.items():
        gs = self._maybe_neg(group, gs)
        if dtype not in _KERNEL_DTYPES:
          _sgd_fallback(ps, gs, bufs, masters if dtype in _MASTER_DTYPES else None, first, float(group['lr']),
                        group['momentum'], group['dampening'], group['weight_decay'], group['nesterov'],
                        group['decoupled_weight_decay'])
          continue
        torch_ops.sgd(ps, gs, bufs, lr=float(group['lr']), momentum=group['momentum'],
                      dampening=group['dampening'], weight_decay=group['weight_decay'],
                      nesterov=group['nesterov'], first_step=first,
                      decoupled_weight_decay=group['decoupled_weight_decay'],
                      masters=masters if dtype == torch.bfloat16 else None)
    return loss


class ScheduleFreeAdamW(_Fused):
  """Schedule-free AdamW (Defazio et al. 2024, published form). While training the parameters
  hold y; call eval() before evaluating (parameters become x) and train() before the next step.
  Starts in train mode (x = y = z at initialisation).

  Step k (0-based): lr_k = lr * min(1, (k+1)/warmup_steps); lr_max = max(lr_max, lr_k);
  weight = (k+1)^r * lr_max^weight_lr_power; c = weight / sum(weights); then the fused
  y/z/v update with bias correction 1 - beta2^(k+1) inside the denominator."""

  _dtypes = _KERNEL_DTYPES  # no float16/float64 fallback: such parameters are refused at construction

  def __init__(self, params, lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, warmup_steps=0,
               r=0.0, weight_lr_power=2.0):
    defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, warmup_steps=warmup_steps,
                    r=r, weight_lr_power=weight_lr_power, k=0, lr_max=0.0, weight_sum=0.0, train_mode=True)
    super().__init__(params, defaults)

  def _check_hyper(self, group, gi):
    self._check_range(gi, 'lr', group['lr'], 0.0)
    self._check_range(gi, 'eps', group['eps'], 0.0)
    self._check_range(gi, 'betas[0]', group['betas'][0], 0.0, 1.0)
    self._check_range(gi, 'betas[1]', group['betas'][1], 0.0, 1.0)
    self._check_range(gi, 'weight_decay', group['weight_decay'], 0.0)
    self._check_range(gi, 'warmup_steps', group['warmup_steps'], 0)

  def _state(self, p):
    st = self.state[p]
    if not st:
      st['z'] = _master(p)
      st['exp_avg_sq'] = _float_state(p)
      if p.dtype == torch.bfloat16:
        st['master'] = _master(p)
    return st

  def _swap(self, to_eval):
    for group in self.param_groups:
      if group['train_mode'] != to_eval:
        continue
      beta1 = group['betas'][0]
      weight = 1.0 - 1.0 / beta1 if to_eval else 1.0 - beta1
      buckets = collections.defaultdict(lambda: ([], [], []))
      for p in group['params']:
        st = self.state[p]
        if 'z' in st:
          for lst, t in zip(buckets[(p.device, p.dtype)], (p, st['z'], st.get('master'))):
            lst.append(t)
      for (_, dtype), (ps, zs, masters) in buckets.items():
        torch_ops.sf_swap(ps, zs, weight=weight, masters=masters if dtype == torch.bfloat16 else None)
      group['train_mode'] = not to_eval

  @torch.no_grad()
  def eval(self):
    """y -> x: parameters become the averaged iterate used for evaluation."""
    self._swap(to_eval=True)

  @torch.no_grad()
  def train(self):
    """x -> y: back to the gradient point."""
    self._swap(to_eval=False)

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for group in self.param_groups:
      if not group['train_mode']:
        raise RuntimeError('ScheduleFreeAdamW.step() in eval mode; call optimizer.train() first')
      k = group['k']
      warmup = group['warmup_steps']
      lr = group['lr'] * (min(1.0, (k + 1) / warmup) if warmup else 1.0)
      group['lr_max'] = lr_max = max(lr, group['lr_max'])
      weight = ((k + 1) ** group['r']) * (lr_max ** group['weight_lr_power'])
      group['weight_sum'] = weight_sum = group['weight_sum'] + weight
      c = weight / weight_sum if weight_sum != 0 else 0.0
      beta1, beta2 = group['betas']
      buckets = collections.defaultdict(lambda: ([], [], [], [], []))
      for p in self._grads(group):
        st = self._state(p)
        for lst, t in zip(buckets[(p.device, p.dtype)], (p, p.grad, st['z'], st['exp_avg_sq'], st.get('master'))):
          lst.append(t)
      for (_, dtype), (ps, gs, zs, vs, masters) in buckets.items():
        torch_ops.sf_adamw_step(ps, gs, zs, vs, lr=lr, step=k + 1, c=c, beta1=beta1, beta2=beta2,
                                eps=group['eps'], weight_decay=group['weight_decay'],
                                masters=masters if dtype == torch.bfloat16 else None)
      group['k'] = k + 1
    return loss


class EMA:
  """Exponential moving average of parameters in fp32: ema <- decay ema + (1-decay) p."""

  def __init__(self, params, decay):
    self.params = [p for p in params]
    self.decay = decay
    self.shadow = [_master(p) for p in self.params]

  @torch.no_grad()
  def update(self):
    torch_ops.ema(self.shadow, self.params, decay=self.decay)

  @torch.no_grad()
  def copy_to(self, params=None):
    for p, s in zip(self.params if params is None else params, self.shadow):
      p.copy_(s)


class LawaQueue:
  """LAWA: the mean of the last k snapshots, kept as k fp32 slots plus a running sum.

  push() costs one 20-byte/param pass (sum += p - oldest; oldest <- p). The running sum drifts
  by rounding (about one ulp of the sum per push); resum() recomputes it from the slots.
  """

  def __init__(self, params, k, device=None):
    self.params = [p for p in params]
    self.k = k
    make = lambda p: torch.zeros(p.shape, dtype=torch.float32, device=device or p.device)
    self.slots = [[make(p) for p in self.params] for _ in range(k)]
    self.sums = [make(p) for p in self.params]
    self.count = 0
    self.next = 0

  def full(self):
    return self.count == self.k

  @torch.no_grad()
  def push(self):
    torch_ops.lawa_push(self.sums, self.slots[self.next], self.params)
    self.next = (self.next + 1) % self.k
    self.count = min(self.count + 1, self.k)

  @torch.no_grad()
  def resum(self):
    for i, s in enumerate(self.sums):
      s.copy_(torch.stack([slot[i] for slot in self.slots]).sum(0))

  @torch.no_grad()
  def average_into(self, outs, masters=None):
    """outs <- mean of the queued snapshots (outs may be bf16 with fp32 masters)."""
    if self.count == 0:
      raise RuntimeError('LawaQueue is empty')
    torch_ops.scale_copy(outs, self.sums, scale=1.0 / self.count, masters=masters)



class AdamG(_Fused):
  """Fused AdamG (Pang et al. 2024; op `adamg`): v = b2 v + (1-b2) g^2; n = b3 n + (1-b3) p_num v^q_num;
  m = b1 m + (1-b1) g n; p -= min(1/sqrt(t), lr) m/(1-b1^t) / (sqrt(v)/sqrt(1-b2^t) + eps).
  betas = (b1, b2, b3). No weight decay (AdamG's published point has none)."""

  def __init__(self, params, lr=1.0, betas=(0.95, 0.999, 0.95), eps=1e-8, *, p_num=0.2, q_num=0.24):
    if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 3:
      raise ValueError(f'invalid betas {betas}: three values in [0, 1)')
    super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, p_num=p_num, q_num=q_num))

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for group in self.param_groups:
      b1, b2, b3 = group['betas']
      buckets = collections.defaultdict(lambda: ([], [], [], [], [], []))
      for p in self._grads(group):
        st = self.state[p]
        if not st:
          st['step'] = 0
          for name in ('exp_avg', 'exp_avg_sq', 'numerator'):
            st[name] = _float_state(p)
          if p.dtype == torch.bfloat16:
            st['master'] = _master(p)
        st['step'] += 1
        for lst, t in zip(buckets[(p.device, p.dtype, st['step'])],
                          (p, p.grad, st['exp_avg'], st['exp_avg_sq'], st['numerator'], st.get('master'))):
          lst.append(t)
      for (_, dtype, step), (ps, gs, ms, vs, ns, masters) in buckets.items():
        torch_ops.adamg(ps, gs, ms, vs, ns, lr=float(group['lr']), step=float(step), beta1=b1, beta2=b2, beta3=b3,
                        eps=group['eps'], p_num=group['p_num'], q_num=group['q_num'],
                        masters=masters if dtype == torch.bfloat16 else None)
    return loss
