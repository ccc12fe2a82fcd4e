"""What the CPU parity tests share: tensor sizes that reach every code path, the `isa` fixture that runs a
test on each CPU path this machine has, float32 random lists, and the two comparisons (bits; 1e-6)."""
import numpy as np
import pytest

import algoperf_kernels as ak

# Odd sizes exercise the scalar tails, sizes past 65536 several work items per tensor.
SIZES = [1, 7, 8, 17, 1000, 65536 + 13, 2 * 65536 + 5]
ISAS = ['generic'] + (['avx2'] if ak._C.cpu_has_avx2() else [])  # pylint: disable=protected-access


@pytest.fixture(params=ISAS)
def isa(request):
  """Runs the test once per CPU code path (the portable one, and AVX2 where the CPU has it)."""
  ak.set_cpu_isa(request.param)
  yield request.param
  ak.set_cpu_isa('auto')


def randn(rng, sizes, scale=1.0):
  return [(rng.standard_normal(s) * scale).astype(np.float32) for s in sizes]


def zeros(sizes):
  return [np.zeros(s, np.float32) for s in sizes]


def assert_bits(actual, exact, what=''):
  """Element for element the same float32 values (NaNs in the same places)."""
  for i, (a, r) in enumerate(zip(actual, exact)):
    np.testing.assert_array_equal(a, r, err_msg=f'{what}[{i}]')


def assert_close(actual, plain, what=''):
  """rtol 1e-6, plus atol 1e-6 x max|plain| for elements that come out of a cancellation."""
  for i, (a, r) in enumerate(zip(actual, plain)):
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    np.testing.assert_allclose(a, r, rtol=1e-6, atol=1e-6 * scale, err_msg=f'{what}[{i}]')
