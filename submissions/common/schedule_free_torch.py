"""Schedule-free AdamW for PyTorch in its two published forms, on the fused kernels by default.

* 'v0.6' (the published optimizer, schedulefree/adamw_schedulefree.py; kernels.md §1.8): the parameters hold
  the gradient point y between steps; the denominator is sqrt(v / bc2) + eps and weight decay is taken at y.
  The averaged point x is made for evaluation only (to_x), in one lerp pass.
* 'v0.5' (the closure form of the v0.5 leaderboard submission, submissions.md §2.2): the parameters hold x
  between steps; before the forward pass they are moved to y = lerp(x, z, 1 - b1) and back after the
  backward pass; the step size is gamma_k = lr_k sqrt(bc2) over sqrt(v) + eps, and decay is taken at x and
  scaled by sqrt(bc2).

Both run on one kernel, `sf_step` (params, grads, z, v): y <- lerp(y, z, c) + lr (b1 (1-c) - 1) g^,
z <- z - lr g^, g^ = g / (sqrt(v / bc2) + eps) + wd y. Fed x for y, beta1 = 1, lr = gamma_k and a step so
large that bc2 = 1, it computes the closure form exactly: z <- z - gamma (g / (sqrt(v) + eps) + wd x),
x <- lerp(x, z, c) - c gamma g^ = (1 - c) x + c z_new. ALGOPERF_KERNELS=off runs the same formulas as torch
ops. Departure from the v0.5 code: v is kept in fp32 (it was bf16), as the kernel's state is.
"""
import numpy as np
import torch

from submissions.common import kernel_switch
from submissions.common import sf_math

FORMS = ('v0.5', 'v0.6')


class ScheduleFreeAdamW(torch.optim.Optimizer):
  """One param group of fp32 parameters. `form` may be None until the first step (set_form)."""

  def __init__(self, params, lr: float, betas, weight_decay: float, warmup_steps: int, *, eps: float = 1e-8,
               r: float = 0.75, weight_lr_power: float = 2.0, form=None, use_kernels=None):
    defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, warmup_steps=int(warmup_steps),
                    r=r, weight_lr_power=weight_lr_power, k=0, lr_max=0.0, weight_sum=0.0, form=form)
    super().__init__(params, defaults)
    self.use_kernels = kernel_switch.kernels_enabled() if use_kernels is None else use_kernels
    for group in self.param_groups:
      for p in group['params']:
        if p.dtype != torch.float32:
          raise ValueError(f'ScheduleFreeAdamW here supports float32 parameters, got {p.dtype}.')
        self.state[p]['z'] = p.detach().clone()
        self.state[p]['exp_avg_sq'] = torch.zeros_like(p)

  # -- forms and swaps ------------------------------------------------------------------------------------
  @property
  def form(self):
    return self.param_groups[0]['form']

  def set_form(self, form: str) -> None:
    if form not in FORMS:
      raise ValueError(f'Schedule-free form {form!r} is unknown; use one of {FORMS}.')
    for group in self.param_groups:
      if group['form'] is not None and group['form'] != form:
        raise ValueError(f'This optimizer runs the {group["form"]} form; it cannot switch to {form}.')
      group['form'] = form

  def _lerp_params(self, weight_of_beta1) -> None:
    for group in self.param_groups:
      weight = weight_of_beta1(group['betas'][0])
      ps = list(group['params'])
      zs = [self.state[p]['z'] for p in ps]
      if self.use_kernels:
        from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
        torch_ops.sf_swap(ps, zs, weight=weight)
      else:
        for p, z in zip(ps, zs):
          p.detach().lerp_(z, weight)

  @torch.no_grad()
  def to_y(self) -> None:
    """x -> y = lerp(x, z, 1 - b1)."""
    self._lerp_params(lambda b1: 1.0 - b1)

  @torch.no_grad()
  def to_x(self) -> None:
    """y -> x = lerp(y, z, 1 - 1/b1)."""
    self._lerp_params(lambda b1: 1.0 - 1.0 / b1)

  # -- the step ---------------------------------------------------------------------------------------
  @torch.no_grad()
  def step(self, closure=None):
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    for group in self.param_groups:
      form = group['form']
      if form not in FORMS:
        raise ValueError('ScheduleFreeAdamW.step() before set_form(); call set_form("v0.5" or "v0.6").')
      k = group['k']
      b1, b2 = group['betas']
      lr_k, group['lr_max'], group['weight_sum'], c = (float(x) for x in sf_math.sf_coefficients(
          np, k, group['lr'], group['warmup_steps'], group['lr_max'], group['weight_sum'],
          group['r'], group['weight_lr_power'], lr_floor=1e-8 if form == 'v0.5' else 0.0))
      if form == 'v0.5':
        lr = float(sf_math.closure_form_lr(np, lr_k, b2, k))
        step, kernel_b1 = sf_math.NO_BIAS_CORRECTION_STEP, 1.0
      else:
        lr, step, kernel_b1 = lr_k, float(k + 1), b1
      ps = [p for p in group['params'] if p.grad is not None]
      gs = [p.grad for p in ps]
      zs = [self.state[p]['z'] for p in ps]
      vs = [self.state[p]['exp_avg_sq'] for p in ps]
      if ps:
        _sf_step(ps, gs, zs, vs, lr=lr, step=step, c=c, beta1=kernel_b1, beta2=b2, eps=group['eps'],
                 weight_decay=group['weight_decay'], use_kernels=self.use_kernels)
      group['k'] = k + 1
    return loss


def _sf_step(ps, gs, zs, vs, *, lr, step, c, beta1, beta2, eps, weight_decay, use_kernels):
  if use_kernels:
    from algoperf_kernels import torch_ops  # pylint: disable=import-outside-toplevel
    torch_ops.sf_adamw_step(ps, gs, zs, vs, lr=lr, step=step, c=c, beta1=beta1, beta2=beta2, eps=eps,
                            weight_decay=weight_decay)
    return
  bc2 = 1.0 - beta2**step if step < sf_math.NO_BIAS_CORRECTION_STEP else 1.0
  for p, g, z, v in zip(ps, gs, zs, vs):
    p = p.detach()
    v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
    g_hat = g / (v / bc2).sqrt_().add_(eps)
    g_hat.add_(p, alpha=weight_decay)
    p.lerp_(z, c).add_(g_hat, alpha=lr * (beta1 * (1.0 - c) - 1.0))
    z.sub_(g_hat, alpha=lr)
