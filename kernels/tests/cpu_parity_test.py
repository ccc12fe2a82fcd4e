"""CPU kernels against the numpy reference formulas, for every op, dtype mode and code path.

Tolerances:
* `reference.*(fma=True)` rounds exactly like update_math.h (FMAs emulated in float64), so
  the kernels must match it bit for bit (assert_array_equal). The one exception is NadamP with
  p != 2: glibc's powf and numpy's float32 power may differ in the last bit, so that case uses
  the 1e-6 bound below.
* `reference.*(fma=False)` is the plain reference (every multiply and add rounded on its own).
  The FMAs change the last bits, so the kernels agree to rtol=1e-6. Elements that come out of a
  cancellation (e.g. m = lerp(m, g) with g opposing m) are tiny next to the operands they came
  from, so their relative error is meaningless; those are covered by atol = 1e-6 * max|ref|.
"""
import numpy as np
import pytest

import algoperf_kernels as ak
from algoperf_kernels import numpy_ops as K
from algoperf_kernels import reference as R
from cpu_fixtures import SIZES, assert_bits, assert_close, isa, randn, zeros  # pylint: disable=unused-import

STEPS = 4


def to_bf16(x):
  import ml_dtypes
  return R.bf16_round(x).view(ml_dtypes.bfloat16)


@pytest.mark.parametrize('nesterov,power', [(False, 2.0), (True, 2.0), (True, 1.5)])
def test_adam_family(isa, nesterov, power):
  rng = np.random.default_rng(1)
  ps = randn(rng, SIZES)
  ms, vs = zeros(SIZES), zeros(SIZES)
  exact = [[x.copy() for x in ps], zeros(SIZES), zeros(SIZES)]
  plain = [[x.copy() for x in ps], zeros(SIZES), zeros(SIZES)]
  for t in range(1, STEPS + 1):
    gs = randn(rng, SIZES)
    hp = dict(lr=1e-3 * t, step=t, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, nesterov=nesterov, power=power)
    K.adamw(ps, gs, ms, vs, **hp)
    for ref, fma in ((exact, True), (plain, False)):
      for i in range(len(SIZES)):
        ref[0][i], ref[1][i], ref[2][i] = R.adamw(ref[0][i], gs[i], ref[1][i], ref[2][i], fma=fma, **hp)
  for got, ex, pl, name in zip((ps, ms, vs), exact, plain, ('p', 'm', 'v')):
    if power == 2.0:
      assert_bits(got, ex, name)
    else:
      assert_close(got, ex, name)
    assert_close(got, pl, name)


def test_adam_bf16_master(isa):
  """bf16 params: the math runs on the fp32 masters; the bf16 copy is their rounding."""
  rng = np.random.default_rng(2)
  masters = randn(rng, SIZES)
  params = [to_bf16(x) for x in masters]
  ms, vs = zeros(SIZES), zeros(SIZES)
  ref = [[x.copy() for x in masters], zeros(SIZES), zeros(SIZES)]
  for t in range(1, STEPS + 1):
    g32 = randn(rng, SIZES)
    gs = [to_bf16(g) for g in g32]
    hp = dict(lr=1e-2, step=t, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.01, nesterov=True)
    K.adamw(params, gs, ms, vs, masters=masters, **hp)
    for i in range(len(SIZES)):
      g_rounded = gs[i].astype(np.float32)  # the kernel sees the bf16 gradient
      ref[0][i], ref[1][i], ref[2][i] = R.adamw(ref[0][i], g_rounded, ref[1][i], ref[2][i], **hp)
  assert_bits(masters, ref[0], 'master')
  assert_bits(ms, ref[1], 'm')
  assert_bits(vs, ref[2], 'v')
  for p, m in zip(params, masters):
    np.testing.assert_array_equal(p.view(np.uint16), R.bf16_round(m))


def test_bf16_rounding_rule(isa):
  """Round to nearest even, ties, NaN/Inf, through the bf16 store path of scale_copy."""
  specials = np.array([1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -9, -0.0, np.inf, -np.inf, np.nan,
                       3.4e38, 1e-40, 65504.0] * 3, np.float32)
  out = to_bf16(np.zeros_like(specials))
  masters = np.zeros_like(specials)
  K.scale_copy([out], [specials], scale=1.0, masters=[masters])
  np.testing.assert_array_equal(out.view(np.uint16), R.bf16_round(specials))
  np.testing.assert_array_equal(masters, specials)


