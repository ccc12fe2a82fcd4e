"""The NAdamW look-ahead pinned by a hand-worked step of the spec's formula (submissions.md §0), for every
path the submissions use: JAX and PyTorch, kernels on and off, and the numpy reference.

p = 1, g = 0.5, lr = 0.1, b1 = 0.9, b2 = 0.99, no weight decay, step 1:
  m = 0.1 * 0.5 = 0.05;  v = 0.01 * 0.25 = 0.0025
  look-ahead numerator b1 m + (1 - b1) g = 0.045 + 0.05 = 0.095;  / (1 - b1) = 0.95
  v_hat = 0.0025 / 0.01 = 0.25;  sqrt = 0.5;  p = 1 - 0.1 * 0.95 / 0.5 = 0.81
(plain Adam, without the look-ahead, would give 1 - 0.1 * 0.5 / 0.5 = 0.9).
With weight decay 0.5 the decoupled term adds lr * wd * p = 0.05: p = 0.76.
"""
import numpy as np
import pytest

from submissions.common import testing


@pytest.mark.parametrize('weight_decay,expected', [(0.0, 0.81), (0.5, 0.76)])
def test_one_nadamw_step_by_hand(weight_decay, expected):
  from submissions.common import jax_optimizers, pytorch_optimizers  # pylint: disable=import-outside-toplevel
  params, grads = [np.array([1.0], np.float32)], [[np.array([0.5], np.float32)]]
  reference = testing.nadamw_reference(params, grads, 0.1, 0.9, 0.99, 1e-8, weight_decay)
  np.testing.assert_allclose(reference[0], [expected], rtol=1e-6)
  for on in (True, False):
    with testing.kernels(on):
      jax_result = testing.run_jax(jax_optimizers.nadamw(0.1, 0.9, 0.99, 1e-8, weight_decay), params, grads)
      torch_result = testing.run_torch(
          lambda ts: pytorch_optimizers.nadamw(ts, 0.1, (0.9, 0.99), 1e-8, weight_decay), params, grads)
      np.testing.assert_allclose(jax_result[0], [expected], rtol=1e-6, err_msg=f'jax, kernels {on}')
      np.testing.assert_allclose(torch_result[0], [expected], rtol=1e-6, err_msg=f'pytorch, kernels {on}')
