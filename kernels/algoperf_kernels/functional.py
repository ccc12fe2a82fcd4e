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

  def float32_device_buffer(self, values, like):
    """A float32 buffer holding `values` on `like`'s (CUDA) device: (object, address). For ops with
    per-tensor scalars, which the CUDA backend reads on the device."""
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
  ns = info['num_sums']
  if want_sums:
    sums, sums_addr = ad.float64_buffer(len(sizes) * ns, anchor)
    if kw['device'] == 'cuda':
      n_chunks = core._C.chunk_bases(sizes)[-1]
      partials, partials_addr = ad.float64_buffer(max(n_chunks * ns, 1), anchor)
  dyn_keep = None
  if info['per_tensor_dyn'] and kw['device'] == 'cuda' and dyn_device is None:
    dyn_keep, dyn_addr = ad.float32_device_buffer(core.dyn_values(op, dyn, len(sizes)), anchor)
  else:
    dyn_addr = ad.scalar_address(dyn_device) if dyn_device is not None else 0
  if dyn_addr and kw['device'] != 'cuda':
    raise ValueError('device-resident scalars (capturable) are only for CUDA tensors')
  core.run(op, flags, table, hyper, dyn, dyn_device=dyn_addr, sums=sums_addr, partials=partials_addr, **kw)
  del partials, dyn_keep
  return sums if ns <= 1 or sums is None else sums.reshape(len(sizes), ns)


def adamw(ad, params, grads, exp_avgs, exp_avg_sqs, *, lr=None, step=None, beta1=0.9, beta2=0.999,
          eps=1e-8, weight_decay=0.0, nesterov=False, power=2.0, masters=None, dyn_device=None):
  """AdamW (torch.optim.AdamW order: decay, then the Adam step); nesterov=True gives the AlgoPerf
  NAdamW, power != 2 NadamP's (v/bc2)^(1/power) denominator. step is 1-based (after increment).
  dyn_device: a float32 CUDA tensor [lr, step] read on the device (CUDA-graph capturable)."""
  if dyn_device is None:
    if lr is None or step is None:
      raise ValueError('adamw: pass lr and step (or dyn_device)')
    if not float(step) >= 1:
      raise ValueError(f'adamw: step={step} is invalid; step counts from 1 (the step being taken, after the '
                       'increment), since the bias corrections divide by 1 - beta^step')
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


def adamg(ad, params, grads, exp_avgs, exp_avg_sqs, numerators, *, lr, step, beta1=0.95, beta2=0.999,
          beta3=0.95, eps=1e-8, p_num=0.2, q_num=0.24, masters=None):
  """AdamG (Pang et al. 2024): v = b2 v + (1-b2) g^2; n = b3 n + (1-b3) p_num v^q_num;
  m = b1 m + (1-b1) g n; p -= min(1/sqrt(step), lr) m/(1-b1^step) / (sqrt(v)/sqrt(1-b2^step) + eps).
  step is 1-based (after increment)."""
  bf16 = _is_bf16(ad, params)
  lists = [params, grads, exp_avgs, exp_avg_sqs, numerators] + ([masters] if bf16 else [])
  hyper = dict(beta1=beta1, beta2=beta2, beta3=beta3, eps=eps, p_num=p_num, q_num=q_num)
  call(ad, 'adamg', core.flags_for(bf16=bf16), lists, hyper, dict(lr=lr, step=step))
def adam_update(ad, params, grads, exp_avgs, exp_avg_sqs, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8,
                eps_root=0.0, weight_decay=0.0, nesterov=False, power=2.0):
  """optax's AdamW update, written over `grads` (params read only): grads <- -lr (m^/(sqrt(v^ +
  eps_root) + eps) + wd p), m^ = num/(1-beta1^step), v^ = v/(1-beta2^step); moments as adamw.
  bf16 params take bf16 grads (the update is rounded to bf16 once) and fp32 moments."""
  if not float(step) >= 1:
    raise ValueError(f'adam_update: step={step} is invalid; step counts from 1 (after the increment)')
  flags = core.flags_for(bf16=_is_bf16(ad, params), nesterov=nesterov)
  dyn = dict(lr=lr, step=step, beta1=beta1, beta2=beta2, eps=eps, eps_root=eps_root, weight_decay=weight_decay,
             power=power)
  call(ad, 'adam_update', flags, [params, grads, exp_avgs, exp_avg_sqs], {}, dyn)


