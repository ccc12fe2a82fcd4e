"""torch front end: parity with torch.optim, Optimizer classes, state_dict, bad input, NaN/Inf.

Tolerances: update_math.h puts FMAs where torch's CPU kernels do and follows their rounding
order, so AdamW equals torch.optim.AdamW(fused=True) bit for bit, except in torch's own scalar
tail (the last numel % 16 elements of each tensor), where torch rounds the second moment without
an FMA (1 ulp). Against torch's foreach/single-tensor AdamW, SGD, and the hand-written
reference optimizers below, the FMAs change the last bits: rtol=1e-6, with atol=1e-6*max|ref|
for elements produced by cancellation (see cpu_parity_test.py).
"""
import copy

import numpy as np
import pytest
import torch

from algoperf_kernels import reference as R
from algoperf_kernels import torch_ops
from algoperf_kernels import torch_optim

SHAPES = [(64, 32), (160,), (3, 5, 7), (1,)]  # the first two are multiples of 16: bit-exact vs fused


def close(a, b, rtol=1e-6):
  a, b = a.detach().double(), b.detach().double()
  scale = b.abs().max().item() if b.numel() else 0.0
  torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * scale)


def make_params(seed, dtype=torch.float32):
  g = torch.Generator().manual_seed(seed)
  return [torch.nn.Parameter(torch.randn(s, generator=g).to(dtype)) for s in SHAPES]


def set_grads(params, seed, step):
  g = torch.Generator().manual_seed(1000 * seed + step)
  for p in params:
    p.grad = torch.randn(p.shape, generator=g).to(p.dtype)


def run(opt_cls, params, steps, seed=0, lrs=None, **kw):
  opt = opt_cls(params, **kw)
  for t in range(steps):
    if lrs:
      for group in opt.param_groups:
        group['lr'] = lrs[t]
    set_grads(params, seed, t)
    opt.step()
  return opt