def test_schedule_free(isa):
  rng = np.random.default_rng(3)
  ys = randn(rng, SIZES)
  zs = [y.copy() for y in ys]
  vs = zeros(SIZES)
  ex = [[y.copy() for y in ys], [z.copy() for z in zs], zeros(SIZES)]
  pl = [[y.copy() for y in ys], [z.copy() for z in zs], zeros(SIZES)]
  lr_max = weight_sum = 0.0
  for t in range(1, STEPS + 1):
    gs = randn(rng, SIZES)
    lr = 1e-2 * min(1.0, t / 2)
    c, lr_max, weight_sum = R.schedule_free_weights(t, lr, lr_max, weight_sum, r=0.75)
    hp = dict(lr=lr, step=t, c=c, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05)
    K.sf_adamw_step(ys, gs, zs, vs, **hp)
    for ref, fma in ((ex, True), (pl, False)):
      for i in range(len(SIZES)):
        ref[0][i], ref[1][i], ref[2][i] = R.sf_adamw_step(ref[0][i], gs[i], ref[1][i], ref[2][i], fma=fma, **hp)
  for got, e, p in zip((ys, zs, vs), ex, pl):
    assert_bits(got, e)
    assert_close(got, p)
  # train -> eval -> train: y -> x -> y.
  x_exact = [R.lerp(y, z, 1 - 1 / 0.9) for y, z in zip(ys, zs)]
  K.sf_swap(ys, zs, weight=1 - 1 / 0.9)
  assert_bits(ys, x_exact, 'x')
  y_exact = [R.lerp(x, z, 1 - 0.9) for x, z in zip(ys, zs)]
  K.sf_swap(ys, zs, weight=1 - 0.9)
  assert_bits(ys, y_exact, 'y')


def test_schedule_free_bf16_swap(isa):
  rng = np.random.default_rng(4)
  masters = randn(rng, SIZES)
  zs = randn(rng, SIZES)
  params = [to_bf16(m) for m in masters]
  expect = [R.lerp(m, z, 1 - 1 / 0.95) for m, z in zip(masters, zs)]
  K.sf_swap(params, zs, weight=1 - 1 / 0.95, masters=masters)
  assert_bits(masters, expect)
  for p, m in zip(params, masters):
    np.testing.assert_array_equal(p.view(np.uint16), R.bf16_round(m))


@pytest.mark.parametrize('bf16_params', [False, True])
def test_ema(isa, bf16_params):
  rng = np.random.default_rng(5)
  emas = randn(rng, SIZES)
  exact = [e.copy() for e in emas]
  for _ in range(STEPS):
    ps = randn(rng, SIZES)
    src = [to_bf16(p) for p in ps] if bf16_params else ps
    K.ema(emas, src, decay=0.999)
    exact = [R.lerp(e, np.asarray(s, np.float32), 1 - 0.999) for e, s in zip(exact, src)]
  assert_bits(emas, exact)


def test_lawa_queue(isa):
  rng = np.random.default_rng(6)
  k = 3
  sums, slots = zeros(SIZES), [zeros(SIZES) for _ in range(k)]
  ref_sums = zeros(SIZES)
  history = []
  for j in range(7):
    ps = randn(rng, SIZES)
    history.append(ps)
    slot = slots[j % k]
    expect = [R.lawa_push(s, o, p) for s, o, p in zip(ref_sums, slot, ps)]
    K.lawa_push(sums, slot, ps)
    ref_sums = [e[0] for e in expect]
    assert_bits(sums, ref_sums)
    assert_bits(slot, [e[1] for e in expect])
  # The running sum is the sum of the last k snapshots up to rounding drift.
  mean = [np.mean([h[i] for h in history[-k:]], axis=0, dtype=np.float64).astype(np.float32) for i in range(len(SIZES))]
  outs = zeros(SIZES)
  K.scale_copy(outs, sums, scale=1.0 / k)
  assert_bits(outs, [(s * np.float32(1.0 / k)).astype(np.float32) for s in sums])
  for o, m in zip(outs, mean):
    np.testing.assert_allclose(o, m, rtol=1e-5, atol=1e-6 * np.abs(m).max())


