"""torch_optim as a drop-in for torch.optim: torch's keywords, torch's state dicts, dtypes, layouts,
checks at construction, and editing bf16 parameters through the fp32 master.

References are torch.optim itself (an independent implementation) run on the same tensors.
Tolerance rtol=1e-6 (atol 1e-6 x max|ref|) where the rounding order differs (see torch_test.py);
bit equality where the formula is torch's own (fused=True on the CPU, the float64 fallback).
"""
import copy

import pytest
import torch

from algoperf_kernels import torch_optim

SHAPES = [(32, 16), (48,), (3, 5, 7)]


def close(a, b, rtol=1e-6):
  a, b = a.detach().double(), b.detach().double()
  torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * b.abs().max().item())


def params(seed, dtype=torch.float32, shapes=SHAPES):
  g = torch.Generator().manual_seed(seed)
  return [torch.nn.Parameter(torch.randn(s, generator=g).to(dtype)) for s in shapes]


def grads(ps, step):
  g = torch.Generator().manual_seed(100 + step)
  for p in ps:
    p.grad = torch.randn(p.shape, generator=g).to(p.dtype)


def steps(opt, ps, start, stop):
  for t in range(start, stop):
    grads(ps, t)
    opt.step()


def test_torch_keywords_accepted_foreach_and_fused_ignored():
  kw = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, amsgrad=False, maximize=False, foreach=True,
            capturable=False, differentiable=False, fused=False)
  ours, theirs = params(0), params(0)
  steps(torch_optim.AdamW(ours, **kw), ours, 0, 4)
  steps(torch.optim.AdamW(theirs, **dict(kw, foreach=None, fused=True)), theirs, 0, 4)
  for p, q in zip(ours, theirs):
    if p.numel() % 16 == 0:  # torch's fused scalar tail rounds without an FMA (torch_test.py)
      assert torch.equal(p, q)
    close(p, q)
  sgd_kw = dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-3, nesterov=True, foreach=False, fused=True)
  ours, theirs = params(1), params(1)
  steps(torch_optim.SGD(ours, **sgd_kw), ours, 0, 4)
  steps(torch.optim.SGD(theirs, **sgd_kw), theirs, 0, 4)
  for p, q in zip(ours, theirs):
    close(p, q)


@pytest.mark.parametrize('which', ['adamw', 'sgd'])
def test_maximize_matches_torch(which):
  ours, theirs = params(2), params(2)
  if which == 'adamw':
    kw = dict(lr=1e-2, weight_decay=0.1, maximize=True)
    a, b = torch_optim.AdamW(ours, **kw), torch.optim.AdamW(theirs, **kw)
  else:
    kw = dict(lr=0.1, momentum=0.9, weight_decay=1e-3, maximize=True)
    a, b = torch_optim.SGD(ours, **kw), torch.optim.SGD(theirs, **kw)
  steps(a, ours, 0, 5)
  steps(b, theirs, 0, 5)
  for p, q in zip(ours, theirs):
    close(p, q)
  # The gradient itself is left alone (maximize negates a temporary).
  grads(theirs, 4)
  for p, q in zip(ours, theirs):
    assert torch.equal(p.grad, q.grad)


def test_amsgrad_and_differentiable_are_refused_with_a_sentence():
  with pytest.raises(ValueError, match=r'AdamW\(amsgrad=True\) is not implemented .* use torch.optim.AdamW'):
    torch_optim.AdamW(params(0), amsgrad=True)
  with pytest.raises(ValueError, match=r'NAdamW\(amsgrad=True\)'):
    torch_optim.NAdamW(params(0), amsgrad=True)
  with pytest.raises(ValueError, match=r'differentiable=True'):
    torch_optim.SGD(params(0), differentiable=True)


