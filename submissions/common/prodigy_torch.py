"""Schedule-Free Prodigy for PyTorch (the math is in prodigy.py): an Optimizer whose state_dict carries z, v,
s, x0 and the scalars d, D_num, sum w and k, so checkpoints resume it. By default both passes run on the fused
kernels (prodigy_sums: v, s and the two sums in one pass; prodigy_step: z and x); ALGOPERF_KERNELS=off runs
prodigy.py's plain torch ops, the same math."""
import torch

from algoperf_kernels import torch_ops
from submissions.common import kernel_switch
from submissions.common import prodigy


class ScheduleFreeProdigy(torch.optim.Optimizer):

  def __init__(self, params, weight_decay: float, warmup_steps: int):
    self._kernels = kernel_switch.kernels_enabled()
    super().__init__(params, dict(weight_decay=weight_decay, warmup_steps=int(warmup_steps), d=prodigy.D0,
                                  d_num=0.0, weight_sum=0.0, k=0))
    for group in self.param_groups:
      for p in group['params']:
        st = self.state[p]
        st['z'], st['x0'] = p.detach().clone(), p.detach().clone()
        st['v'], st['s'] = torch.zeros_like(p), torch.zeros_like(p)

  def _lerp(self, weight) -> None:
    for group in self.param_groups:
      for p in group['params']:
        p.detach().lerp_(self.state[p]['z'], weight)

  @torch.no_grad()
  def to_y(self):
    self._lerp(1.0 - prodigy.B1)

  @torch.no_grad()
  def to_x(self):
    self._lerp(1.0 - 1.0 / prodigy.B1)

  @torch.no_grad()
  def step(self, global_step: int):  # pylint: disable=arguments-renamed
    for group in self.param_groups:
      ps = [p for p in group['params'] if p.grad is not None]
      st = [self.state[p] for p in ps]
      grads = [p.grad for p in ps]
      d = group['d']
      dl = d * float(prodigy.warmup_multiplier(global_step, group['warmup_steps'], _Host))
      if self._kernels:
        sums = torch_ops.prodigy_sums(grads, [s['x0'] for s in st], [s['z'] for s in st], [s['v'] for s in st],
                                      [s['s'] for s in st], vc=(1.0 - prodigy.B2) * (d * d), ddl=d * dl,
                                      beta2=prodigy.B2).sum(dim=0).tolist()
        group['d_num'] = prodigy.B2**0.5 * group['d_num'] + d * dl * sums[0]
        d_den = sums[1]
      else:
        vs, ss, d_num, d_den = prodigy.reductions(_Torch, grads, [s['x0'] for s in st], [s['z'] for s in st],
                                                  [s['s'] for s in st], [s['v'] for s in st], d, dl, group['d_num'])
        group['d_num'] = float(d_num)
        for s, v, sv in zip(st, vs, ss):
          s['v'], s['s'] = v, sv
      d_den = float(d_den)
      if d_den == 0.0:
        continue
      d_new = max(d, prodigy.D_COEF * group['d_num'] / d_den)
      weight = (group['k'] + 1)**prodigy.R
      group['weight_sum'] += weight
      c = weight / group['weight_sum']
      if self._kernels:
        torch_ops.prodigy_step([p.detach() for p in ps], grads, [s['z'] for s in st], [s['v'] for s in st],
                               wd_dl=group['weight_decay'] * dl, step=d_new * dl, eps_d=d_new * prodigy.EPS, c=c)
      else:
        xs, zs = prodigy.z_and_x(_Torch, [p.detach() for p in ps], grads, [s['z'] for s in st], vs, d_new, dl, c,
                                 group['weight_decay'])
        for p, s, x, z in zip(ps, st, xs, zs):
          p.detach().copy_(x)
          s['z'] = z
      group['d'], group['k'] = d_new, group['k'] + 1


class _Host:
  """Array-module view of Python floats (the warmup multiplier)."""
  minimum = staticmethod(min)


class _Torch:
  """Array-module view of torch for prodigy.py."""
  sum = staticmethod(torch.sum)
  abs = staticmethod(torch.abs)
  sqrt = staticmethod(torch.sqrt)