SGD_CASES = {
    'heavy_ball': dict(momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=False),
    'nesterov': dict(momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=True),
    'dampening': dict(momentum=0.9, dampening=0.3, weight_decay=0.0, nesterov=False),
    'optax_trace': dict(momentum=0.97, dampening=0.0, weight_decay=0.0, nesterov=True, decoupled_weight_decay=2e-4),
    'shampoo_ema': dict(momentum=0.5, dampening=0.5, weight_decay=0.0, nesterov=True, dir_grad=0.5, dir_buf=0.5),
}


@pytest.mark.parametrize('case', sorted(SGD_CASES))
def test_sgd(isa, case):
  hp = SGD_CASES[case]
  rng = np.random.default_rng(7)
  ps = randn(rng, SIZES)
  bufs = zeros(SIZES)
  ex = [[p.copy() for p in ps], zeros(SIZES)]
  pl = [[p.copy() for p in ps], zeros(SIZES)]
  for t in range(STEPS):
    gs = randn(rng, SIZES)
    first = t == 0 and case != 'optax_trace'
    K.sgd(ps, gs, bufs, lr=0.05, first_step=first, **hp)
    for ref, fma in ((ex, True), (pl, False)):
      for i in range(len(SIZES)):
        ref[0][i], ref[1][i] = R.sgd(ref[0][i], gs[i], ref[1][i], lr=0.05, first_step=first, fma=fma, **hp)
  assert_bits(ps, ex[0])
  assert_bits(bufs, ex[1])
  assert_close(ps, pl[0])
  assert_close(bufs, pl[1])


@pytest.mark.parametrize('beta1,nesterov,write_mt', [(0.9, False, True), (0.9, True, True), (0.9, True, False),
                                                    (0.0, False, False)])
def test_adam_graft(isa, beta1, nesterov, write_mt):
  rng = np.random.default_rng(8)
  ms, sqs = zeros(SIZES), zeros(SIZES)
  ref_m, ref_sq = zeros(SIZES), zeros(SIZES)
  for t in range(1, STEPS + 1):
    gs = randn(rng, SIZES)
    ds = zeros(SIZES)
    mts = zeros(SIZES) if write_mt else None
    sums = K.adam_graft(gs, ms if beta1 else None, sqs, ds, mts, step=t, beta1=beta1, beta2=0.99, eps=1e-8,
                        nesterov=nesterov)
    for i in range(len(SIZES)):
      ref_m[i], ref_sq[i], d, mt, s = R.adam_graft(gs[i], ref_m[i], ref_sq[i], step=t, beta1=beta1, beta2=0.99,
                                                   eps=1e-8, nesterov=nesterov)
      np.testing.assert_array_equal(ds[i], d)
      if write_mt:
        np.testing.assert_array_equal(mts[i], mt)
      np.testing.assert_allclose(sums[i], s, rtol=1e-12)
    if beta1:
      assert_bits(ms, ref_m)
    assert_bits(sqs, ref_sq)


def test_results_do_not_depend_on_thread_count():
  rng = np.random.default_rng(9)
  sizes = [5 * 65536 + 3, 100, 70000]
  gs = randn(rng, sizes)
  results = []
  for threads in (1, 2, 3):
    ak.set_num_threads(threads)
    ms, sqs, ds = zeros(sizes), zeros(sizes), zeros(sizes)
    ps = randn(np.random.default_rng(10), sizes)
    pm, pv = zeros(sizes), zeros(sizes)
    sums = K.adam_graft(gs, ms, sqs, ds, step=1, beta1=0.9, beta2=0.99, eps=1e-8)
    K.adamw(ps, gs, pm, pv, lr=1e-3, step=1, weight_decay=0.1)
    results.append((sums.tobytes(), [d.tobytes() for d in ds], [p.tobytes() for p in ps]))
  ak.set_num_threads(2)
  assert results[0] == results[1] == results[2]


def test_triad(isa):
  rng = np.random.default_rng(11)
  bs, cs = randn(rng, SIZES), randn(rng, SIZES)
  outs = zeros(SIZES)
  K.triad(outs, bs, cs, scalar=3.0)
  assert_bits(outs, [R.Arith(True).fma(np.float32(3.0), c, b) for b, c in zip(bs, cs)])


