"""The in-place ops, written once over a framework adapter (torch_ops and numpy_ops bind one).

Every function updates its tensor lists in place with one fused pass over memory. All tensors
of a call share one device; each list has one dtype. bf16 parameters (and grads) need an fp32
`masters` list: the math runs on the masters and the bf16 copy is rewritten in the same pass.

NaN/Inf gradients propagate exactly as in torch.optim (no skipping): the affected moments and
parameters become NaN/Inf; no other element is touched.
"""
from typing import Optional, Sequence

from algoperf_kernels import core


class Adapter:
  """What a front end supplies: tensor facts, call placement and scratch buffers."""

  def describe(self, tensors) -> core.ListInfo:
    """Facts about one list of tensors (raise ValueError for objects of the wrong kind)."""
    raise NotImplementedError

  def placement(self, t) -> dict:
    """device/device_index/stream keywords for core.run, from the first tensor."""
    raise NotImplementedError

  def float64_buffer(self, n: int, like):
    """A zeroed float64 buffer of n elements on `like`'s device: (object, address)."""
    raise NotImplementedError

  def scalar_address(self, t) -> int:
    """Address of a float32 device buffer of per-step scalars (capturable CUDA path)."""
    raise NotImplementedError

  def is_bf16(self, t) -> bool:
    raise NotImplementedError


def _is_bf16(ad: Adapter, tensors) -> bool:
  return bool(tensors) and ad.is_bf16(tensors[0])


def call(ad: Adapter, op: str, flags: int, lists: Sequence[Optional[Sequence]], hyper: dict, dyn: dict,
         *, dyn_device=None, want_sums=False):
  """Validates the lists and runs the op; returns per-tensor sums for reducing ops."""
  infos = []
  for l, lst in enumerate(lists):
    try:
      infos.append(None if lst is None else ad.describe(lst))
    except core.BadItem as e:
      names = core.list_names(op, flags)
      name = names[l] if l < len(names) else f'list {l}'
      raise ValueError(f'{op}: {name}[{e.index}]: {e.message}') from None
  info, first = core.validate(op, flags, infos)
  used = info['read'] | info['write']
  sizes = infos[first].numels
  table = core.Table([li.ptrs if li is not None and (used >> l) & 1 else None for l, li in enumerate(infos)], sizes)
  anchor = lists[first][0]
  kw = ad.placement(anchor)
  sums = partials = None
  sums_addr = partials_addr = 0
  if want_sums:
    sums, sums_addr = ad.float64_buffer(len(sizes), anchor)
    if kw['device'] == 'cuda':
      n_chunks = core._C.chunk_bases(sizes)[-1]
      partials, partials_addr = ad.float64_buffer(max(n_chunks, 1), anchor)
  dyn_addr = ad.scalar_address(dyn_device) if dyn_device is not None else 0
  if dyn_addr and kw['device'] != 'cuda':
    raise ValueError('device-resident scalars (capturable) are only for CUDA tensors')
  core.run(op, flags, table, hyper, dyn, dyn_device=dyn_addr, sums=sums_addr, partials=partials_addr, **kw)
  del partials
  return sums


def adamw(ad, params, grads, exp_avgs, exp_avg_sqs, *, lr=None, step=None, beta1=0.9, beta2=0.999,
          eps=1e-8, weight_decay=0.0, nesterov=False, power=2.0, masters=None, dyn_device=None):
  """AdamW (torch.optim.AdamW order: decay, then the Adam step); nesterov=True gives the AlgoPerf
  NAdamW, power != 2 NadamP's (v/bc2)^(1/power) denominator. step is 1-based (after increment).
  dyn_device: a float32 CUDA tensor [lr, step] read on the device (CUDA-graph capturable)."""
  bf16 = _is_bf16(ad, params)
  flags = core.flags_for(bf16=bf16, nesterov=nesterov, root=float(power) != 2.0)
  lists = [params, grads, exp_avgs, exp_avg_sqs] + ([masters] if bf16 else [])
  hyper = dict(beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, power=power)
  call(ad, 'adam', flags, lists, hyper, dict(lr=lr, step=step), dyn_device=dyn_device)