@pytest.mark.parametrize('mode', ['fused', 'foreach', 'single'])
def test_adamw_matches_torch(mode):
  kw = dict(lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
  lrs = [1e-3 * (1 + t) for t in range(6)]
  ours = make_params(0)
  theirs = make_params(0)
  flags = {'fused': dict(fused=True), 'foreach': dict(foreach=True), 'single': dict(foreach=False)}[mode]
  opt = run(torch_optim.AdamW, ours, 6, lrs=lrs, **kw)
  ref = run(torch.optim.AdamW, theirs, 6, lrs=lrs, **kw, **flags)
  for p, q in zip(ours, theirs):
    close(p, q)
    close(opt.state[p]['exp_avg'], ref.state[q]['exp_avg'])
    close(opt.state[p]['exp_avg_sq'], ref.state[q]['exp_avg_sq'])
    assert float(opt.state[p]['step']) == float(ref.state[q]['step']) == 6.0
    if mode == 'fused' and p.numel() % 16 == 0:
      assert torch.equal(p, q)
      assert torch.equal(opt.state[p]['exp_avg'], ref.state[q]['exp_avg'])
      assert torch.equal(opt.state[p]['exp_avg_sq'], ref.state[q]['exp_avg_sq'])


def algoperf_nadamw_reference(params, steps, seed, lr, b1, b2, eps, wd):
  """The AlgoPerf NAdamW (harness spec §5.1), written with plain torch ops."""
  state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
  out = [p.detach().clone() for p in params]
  for t in range(1, steps + 1):
    set_grads(params, seed, t - 1)
    for i, p in enumerate(params):
      g = p.grad
      m, v = state[i]
      m.mul_(b1).add_(g, alpha=1 - b1)
      v.mul_(b2).addcmul_(g, g, value=1 - b2)
      m_hat = (b1 * m + (1 - b1) * g) / (1 - b1 ** t)
      v_hat = v / (1 - b2 ** t)
      out[i] = out[i] - lr * (m_hat / (v_hat.sqrt() + eps) + wd * out[i])
  return out, state


def test_nadamw_matches_algoperf_formula():
  hp = dict(lr=1.7e-3, b1=1 - 0.0673, b2=0.9955, eps=1e-8, wd=0.08)
  ours = make_params(1)
  opt = run(torch_optim.NAdamW, ours, 5, seed=1, lr=hp['lr'], betas=(hp['b1'], hp['b2']), eps=hp['eps'],
            weight_decay=hp['wd'])
  ref, state = algoperf_nadamw_reference(make_params(1), 5, 1, **hp)
  for p, q, (m, v) in zip(ours, ref, state):
    close(p, q)
    close(opt.state[p]['exp_avg'], m)
    close(opt.state[p]['exp_avg_sq'], v)


def test_nadamp_power():
  """NadamP: the denominator is (v/bc2)^(1/p) + eps (first step, from zero state and p = 0)."""
  g = torch.randn(1000)
  q = torch.zeros(1000)
  torch_ops.adamw([q], [g], [torch.zeros(1000)], [torch.zeros(1000)], lr=1e-2, step=1, beta1=0.9, beta2=0.99,
                  eps=1e-8, weight_decay=0.0, nesterov=True, power=1.5)
  g64 = g.double()
  v_hat = (0.01 * g64 * g64) / 0.01
  m_bar = (0.9 * 0.1 * g64 + 0.1 * g64) / 0.1
  close(q, (-1e-2 * m_bar / (v_hat ** (1 / 1.5) + 1e-8)).float())


@pytest.mark.parametrize('kw', [dict(momentum=0.9), dict(momentum=0.9, nesterov=True, weight_decay=1e-3),
                                dict(momentum=0.8, dampening=0.2, weight_decay=1e-2), dict(momentum=0.0)])
def test_sgd_matches_torch(kw):
  ours, theirs = make_params(2), make_params(2)
  opt = run(torch_optim.SGD, ours, 5, seed=2, lr=0.1, **kw)
  ref = run(torch.optim.SGD, theirs, 5, seed=2, lr=0.1, foreach=False, **kw)
  for p, q in zip(ours, theirs):
    close(p, q)
    if kw['momentum']:
      close(opt.state[p]['momentum_buffer'], ref.state[q]['momentum_buffer'])


def schedule_free_reference(params, steps, seed, lr, b1, b2, eps, wd, warmup, r, power):
  """Published schedule-free AdamW (kernels spec §1.8), plain torch ops; params hold y."""
  y = [p.detach().clone() for p in params]
  z = [p.detach().clone() for p in params]
  v = [torch.zeros_like(p) for p in params]
  lr_max = weight_sum = 0.0
  for k in range(steps):
    set_grads(params, seed, k)
    lr_k = lr * min(1.0, (k + 1) / warmup)
    lr_max = max(lr_max, lr_k)
    weight = (k + 1) ** r * lr_max ** power
    weight_sum += weight
    c = weight / weight_sum
    bc2 = 1 - b2 ** (k + 1)
    for i, p in enumerate(params):
      g = p.grad
      v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
      gh = g / ((v[i] / bc2).sqrt() + eps) + wd * y[i]
      y[i] = torch.lerp(y[i], z[i], c) + lr_k * (b1 * (1 - c) - 1) * gh
      z[i] = z[i] - lr_k * gh
  return y, z, v


def test_schedule_free_matches_published_algorithm():
  hp = dict(lr=4e-3, b1=0.9, b2=0.9955, eps=1e-8, wd=0.08, warmup=3, r=0.75, power=2.0)
  ours = make_params(3)
  opt = torch_optim.ScheduleFreeAdamW(ours, lr=hp['lr'], betas=(hp['b1'], hp['b2']), eps=hp['eps'],
                                      weight_decay=hp['wd'], warmup_steps=hp['warmup'], r=hp['r'],
                                      weight_lr_power=hp['power'])
  for k in range(6):
    set_grads(ours, 3, k)
    opt.step()
  y, z, v = schedule_free_reference(make_params(3), 6, 3, **hp)
  for p, yy, zz, vv in zip(ours, y, z, v):
    close(p, yy)
    close(opt.state[p]['z'], zz)
    close(opt.state[p]['exp_avg_sq'], vv)
  opt.eval()
  for p, yy, zz in zip(ours, y, z):
    close(p, torch.lerp(yy, zz, 1 - 1 / hp['b1']))  # x = (y - (1-b1) z) / b1
    close(p, (yy - (1 - hp['b1']) * zz) / hp['b1'], rtol=1e-5)
  with pytest.raises(RuntimeError, match='eval mode'):
    opt.step()
  opt.train()
  for p, yy in zip(ours, y):
    close(p, yy, rtol=1e-5)


def test_bf16_params_with_fp32_masters():
  ours = make_params(4, torch.bfloat16)
  masters = [p.detach().float().clone().requires_grad_() for p in ours]
  opt = torch_optim.AdamW(ours, lr=1e-2, weight_decay=0.1)
  ref = torch.optim.AdamW(masters, lr=1e-2, weight_decay=0.1, fused=True)
  for t in range(5):
    set_grads(ours, 4, t)
    for p, m in zip(ours, masters):
      m.grad = p.grad.float()  # the kernel sees the bf16 gradient
    opt.step()
    ref.step()
  for p, m in zip(ours, masters):
    st = opt.state[p]
    assert st['master'].dtype == st['exp_avg'].dtype == torch.float32
    close(st['master'], m)
    if p.numel() % 16 == 0:
      assert torch.equal(st['master'], m.detach())
    assert torch.equal(p.detach(), st['master'].to(torch.bfloat16))  # bf16 copy = rounded master


@pytest.mark.parametrize('cls,kw', [(torch_optim.AdamW, dict(lr=1e-3, weight_decay=0.1)),
                                    (torch_optim.NAdamW, dict(lr=1e-3)),
                                    (torch_optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
                                    (torch_optim.ScheduleFreeAdamW, dict(lr=1e-3, warmup_steps=2))])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_state_dict_round_trip(cls, kw, dtype):
  a = make_params(5, dtype)
  opt_a = run(cls, a, 3, seed=5, **kw)
  saved = copy.deepcopy(opt_a.state_dict())
  b = [torch.nn.Parameter(p.detach().clone()) for p in a]
  opt_b = cls(b, **kw)
  opt_b.load_state_dict(saved)
  for p, q in zip(a, b):
    for key, val in opt_a.state[p].items():
      other = opt_b.state[q][key]
      assert other.dtype == val.dtype and torch.equal(other, val), key
  for t in range(3, 5):
    set_grads(a, 5, t)
    set_grads(b, 5, t)
    opt_a.step()
    opt_b.step()
  for p, q in zip(a, b):
    assert torch.equal(p, q)


def test_bad_inputs():
  p = [torch.zeros(4), torch.zeros(2, 3)]
  z = lambda: [torch.zeros(4), torch.zeros(2, 3)]
  hp = dict(lr=1e-3, step=1)
  with pytest.raises(ValueError, match=r'grads\[1\]: expected shape \(2, 3\)'):
    torch_ops.adamw(p, [torch.zeros(4), torch.zeros(3, 2)], z(), z(), **hp)
  with pytest.raises(ValueError, match=r'exp_avgs\[1\]: expected dtype float32, got float64'):
    torch_ops.adamw(p, z(), [torch.zeros(4), torch.zeros(2, 3, dtype=torch.float64)], z(), **hp)
  with pytest.raises(ValueError, match=r"exp_avg_sqs\[1\]: memory layout \(strides \(1, 2\)\) differs from params\[1\]"):
    torch_ops.adamw(p, z(), z(), [torch.zeros(4), torch.zeros(3, 2).t()], **hp)
  with pytest.raises(ValueError, match=r'exp_avgs\[0\]: expected a dense tensor'):
    torch_ops.adamw(p, z(), [torch.zeros(8)[::2], torch.zeros(2, 3)], z(), **hp)
  with pytest.raises(ValueError, match=r'step=0 is invalid; step counts from 1'):
    torch_ops.adamw(p, z(), z(), z(), lr=1e-3, step=0)
  with pytest.raises(ValueError, match=r'params\[0\]: expected dtype float32, got float16'):
    torch_ops.adamw([torch.zeros(4, dtype=torch.float16)], [torch.zeros(4)], [torch.zeros(4)], [torch.zeros(4)], **hp)
  with pytest.raises(ValueError, match='params is empty'):
    torch_ops.adamw([], [], [], [], **hp)
  with pytest.raises(ValueError, match=r'expected device cpu'):
    torch_ops.adamw([torch.zeros(4)], [torch.zeros(4, device='meta')], [torch.zeros(4)], [torch.zeros(4)], **hp)
  with pytest.raises(ValueError, match='masters is required'):
    torch_ops.adamw([torch.zeros(4, dtype=torch.bfloat16)], [torch.zeros(4, dtype=torch.bfloat16)],
                    [torch.zeros(4)], [torch.zeros(4)], **hp)
  with pytest.raises(ValueError, match='expected a torch.Tensor'):
    torch_ops.adamw([np.zeros(4, np.float32)], [torch.zeros(4)], [torch.zeros(4)], [torch.zeros(4)], **hp)
  w = torch.nn.Parameter(torch.zeros(3, 4))
  w.grad = torch.zeros(3, 4).to_sparse()
  with pytest.raises(ValueError, match='sparse'):
    torch_optim.AdamW([w]).step()


def test_nan_and_inf_gradients_behave_like_torch():
  ours, theirs = [torch.nn.Parameter(torch.ones(40))], [torch.nn.Parameter(torch.ones(40))]
  opt = torch_optim.AdamW(ours, lr=1e-3)
  ref = torch.optim.AdamW(theirs, lr=1e-3, foreach=False)
  for t in range(3):
    g = torch.full((40,), 0.3)
    if t == 1:
      g[2], g[5], g[7] = float('nan'), float('inf'), -float('inf')
    ours[0].grad, theirs[0].grad = g.clone(), g.clone()
    opt.step()
    ref.step()
  for a, b in ((ours[0], theirs[0]), (opt.state[ours[0]]['exp_avg'], ref.state[theirs[0]]['exp_avg']),
               (opt.state[ours[0]]['exp_avg_sq'], ref.state[theirs[0]]['exp_avg_sq'])):
    assert torch.equal(torch.isnan(a), torch.isnan(b))
    assert torch.equal(torch.isinf(a), torch.isinf(b))
    fin = torch.isfinite(b)
    close(a[fin], b[fin])
  assert torch.isnan(ours[0][[2, 5, 7]]).all() and torch.isfinite(ours[0][8:]).all()


def test_ema_and_lawa_helpers():
  params = make_params(6)
  ema = torch_optim.EMA(params, decay=0.9)
  lawa = torch_optim.LawaQueue(params, k=3)
  expected_ema = [p.detach().clone() for p in params]
  history = []
  for t in range(5):
    with torch.no_grad():
      for p in params:
        p.add_(torch.randn(p.shape))
    ema.update()
    lawa.push()
    history.append([p.detach().clone() for p in params])
    expected_ema = [torch.lerp(e, p.detach(), 0.1) for e, p in zip(expected_ema, params)]
  for s, e in zip(ema.shadow, expected_ema):
    assert torch.equal(s, e)
  assert lawa.full()
  outs = [torch.empty_like(p) for p in params]
  lawa.average_into(outs)
  for i, o in enumerate(outs):
    close(o, torch.stack([h[i] for h in history[-3:]]).mean(0), rtol=1e-5)
  lawa.resum()
  for i, s in enumerate(lawa.sums):
    close(s, sum(slot[i] for slot in lawa.slots), rtol=1e-6)


def test_adam_graft_returns_float64_norms():
  g = [torch.randn(100), torch.randn(7, 9)]
  m, a = [torch.zeros_like(x) for x in g], [torch.zeros_like(x) for x in g]
  d = [torch.empty_like(x) for x in g]
  sums = torch_ops.adam_graft(g, m, a, d, step=1, beta1=0.9, beta2=0.99, eps=1e-8)
  assert sums.dtype == torch.float64 and sums.shape == (2,)
  for i, x in enumerate(g):
    _, _, rd, _, rs = R.adam_graft(x.numpy().ravel(), np.zeros(x.numel(), np.float32), np.zeros(x.numel(), np.float32),
                                   step=1, beta1=0.9, beta2=0.99, eps=1e-8)
    np.testing.assert_array_equal(d[i].numpy().ravel(), rd)
    assert abs(sums[i].item() - rs) <= 1e-12 * rs


def test_capturable_group_on_cpu_matches_the_default():
  """capturable=True keeps 'step' next to the params; on the CPU the result is unchanged."""
  a, b = make_params(7), make_params(7)
  run(torch_optim.AdamW, a, 3, seed=7, lr=1e-3, capturable=True)
  run(torch_optim.AdamW, b, 3, seed=7, lr=1e-3)
  for p, q in zip(a, b):
    assert torch.equal(p, q)