def test_nan_and_inf_gradients_propagate_like_torch(isa):
  """No skipping: NaN/Inf reach exactly the elements they touch (torch.optim behaviour)."""
  n = 64
  p = np.ones(n, np.float32)
  g = np.full(n, 0.5, np.float32)
  g[3], g[10], g[20] = np.nan, np.inf, -np.inf
  m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
  K.adamw([p], [g], [m], [v], lr=1e-3, step=1, weight_decay=0.1)
  with np.errstate(invalid='ignore'):
    rp, rm, rv = R.adamw(np.ones(n, np.float32), g, np.zeros(n, np.float32), np.zeros(n, np.float32), lr=1e-3,
                         step=1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)
  for got, ref in ((p, rp), (m, rm), (v, rv)):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(got[np.isfinite(ref)], ref[np.isfinite(ref)])
  assert np.isnan(p[[3, 10, 20]]).all() and np.isfinite(np.delete(p, [3, 10, 20])).all()


def test_bad_inputs_name_the_offending_tensor():
  p = [np.zeros(4, np.float32), np.zeros(5, np.float32)]
  ok = lambda: [np.zeros(4, np.float32), np.zeros(5, np.float32)]
  hp = dict(lr=1e-3, step=1)
  with pytest.raises(ValueError, match=r'grads\[1\]: expected shape \(5,\)'):
    K.adamw(p, [np.zeros(4, np.float32), np.zeros(6, np.float32)], ok(), ok(), **hp)
  with pytest.raises(ValueError, match=r'exp_avgs\[0\]: expected dtype float32, got float64'):
    K.adamw(p, ok(), [np.zeros(4), np.zeros(5, np.float32)], ok(), **hp)
  with pytest.raises(ValueError, match=r'exp_avg_sqs\[1\]: expected a dense tensor'):
    K.adamw(p, ok(), ok(), [np.zeros(4, np.float32), np.zeros(10, np.float32)[::2]], **hp)
  with pytest.raises(ValueError, match='params is empty'):
    K.adamw([], [], [], [], **hp)
  with pytest.raises(ValueError, match='grads has 1 tensors, expected 2'):
    K.adamw(p, ok()[:1], ok(), ok(), **hp)
  with pytest.raises(ValueError, match=r'masters\[0\]'):
    K.adamw([to_bf16(np.zeros(4, np.float32))], [to_bf16(np.zeros(4, np.float32))], [np.zeros(4, np.float32)],
            [np.zeros(4, np.float32)], masters=[np.zeros(3, np.float32)], **hp)
  ro = np.zeros(4, np.float32)
  ro.flags.writeable = False
  with pytest.raises(ValueError, match=r'params\[0\]: this list is updated in place but the array is read-only'):
    K.adamw([ro], [np.zeros(4, np.float32)], [np.zeros(4, np.float32)], [np.zeros(4, np.float32)], **hp)


@pytest.mark.skipif(not ak._C.cpu_has_avx2(), reason='needs an AVX2 CPU to compare the two paths')
def test_avx2_and_generic_agree_on_extreme_values():
  """Denormals, signed zeros, huge values, NaN/Inf: both code paths give the same bits."""
  rng = np.random.default_rng(12)
  n = 4096 + 5
  scale = 10.0 ** rng.integers(-44, 38, n)
  values = (rng.standard_normal(n) * scale).astype(np.float32)
  values[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45]
  outs = []
  for isa_name in ('generic', 'avx2'):
    ak.set_cpu_isa(isa_name)
    p, m, v = values.copy(), np.roll(values, 1).copy(), np.abs(np.roll(values, 2))
    g = np.roll(values, 3).copy()
    K.adamw([p], [g], [m], [v], lr=1e-3, step=3, weight_decay=0.1, nesterov=True)
    b = np.roll(values, 4).copy()
    q = values.copy()
    K.sgd([q], [g], [b], lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    h = to_bf16(np.zeros(n, np.float32))
    K.scale_copy([h], [values], scale=0.5, masters=[np.zeros(n, np.float32)])
    outs.append([x.view(np.uint32 if x.dtype == np.float32 else np.uint16).copy() for x in (p, m, v, q, b, h)])
  ak.set_cpu_isa('auto')
  for a, b in zip(*outs):
    np.testing.assert_array_equal(a, b)