@pytest.mark.parametrize('case', ['adamw', 'sgd_momentum', 'sgd_plain'])
def test_loads_torch_optim_state_dicts(case):
  """A torch.optim checkpoint continues in ours exactly as it would in torch."""
  make = {'adamw': (torch.optim.AdamW, torch_optim.AdamW, dict(lr=1e-2, weight_decay=0.1, betas=(0.8, 0.95))),
          'sgd_momentum': (torch.optim.SGD, torch_optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
          'sgd_plain': (torch.optim.SGD, torch_optim.SGD, dict(lr=0.1))}[case]
  theirs_cls, ours_cls, kw = make
  ps = params(3)
  opt = theirs_cls(ps, **kw)
  steps(opt, ps, 0, 3)
  saved = copy.deepcopy(opt.state_dict())
  mine = [torch.nn.Parameter(p.detach().clone()) for p in ps]
  ours = ours_cls(mine, **kw)
  ours.load_state_dict(saved)
  steps(opt, ps, 3, 6)
  steps(ours, mine, 3, 6)
  for p, q in zip(mine, ps):
    close(p, q)
  if case == 'adamw':
    assert float(ours.state[mine[0]]['step']) == 6.0


def test_loads_a_torch_state_dict_of_bf16_params():
  """torch keeps bf16 moments for bf16 params; ours widens them to fp32 and builds the master."""
  ps = params(4, torch.bfloat16)
  opt = torch.optim.AdamW(ps, lr=1e-2)
  steps(opt, ps, 0, 2)
  mine = [torch.nn.Parameter(p.detach().clone()) for p in ps]
  ours = torch_optim.AdamW(mine, lr=1e-2)
  ours.load_state_dict(opt.state_dict())
  st = ours.state[mine[0]]
  assert st['exp_avg'].dtype == st['exp_avg_sq'].dtype == torch.float32
  assert torch.equal(st['master'], mine[0].detach().float())
  steps(ours, mine, 2, 3)  # runs on the kernels
  assert float(st['step']) == 3.0


@pytest.mark.parametrize('cls', [torch_optim.AdamW, torch_optim.NAdamW, torch_optim.SGD])
def test_float64_takes_the_fallback_with_torchs_formula(cls):
  kw = dict(lr=1e-2, weight_decay=0.1) if cls is not torch_optim.SGD else dict(lr=0.1, momentum=0.9, nesterov=True)
  ours = params(5, torch.float64)
  opt = cls(ours, **kw)
  steps(opt, ours, 0, 4)
  assert opt.state[ours[0]]['exp_avg' if cls is not torch_optim.SGD else 'momentum_buffer'].dtype == torch.float64
  if cls is torch_optim.NAdamW:  # the AlgoPerf NAdamW is not in torch.optim: fp64 vs our fp32 kernel
    ref = params(5, torch.float32)
    steps(cls(ref, **kw), ref, 0, 4)
    for p, q in zip(ours, ref):
      close(p, q.double(), rtol=1e-5)
    return
  theirs = params(5, torch.float64)
  steps((torch.optim.AdamW if cls is torch_optim.AdamW else torch.optim.SGD)(theirs, foreach=False, **kw),
        theirs, 0, 4)
  for p, q in zip(ours, theirs):
    close(p, q, rtol=1e-13)


def test_float16_keeps_an_fp32_master_like_bf16():
  ours = params(6, torch.float16)
  opt = torch_optim.AdamW(ours, lr=1e-3, weight_decay=0.1)
  steps(opt, ours, 0, 4)
  # Reference: torch's AdamW on fp32 copies with the same (fp16-valued) gradients.
  ref = [torch.nn.Parameter(p.detach().clone().float()) for p in params(6, torch.float16)]
  ropt = torch.optim.AdamW(ref, lr=1e-3, weight_decay=0.1, foreach=False)
  for t in range(4):
    grads(ours, t)
    for p, r in zip(ours, ref):
      r.grad = p.grad.float()
    ropt.step()
  for p, r in zip(ours, ref):
    master = opt.state[p]['master']
    assert master.dtype == torch.float32
    close(master, r)
    assert torch.equal(p.detach(), master.half())


def test_channels_last_parameters_run_in_their_layout():
  shape = (8, 4, 3, 3)
  ours = [torch.nn.Parameter(params(7, shapes=[shape])[0].detach().to(memory_format=torch.channels_last))]
  theirs = [torch.nn.Parameter(ours[0].detach().clone())]
  opt = torch_optim.AdamW(ours, lr=1e-2, weight_decay=0.1)
  ref = torch.optim.AdamW(theirs, lr=1e-2, weight_decay=0.1, fused=True)
  for t in range(3):
    g = torch.randn(shape, generator=torch.Generator().manual_seed(t)).to(memory_format=torch.channels_last)
    ours[0].grad, theirs[0].grad = g.clone(), g.clone()
    opt.step()
    ref.step()
  assert ours[0].is_contiguous(memory_format=torch.channels_last)
  assert opt.state[ours[0]]['exp_avg'].stride() == ours[0].stride()
  close(ours[0], theirs[0])
  ours[0].grad = torch.zeros(shape)  # contiguous gradient of a channels_last parameter
  with pytest.raises(ValueError, match=r'the gradient of params\[0\] has strides .* one layout'):
    opt.step()


def test_construction_checks_name_the_position_in_the_users_list():
  ok = lambda: torch.nn.Parameter(torch.zeros(3))
  with pytest.raises(ValueError, match=r'AdamW: lr=-0.1 is invalid; it must be >= 0'):
    torch_optim.AdamW([ok()], lr=-0.1)
  with pytest.raises(ValueError, match=r'AdamW: weight_decay=-1.0 is invalid; it must be >= 0'):
    torch_optim.AdamW([ok()], weight_decay=-1.0)
  with pytest.raises(ValueError, match=r'betas\[1\]=1.0 is invalid; it must be in \[0.0, 1.0\)'):
    torch_optim.NAdamW([ok()], betas=(0.9, 1.0))
  with pytest.raises(ValueError, match=r'SGD: momentum=-0.5 is invalid'):
    torch_optim.SGD([ok()], momentum=-0.5)
  with pytest.raises(ValueError, match=r'AdamW: params\[2\] has dtype int64; AdamW takes float32, bfloat16'):
    torch_optim.AdamW([ok(), ok(), torch.zeros(3, dtype=torch.int64), ok()])
  with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[1\] is not a dense tensor"):
    torch_optim.AdamW([{'params': [ok()]}, {'params': [ok(), torch.zeros(4, 4)[:, :2]]}])
  with pytest.raises(ValueError, match=r"AdamW: param_groups\[1\]: lr=-1.0 is invalid"):
    torch_optim.AdamW([{'params': [ok()]}, {'params': [ok()], 'lr': -1.0}])
  with pytest.raises(ValueError, match=r'ScheduleFreeAdamW: params\[0\] has dtype float16'):
    torch_optim.ScheduleFreeAdamW([torch.zeros(3, dtype=torch.float16)])
  opt = torch_optim.AdamW([ok()])
  with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[0\] has dtype complex64"):
    opt.add_param_group({'params': [torch.zeros(2, dtype=torch.complex64)]})
  assert len(opt.param_groups) == 1  # the rejected group is not kept


@pytest.mark.parametrize('cls', [torch_optim.AdamW, torch_optim.SGD])
def test_bf16_edits_go_through_sync_master_or_the_master(cls):
  kw = dict(lr=1e-3) if cls is torch_optim.AdamW else dict(lr=1e-3, momentum=0.9)
  (p,) = params(8, torch.bfloat16, shapes=[(64,)])
  opt = cls([p], **kw)
  steps(opt, [p], 0, 1)
  # An edit to the bf16 parameter alone is undone by the next step (it restarts from the master).
  with torch.no_grad():
    p.fill_(1.0)
  steps(opt, [p], 1, 2)
  assert (p.detach().float() - 1.0).abs().max() > 0.5
  # After sync_master the step starts from the edit.
  with torch.no_grad():
    p.fill_(1.0)
  opt.sync_master()
  assert torch.equal(opt.master(p), torch.ones(64))
  steps(opt, [p], 2, 3)
  assert (p.detach().float() - 1.0).abs().max() < 0.02
  # Editing the fp32 master changes the parameter exactly at the next step.
  opt.master(p).fill_(2.0)
  steps(opt, [p], 3, 4)
  assert (p.detach().float() - 2.0).abs().max() < 0.02
