"""Generalized Adam on MNIST smoke: JAX against PyTorch on the same weights and batches (both branches)."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/generalized_adam'
# The SGD branch in its warmup (lr 1.95 at its peak makes 20 steps chaotic: twins then part by rounding), and
# the NAdamW branch over a 30-step horizon whose schedule reaches 0 at 0.75 of it.
CASES = [(0, None), (1, 30)]


@pytest.mark.parametrize('index,step_hint', CASES)
def test_jax_against_pytorch(index, step_hint):
  testing.check_jax_vs_pytorch(FOLDER, index, step_hint=step_hint)
