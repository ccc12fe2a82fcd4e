"""torch.optim.Optimizer classes over the fused kernels, plus EMA and LAWA-queue averaging.

Each step groups a param group's tensors by (device, dtype, step) and makes one fused call per
bucket. bf16 parameters keep an fp32 'master' copy in the state; the kernels update the master
and rewrite the bf16 parameter in the same pass. state_dict()/load_state_dict() round-trip the
state exactly (torch would otherwise cast fp32 state of bf16 params to bf16 on load).
"""
import collections

import torch

from algoperf_kernels import torch_ops


def _float_state(p):
  return torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)


def _master(p):
  return p.detach().to(torch.float32, memory_format=torch.contiguous_format).clone()


class _Fused(torch.optim.Optimizer):
  """Shared bookkeeping: bucketing and dtype-preserving state loading."""

  def _grads(self, group):
    for p in group['params']:
      if p.grad is None:
        continue
      if p.grad.is_sparse:
        raise ValueError(f'{type(self).__name__} does not support sparse gradients')
      yield p

  def load_state_dict(self, state_dict):
    # Keep every saved state tensor's dtype (fp32 moments and masters of bf16 params).
    saved = {k: {n: v for n, v in s.items() if torch.is_tensor(v)} for k, s in state_dict['state'].items()}
    super().load_state_dict(state_dict)
    for saved_group, group in zip(state_dict['param_groups'], self.param_groups):
      for i, p in zip(saved_group['params'], group['params']):
        for name, v in saved.get(i, {}).items():
          host_step = name == 'step' and not group.get('capturable', False)
          self.state[p][name] = v.to(device=v.device if host_step else p.device, dtype=v.dtype).clone()


class AdamW(_Fused):
  """Fused AdamW with torch.optim.AdamW semantics (bit-identical to fused=True on the CPU).

  nesterov=True gives the AlgoPerf NAdamW (numerator b1 m_t + (1-b1) g), power != 2 NadamP's
  (v/bc2)^(1/power) denominator. capturable=True keeps 'step' on the device and passes lr and
  step to the kernel in device memory, so a CUDA step can be captured in a CUDA graph (all
  params of a group must then share one step count).
  """

  def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, *, nesterov=False,
               power=2.0, capturable=False):
    if not 0.0 <= eps:
      raise ValueError(f'invalid eps {eps}')
    if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
      raise ValueError(f'invalid betas {betas}')
    defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, nesterov=nesterov,
                    power=float(power), capturable=capturable)
    super().__init__(params, defaults)

  def _state(self, p, group):
    st = self.state[p]
    if not st:
      step_device = p.device if group['capturable'] else 'cpu'
      st['step'] = torch.zeros((), dtype=torch.float32, device=step_device)
      st['exp_avg'] = _float_state(p)
      st['exp_avg_sq'] = _float_state(p)
      if p.dtype == torch.bfloat16:
        st['master'] = _master(p)
    return st

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for group in self.param_groups:
      beta1, beta2 = group['betas']
      buckets = collections.defaultdict(lambda: ([], [], [], [], [], []))
      entries = [(p, self._state(p, group)) for p in self._grads(group)]
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
  """The AlgoPerf NAdamW (not torch.optim.NAdam, which has a momentum-decay schedule)."""

  def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, *, power=2.0,
               capturable=False):
    super().__init__(params, lr, betas, eps, weight_decay, nesterov=True, power=power, capturable=capturable)


class SGD(_Fused):
  """Fused momentum SGD with torch.optim.SGD semantics (coupled weight_decay, dampening,
  Nesterov), plus decoupled_weight_decay (lr * wd * p added after momentum, as optax's
  trace -> add_decayed_weights). A momentum buffer is kept even when momentum == 0."""

  def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
               decoupled_weight_decay=0.0):
    if nesterov and (momentum <= 0 or dampening != 0):
      raise ValueError('Nesterov momentum requires a momentum and zero dampening')
    defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                    nesterov=nesterov, decoupled_weight_decay=decoupled_weight_decay)
    super().__init__(params, defaults)

  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for group in self.param_groups:
      buckets = collections.defaultdict(lambda: ([], [], [], []))
      for p in self._grads(group):
        st = self.state[p]
        first = 'momentum_buffer' not in st
        if first:
          st['momentum_buffer'] = _float_state(p)
          if p.dtype == torch.bfloat16:
            st['master'] = _master(p)
        for lst, t in zip(buckets[(p.device, p.dtype, first)], (p, p.grad, st['momentum_buffer'], st.get('master'))):
          lst.append(t)
      for (_, dtype, first), (ps, gs, bufs, masters) in buckets.items():
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

  def __init__(self, params, lr=2.5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, warmup_steps=0,
               r=0.0, weight_lr_power=2.0):
    defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, warmup_steps=warmup_steps,
                    r=r, weight_lr_power=weight_lr_power, k=0, lr_max=0.0, weight_sum=0.0, train_mode=True)
    super().__init__(params, defaults)

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