def sf_adamw_step(ad, params, grads, zs, exp_avg_sqs, *, lr, step, c, beta1=0.9, beta2=0.999, eps=1e-8,
                  weight_decay=0.0, masters=None):
  """Schedule-free AdamW step with params holding y: v EMA, g^ = g/(sqrt(v/bc2)+eps) + wd y,
  y = lerp(y, z, c) + lr (beta1 (1-c) - 1) g^, z -= lr g^. lr is the warmup-scaled rate."""
  bf16 = _is_bf16(ad, params)
  lists = [params, grads, zs, exp_avg_sqs] + ([masters] if bf16 else [])
  hyper = dict(beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
  call(ad, 'sf_step', core.flags_for(bf16=bf16), lists, hyper, dict(lr=lr, step=step, c=c))


def sf_swap(ad, params, zs, *, weight, masters=None):
  """params <- lerp(params, z, weight): weight 1-1/beta1 moves y to x (eval), 1-beta1 x to y."""
  bf16 = _is_bf16(ad, params)
  lists = [params, zs] + ([masters] if bf16 else [])
  call(ad, 'sf_swap', core.flags_for(bf16=bf16), lists, {}, dict(weight=weight))


def ema(ad, emas, params, *, decay):
  """emas <- decay * emas + (1-decay) * params (as torch lerp); params may be bf16."""
  flags = core.flags_for(bf16=_is_bf16(ad, params))
  call(ad, 'ema', flags, [emas, params], {}, dict(weight=1.0 - decay))


def lawa_push(ad, sums, slots, params):
  """LAWA queue push: sums += params - slots; slots <- params (slots: the oldest snapshot)."""
  flags = core.flags_for(bf16=_is_bf16(ad, params))
  call(ad, 'lawa_push', flags, [sums, slots, params], {}, {})


def scale_copy(ad, outs, srcs, *, scale, masters=None):
  """outs <- srcs * scale (e.g. the LAWA average sums / k into the model)."""
  bf16 = _is_bf16(ad, outs)
  lists = [outs, srcs] + ([masters] if bf16 else [])
  call(ad, 'scale_copy', core.flags_for(bf16=bf16), lists, {}, dict(scale=scale))


def sgd(ad, params, grads, momentum_buffers, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
        nesterov=False, first_step=False, decoupled_weight_decay=0.0, dir_grad=None, dir_buf=None,
        masters=None):
  """Momentum SGD. Defaults follow torch.optim.SGD (first_step=True initialises the buffer to
  the gradient). Nesterov direction dir_grad*d + dir_buf*buf, default 1 and momentum; Shampoo's
  EMA-Nesterov uses dampening=momentum, dir_grad=1-momentum. decoupled_weight_decay adds
  wd*p to the direction (optax add_decayed_weights after trace)."""
  bf16 = _is_bf16(ad, params)
  lists = [params, grads, momentum_buffers] + ([masters] if bf16 else [])
  hyper = dict(momentum=momentum, dampening=dampening, weight_decay=weight_decay,
               decoupled_weight_decay=decoupled_weight_decay,
               dir_grad=1.0 if dir_grad is None else dir_grad,
               dir_buf=momentum if dir_buf is None else dir_buf)
  flags = core.flags_for(bf16=bf16, nesterov=nesterov)
  call(ad, 'sgd', flags, lists, hyper, dict(lr=lr, first=1.0 if first_step else 0.0))


def adam_graft(ad, grads, exp_avgs, graft_sqs, directions, filtered=None, *, step, beta1, beta2, eps,
               nesterov=False):
  """Shampoo's Adam grafting step. With beta1 != 0: exp_avgs <- lerp(exp_avgs, g, 1-beta1) and the
  filtered gradient mt = (nesterov ? lerp(m, g, 1-beta1) : m)/(1-beta1^t) (written to `filtered`
  when given); else mt = g. graft_sqs <- beta2 a + (1-beta2) g^2;
  directions <- mt / (sqrt(a/(1-beta2^t)) + eps). Returns sum(directions^2) per tensor (float64),
  reduced in a fixed order (thread-count independent)."""
  momentum = beta1 != 0.0
  flags = core.flags_for(momentum=momentum, nesterov=nesterov, write_mt=filtered is not None)
  lists = [grads, exp_avgs if momentum else None, graft_sqs, directions, filtered]
  return call(ad, 'graft', flags, lists, dict(beta1=beta1, beta2=beta2, eps=eps), dict(step=step),
              want_sums=True)


def triad(ad, a, b, c, *, scalar):
  """STREAM triad a <- b + scalar * c through the same machinery (the benchmark's ceiling)."""
  call(ad, 'triad', 0, [a, b, c], {}, dict(scalar=scalar))


def sinv6(ad, params, grads, ms, rmss, *, scale, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=1e-10, clip=1000.0,
          dyn_device=None):
  """Sinv6's step (fp32): g clamped to [-clip, clip]; m = b1 m + (1-b1) g; rms = b2 rms + (1-b2) g^2;
  p -= scale * m / (eps + sqrt(rms + eps_root)). `scale` (0.001 lr_mult RMS(p)) is shared by the tensors
  of one call; with `dyn_device` (a float32 CUDA tensor holding it) the host never reads it."""
  hyper = dict(beta1=beta1, beta2=beta2, eps=eps, eps_root=eps_root, clip=clip)
  call(ad, 'sinv6', 0, [params, grads, ms, rmss], hyper, dict(scale=scale), dyn_device=dyn_device)
