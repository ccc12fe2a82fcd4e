"""Cyclic LR (2 cycles within the test) on MNIST smoke: JAX against PyTorch, kernels against the plain path."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/cyclic_lr'
STEP_HINT = 16  # point 4: two cycles of 8 updates with a warmup of int(0.1 * 16) = 1 update


def test_jax_against_pytorch():
  testing.check_jax_vs_pytorch(FOLDER, 3, step_hint=STEP_HINT)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_kernels_against_plain_path(framework):
  testing.check_kernels_vs_plain(FOLDER, framework, 3, step_hint=STEP_HINT)
