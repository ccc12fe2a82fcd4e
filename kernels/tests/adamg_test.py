"""The adamg op (AdamG, submissions.md §3.6) against the numpy reference, on both CPU code paths, in bf16
master mode, and through the torch and JAX front ends.

The reference is float64 (reference.adamg); the kernel runs in float32 with powf (not correctly rounded),
so the bound is rtol 1e-6 plus 1e-6 x max|ref| for elements that cancel, over 20 steps.
"""
import numpy as np
import pytest

import algoperf_kernels as ak
from algoperf_kernels import numpy_ops as K
from algoperf_kernels import reference as R

SIZES = [1, 7, 17, 1000, 65536 + 13]
STEPS = 20
ISAS = ['generic'] + (['avx2'] if ak._C.cpu_has_avx2() else [])
HP = dict(beta1=0.95, beta2=0.999, beta3=0.95, eps=1e-8, p_num=0.2, q_num=0.24)
LR = 0.3  # min(1/sqrt(t), lr) switches from lr to 1/sqrt(t) at t = 12


def _problem(seed=0):
  rng = np.random.default_rng(seed)
  params = [rng.standard_normal(s).astype(np.float32) for s in SIZES]
  grads = [[(rng.standard_normal(s) * 0.1).astype(np.float32) for s in SIZES] for _ in range(STEPS)]
  return params, grads


def _reference(params, grads):
  out = [p.astype(np.float64) for p in params]
  state = [[np.zeros(s)] * 3 for s in SIZES]
  for t, g in enumerate(grads, start=1):
    for i in range(len(SIZES)):
      out[i], *state[i] = R.adamg(out[i], g[i], *state[i], lr=LR, step=t, **HP)
  return out


def _close(actual, expected):
  for a, e in zip(actual, expected):
    np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6 * float(np.abs(e).max()))


@pytest.mark.parametrize('isa', ISAS)
def test_against_reference(isa):
  ak.set_cpu_isa(isa)
  try:
    params, grads = _problem()
    ps = [p.copy() for p in params]
    ms, vs, ns = ([np.zeros(s, np.float32) for s in SIZES] for _ in range(3))
    for t, g in enumerate(grads, start=1):
      K.adamg(ps, g, ms, vs, ns, lr=LR, step=t, **HP)
    _close(ps, _reference(params, grads))
    assert max(np.abs(a - b).max() for a, b in zip(ps, params)) > 1e-2  # the step is not a no-op
  finally:
    ak.set_cpu_isa('auto')


def test_bf16_master_mode_runs_the_fp32_math_and_rounds():
  import ml_dtypes  # pylint: disable=import-outside-toplevel
  params, grads = _problem(1)
  bf16 = [R.bf16_round(p).view(ml_dtypes.bfloat16) for p in params]
  ms, vs, ns = ([np.zeros(s, np.float32) for s in SIZES] for _ in range(3))
  fp32 = [R.bf16_to_f32(R.bf16_round(p)) for p in params]  # the master starts at the bf16 value here
  masters = [x.copy() for x in fp32]
  ms2, vs2, ns2 = ([np.zeros(s, np.float32) for s in SIZES] for _ in range(3))
  for t, g in enumerate(grads[:5], start=1):
    gb = [R.bf16_round(x).view(ml_dtypes.bfloat16) for x in g]
    K.adamg(bf16, gb, ms, vs, ns, lr=LR, step=t, masters=masters, **HP)
    K.adamg(fp32, [x.astype(np.float32) for x in gb], ms2, vs2, ns2, lr=LR, step=t, **HP)
  for b, m, f in zip(bf16, masters, fp32):
    np.testing.assert_array_equal(m, f)
    np.testing.assert_array_equal(b.view(np.uint16), R.bf16_round(m))


def test_torch_and_jax_front_ends_give_the_numpy_kernel_bits():
  import jax  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf_kernels import optax_ops, torch_optim  # pylint: disable=import-outside-toplevel
  # XLA hands lr to the kernel as float32, so use an lr that float32 holds exactly (switch at t = 17).
  lr = 0.25
  params, grads = _problem(2)
  ps = [p.copy() for p in params]
  ms, vs, ns = ([np.zeros(s, np.float32) for s in SIZES] for _ in range(3))
  for t, g in enumerate(grads, start=1):
    K.adamg(ps, g, ms, vs, ns, lr=lr, step=t, **HP)
  betas = (HP['beta1'], HP['beta2'], HP['beta3'])
  tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
  opt = torch_optim.AdamG(tensors, lr=lr, betas=betas, eps=HP['eps'])
  for g in grads:
    for t, x in zip(tensors, g):
      t.grad = torch.from_numpy(x)
    opt.step()
  for a, b in zip(tensors, ps):
    np.testing.assert_array_equal(a.detach().numpy(), b)
  fused = optax_ops.adamg(lr, *betas, eps=HP['eps'])
  tree = [jax.numpy.asarray(p) for p in params]
  state, step = fused.init(tree), fused.jit_step()
  for g in grads:
    tree, state = step([jax.numpy.asarray(x) for x in g], state, tree)
  for a, b in zip(tree, ps):
    np.testing.assert_array_equal(np.asarray(a), b)


def test_wrong_lists_are_named():
  params, grads = _problem()
  ms, vs = ([np.zeros(s, np.float32) for s in SIZES] for _ in range(2))
  ns = [np.zeros(s, np.float32) for s in SIZES[:-1]]
  with pytest.raises(ValueError, match='numerators has 4 tensors, expected 5'):
    K.adamg(params, grads[0], ms, vs, ns, lr=LR, step=1, **HP)
