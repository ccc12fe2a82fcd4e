"""The two-pass reducing ops (amos_sums/amos_step, prodigy_sums/prodigy_step) against the numpy reference.

The ops use no FMA, so every written array must equal reference.py's float32 formulas bit for bit, on the
generic and the AVX2 path. The per-tensor sums are accumulated in float64 in a fixed order: they must
agree with numpy's float64 sums to 1e-12 and be the same bits for scalar vs AVX2 and any thread count.
The JAX (XLA FFI) and torch front ends must give the numpy front end's bits (JAX's sums are float32).
"""
import numpy as np
import pytest

import algoperf_kernels as ak
from algoperf_kernels import numpy_ops as K
from algoperf_kernels import reference as R
from cpu_fixtures import ISAS, SIZES, assert_bits, isa, randn, zeros  # pylint: disable=unused-import

STEPS = 3


def amos_run(style_reduced, rng, steps=STEPS):
  """Runs both Amos passes for `steps` steps on the kernels and the reference; returns both results."""
  b1, b2 = 0.9, 0.98
  ps = randn(rng, SIZES)
  mus, nus = zeros(SIZES), zeros(SIZES)
  ref = [[p.copy() for p in ps], zeros(SIZES), zeros(SIZES)]
  all_sums = []
  n = len(SIZES)
  nu_scalar = [0.0] * n  # style reduced: nu is one value per tensor
  for t in range(steps):
    gs = randn(rng, SIZES, scale=3.0)
    scale = 0.5
    c_prev = 0.0 if t == 0 else (1 - b2) / (1 - b2**t)
    c_now = (1 - b2) / (1 - b2**(t + 1))
    v_prev = [c_prev * x for x in nu_scalar] if style_reduced else c_prev
    sums = K.amos_sums(gs, mus, nus, scale=scale, v_prev=v_prev, c_now=c_now, beta1=b1, beta2=b2,
                       reduced=style_reduced)
    want = []
    for i in range(n):
      vp = v_prev[i] if style_reduced else c_prev
      ref[1][i], ref[2][i], s = R.amos_sums(gs[i], ref[1][i], ref[2][i], scale=scale, v_prev=vp, c_now=c_now,
                                           beta1=b1, beta2=b2, reduced=style_reduced)
      want.append(s)
    np.testing.assert_allclose(np.asarray(sums).reshape(n, -1), np.asarray(want), rtol=1e-12)
    all_sums.append(np.asarray(sums).copy())
    # Per-tensor scalars of pass 2 (any values that vary by tensor do: the math is the caller's).
    wd = [-1e-3 * (i + 1) for i in range(n)]
    e = [0.01 / (i + 1) for i in range(n)]
    d = [1.0 + 0.1 * i for i in range(n)]
    if style_reduced:
      nu_scalar = [b2 * x + float(np.asarray(sums)[i]) / SIZES[i] for i, x in enumerate(nu_scalar)]
      v_hat = [max(c_now * x, 1e-30) for x in nu_scalar]
      K.amos_step(ps, gs, mus, None, weight_decay=wd, e=e, d=d, beta1=b1, beta2=b2, scale=scale, v_prev=v_prev,
                  v_hat=v_hat, reduced=True)
      for i in range(n):
        ref[0][i], ref[1][i] = R.amos_step(ref[0][i], gs[i], ref[1][i], None, weight_decay=wd[i], e=e[i], d=d[i],
                                           beta1=b1, beta2=b2, scale=scale, v_prev=v_prev[i], v_hat=v_hat[i],
                                           reduced=True)
    else:
      K.amos_step(ps, None, mus, nus, weight_decay=wd, e=e, d=d, beta1=b1, beta2=b2, c_now=c_now)
      for i in range(n):
        ref[0][i], _ = R.amos_step(ref[0][i], None, ref[1][i], ref[2][i], weight_decay=wd[i], e=e[i], d=d[i],
                                   beta1=b1, beta2=b2, c_now=c_now)
  return (ps, mus, nus), ref, all_sums


@pytest.mark.parametrize('reduced', [False, True])
def test_amos_against_reference(isa, reduced):
  (ps, mus, nus), ref, _ = amos_run(reduced, np.random.default_rng(3))
  assert_bits(ps, ref[0], 'p')
  assert_bits(mus, ref[1], 'mu')
  if not reduced:
    assert_bits(nus, ref[2], 'nu')
    assert all(float(np.abs(m).max()) > 0 for m in mus)
  assert max(float(np.abs(p - q).max()) for p, q in zip(ps, randn(np.random.default_rng(3), SIZES))) > 1e-4


def test_amos_clip_binds():
  """With a previous v_hat, gradients far above it are clipped: the sums differ from the unclipped g^2."""
  g = [np.full(16, 10.0, np.float32)]
  clipped = K.amos_sums(g, None, None, scale=1.0, v_prev=[1e-2], c_now=1.0, beta1=0.9, beta2=0.98, reduced=True)
  free = K.amos_sums(g, None, None, scale=1.0, v_prev=[0.0], c_now=1.0, beta1=0.9, beta2=0.98, reduced=True)
  assert float(free[0]) == pytest.approx(1600.0)
  assert float(clipped[0]) == pytest.approx(16 * 1e-2 / 0.02)  # each g^2 capped at v_prev / (1 - b2)