# ---------------------------------------------------------------------------------------------------------
# Two-pass reducing ops (fp32). Pass 1 updates moments and returns per-tensor sums (float64, fixed order:
# the same bits for any thread count and for scalar vs AVX2); the caller derives scalars from them and
# pass 2 applies the step. Formulas: update_math.h.

def amos_sums(ad, grads, mus, nus, *, scale, v_prev, c_now, beta1, beta2, reduced=False):
  """Amos pass 1 (submissions.md §2.7) after the global-norm clip g <- g scale, nu-clip with v_prev
  (style adam: per element c_prev nu, pass c_prev as v_prev; style reduced: the tensor's v_prev).
  Style adam: mu = (1-b1) gc + b1 mu, nu = b2 nu + g2; returns (n, 2) sums of mu^2 and c_now nu.
  Style reduced (mus, nus unused, may be None): returns (n,) sums of the clipped g^2.
  scale/v_prev/c_now: one value, or one per tensor."""
  lists = [grads, None if reduced else mus, None if reduced else nus]
  return call(ad, 'amos_sums', core.flags_for(reduced=reduced), lists, dict(beta1=beta1, beta2=beta2),
              dict(scale=scale, v_prev=v_prev, c_now=c_now), want_sums=True)


def amos_step(ad, params, grads, mus, nus, *, weight_decay, e, d, beta1, beta2, scale=1.0, v_prev=0.0, v_hat=0.0,
              c_now=None, reduced=False):
  """Amos pass 2 with the per-tensor scalars wd, E = eta xi_t, D = 1 + eta s l2r b_v (one per tensor).
  Style adam (grads unused): p += (wd p - E mu/sqrt(max(c_now nu, tiny))) / D.
  Style reduced (nus unused): u = gc/sqrt(v_hat); mu = (1-b1)(wd p - E u)/D + b1 mu; p += mu."""
  if not reduced and c_now is None:
    raise ValueError('amos_step: style adam needs c_now = (1-beta2)/(1-beta2^t) (v_hat = c_now nu)')
  lists = [params, grads if reduced else None, mus, None if reduced else nus]
  dyn = dict(scale=scale, v_prev=v_prev, v_hat=v_hat if reduced else c_now, weight_decay=weight_decay, e=e, d=d)
  call(ad, 'amos_step', core.flags_for(reduced=reduced), lists, dict(beta1=beta1, beta2=beta2), dyn)


def prodigy_sums(ad, grads, x0s, zs, exp_avg_sqs, ss, *, vc, ddl, beta2):
  """Schedule-Free Prodigy pass 1 (submissions.md §2.11): v = b2 v + vc g g (vc = (1-b2) d^2),
  s = sqrt(b2) s + ddl g (ddl = d dl). Returns (n, 2) sums of g (x0 - z) and |s| (s after the update)."""
  hyper = dict(beta2=beta2, sqrt_beta2=beta2**0.5)
  return call(ad, 'prodigy_sums', 0, [grads, x0s, zs, exp_avg_sqs, ss], hyper, dict(vc=vc, ddl=ddl),
              want_sums=True)


def prodigy_step(ad, params, grads, zs, exp_avg_sqs, *, wd_dl, step, eps_d, c, moved=True):
  """Schedule-Free Prodigy pass 2: z -= wd_dl x + step g / (sqrt(v) + eps_d); x = (1-c) x + c z
  (params hold x). moved=False leaves x and z untouched."""
  dyn = dict(wd_dl=wd_dl, step=step, eps_d=eps_d, c=c, moved=1.0 if moved else 0.0)
  call(ad, 'prodigy_step', 0, [params, grads, zs, exp_avg_sqs], {}, dyn)
