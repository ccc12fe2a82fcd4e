"""The sinv6 op (Sinv6's relative Adam-style step) on every CPU path against the numpy reference."""
import numpy as np

from algoperf_kernels import numpy_ops as K
from algoperf_kernels import reference as R
from cpu_fixtures import isa  # pylint: disable=unused-import

SIZES = [1, 7, 8, 17, 1000, 65536 + 13]
STEPS = 4


def test_sinv6_matches_reference(isa):
  rng = np.random.default_rng(5)
  ps = [rng.standard_normal(s).astype(np.float32) for s in SIZES]
  ms = [np.zeros(s, np.float32) for s in SIZES]
  vs = [np.zeros(s, np.float32) for s in SIZES]
  exact = [[p.copy() for p in ps], [m.copy() for m in ms], [v.copy() for v in vs]]
  plain = [[p.copy() for p in ps], [m.copy() for m in ms], [v.copy() for v in vs]]
  for t in range(STEPS):
    gs = [(rng.standard_normal(s) * 10.0**rng.integers(-6, 4)).astype(np.float32) for s in SIZES]
    gs[-1][:5] = [2e3, -2e3, 1e3, -999.0, 1e-12]  # clamped, edge and tiny gradients
    for i in range(len(SIZES)):  # one call per tensor: each has its own scale
      scale = 1e-3 * (t + 1) * (i + 1)
      K.sinv6([ps[i]], [gs[i]], [ms[i]], [vs[i]], scale=scale)
      for ref, fma in ((exact, True), (plain, False)):
        ref[0][i], ref[1][i], ref[2][i] = R.sinv6(ref[0][i], gs[i], ref[1][i], ref[2][i], scale=scale, fma=fma)
  for got, ex, pl, name in zip((ps, ms, vs), exact, plain, ('p', 'm', 'rms')):
    for i, (a, e, p) in enumerate(zip(got, ex, pl)):
      np.testing.assert_array_equal(a, e, err_msg=f'{name}[{i}]')
      np.testing.assert_allclose(a, p, rtol=1e-6, atol=1e-6 * float(np.max(np.abs(p))), err_msg=f'{name}[{i}]')
  assert abs(float(ms[-1][0]) - 0.1 * sum(0.9**k for k in range(STEPS)) * 1000.0) < 1e-2  # clamp at 1000


def test_sinv6_several_tensors_share_a_scale_and_nan_propagates(isa):
  p = [np.ones(9, np.float32), np.full(20, 2.0, np.float32)]
  g = [np.full(9, 0.5, np.float32), np.full(20, -0.25, np.float32)]
  g[1][4] = np.nan
  m = [np.zeros(9, np.float32), np.zeros(20, np.float32)]
  v = [np.zeros(9, np.float32), np.zeros(20, np.float32)]
  K.sinv6(p, g, m, v, scale=0.01)
  with np.errstate(invalid='ignore'):
    refs = [R.sinv6(np.asarray(x), y, np.zeros_like(x), np.zeros_like(x), scale=0.01)
            for x, y in zip([np.ones(9, np.float32), np.full(20, 2.0, np.float32)], g)]
  for i in range(2):
    np.testing.assert_array_equal(p[i], refs[i][0])
  assert np.isnan(p[1][4]) and np.isnan(m[1][4]) and np.isfinite(np.delete(p[1], 4)).all()