def test_prodigy_against_reference(isa):
  rng = np.random.default_rng(5)
  xs, x0s = randn(rng, SIZES), randn(rng, SIZES)
  zs = [x.copy() for x in xs]
  vs, ss = zeros(SIZES), zeros(SIZES)
  ref = [[x.copy() for x in xs], [z.copy() for z in zs], zeros(SIZES), zeros(SIZES)]
  for t in range(STEPS):
    gs = randn(rng, SIZES)
    vc, ddl = 0.0045 * (t + 1)**2, 0.5 * (t + 1)
    sums = K.prodigy_sums(gs, x0s, zs, vs, ss, vc=vc, ddl=ddl, beta2=0.9955)
    want = []
    for i in range(len(SIZES)):
      ref[2][i], ref[3][i], s = R.prodigy_sums(gs[i], x0s[i], ref[1][i], ref[2][i], ref[3][i], vc=vc, ddl=ddl,
                                              beta2=0.9955)
      want.append(s)
    np.testing.assert_allclose(sums, np.asarray(want), rtol=1e-12)
    step = dict(wd_dl=0.01 * t, step=0.3, eps_d=1e-8 * (t + 1), c=1.0 / (t + 1), moved=t != 1)
    K.prodigy_step(xs, gs, zs, vs, **step)
    for i in range(len(SIZES)):
      ref[0][i], ref[1][i] = R.prodigy_step(ref[0][i], gs[i], ref[1][i], ref[2][i], **step)
  for got, want, name in zip((xs, zs, vs, ss), ref, ('x', 'z', 'v', 's')):
    assert_bits(got, want, name)


def test_prodigy_not_moved_keeps_bits():
  x, z = [np.array([1.0, np.nan, 3.0], np.float32)], [np.array([0.5, 2.0, -1.0], np.float32)]
  g, v = [np.zeros(3, np.float32)], [np.zeros(3, np.float32)]
  x0, z0 = x[0].copy(), z[0].copy()
  K.prodigy_step(x, g, z, v, wd_dl=0.1, step=0.0, eps_d=0.0, c=0.5, moved=False)
  np.testing.assert_array_equal(x[0], x0)
  np.testing.assert_array_equal(z[0], z0)


def test_sums_do_not_depend_on_isa_or_threads():
  rng = np.random.default_rng(9)
  sizes = [3 * 65536 + 11, 300001]
  args = [randn(rng, sizes) for _ in range(3)]
  results = []
  for isa_name in ISAS:
    for threads in (1, 2):
      ak.set_cpu_isa(isa_name)
      ak.set_num_threads(threads)
      v, s = zeros(sizes), zeros(sizes)
      results.append(K.prodigy_sums(args[0], args[1], args[2], v, s, vc=0.1, ddl=0.2, beta2=0.9955))
  ak.set_cpu_isa('auto')
  for r in results[1:]:
    np.testing.assert_array_equal(r, results[0])


def test_jax_ffi_matches_numpy():
  import jax
  import jax.numpy as jnp
  from algoperf_kernels import jax_ops
  rng = np.random.default_rng(11)
  sizes = [5, 70001]
  g, x0, z = randn(rng, sizes), randn(rng, sizes), randn(rng, sizes)
  v, s = randn(rng, sizes, 0.1), randn(rng, sizes)
  v = [np.abs(a) for a in v]
  hyper = dict(beta2=0.9955, sqrt_beta2=0.9955**0.5)
  fn = jax.jit(lambda *a: jax_ops.apply('prodigy_sums', list(a), hyper, dict(vc=0.3, ddl=0.7)))
  (new, sums) = fn(*[[jnp.asarray(x) for x in lst] for lst in (g, x0, z, v, s)])
  want = K.prodigy_sums(g, x0, z, v, s, vc=0.3, ddl=0.7, beta2=0.9955)
  assert_bits([np.asarray(a) for a in new[3]], v, 'v')
  assert_bits([np.asarray(a) for a in new[4]], s, 's')
  np.testing.assert_array_equal(np.asarray(sums), want.astype(np.float32))
  # Per-tensor scalars through XLA: amos_step style adam with one wd per tensor.
  p, mu, nu = randn(rng, sizes), randn(rng, sizes), [np.abs(a) for a in randn(rng, sizes)]
  dyn = dict(scale=1.0, v_prev=0.0, v_hat=[0.02, 0.05], weight_decay=[-1e-3, -2e-3], e=[0.1, 0.2], d=[1.5, 1.1])
  out = jax.jit(lambda p, mu, nu: jax_ops.apply('amos_step', [p, None, mu, nu], dict(beta1=0.9, beta2=0.98), dyn))(
      [jnp.asarray(a) for a in p], [jnp.asarray(a) for a in mu], [jnp.asarray(a) for a in nu])
  K.amos_step(p, None, mu, nu, weight_decay=dyn['weight_decay'], e=dyn['e'], d=dyn['d'], beta1=0.9, beta2=0.98,
              c_now=dyn['v_hat'])
  assert_bits([np.asarray(a) for a in out[0]], p, 'p')


def test_torch_matches_numpy():
  import torch
  from algoperf_kernels import torch_ops
  rng = np.random.default_rng(13)
  sizes = [9, 1025]
  g, mu, nu = randn(rng, sizes), randn(rng, sizes), zeros(sizes)
  tg, tmu, tnu = ([torch.from_numpy(a.copy()) for a in lst] for lst in (g, mu, nu))
  kw = dict(scale=0.7, v_prev=0.0, c_now=1.0, beta1=0.9, beta2=0.98)
  want = K.amos_sums(g, mu, nu, **kw)
  got = torch_ops.amos_sums(tg, tmu, tnu, **kw)
  np.testing.assert_array_equal(got.numpy(), want)
  assert_bits([t.numpy() for t in tmu], mu, 'mu')


def test_bad_per_tensor_scalars_are_named():
  with pytest.raises(ValueError, match='weight_decay has 1 values, expected one per tensor'):
    K.amos_step(zeros([3, 4]), None, zeros([3, 4]), zeros([3, 4]), weight_decay=[0.1], e=0.1, d=1.0, beta1=0.9,
                beta2=0.98, c_now=1.0)
