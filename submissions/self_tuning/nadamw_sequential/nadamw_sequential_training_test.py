"""NadamW Sequential on MNIST smoke (all three points within 20 steps): JAX against PyTorch, and the kernels
against ALGOPERF_KERNELS=off."""
import pytest

from submissions.common import testing

FOLDER = 'self_tuning/nadamw_sequential'
STEP_HINT = 8  # points of 8, 8 and 6 steps


def test_jax_against_pytorch():
  testing.check_jax_vs_pytorch(FOLDER, step_hint=STEP_HINT)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_kernels_against_plain_path(framework):
  testing.check_kernels_vs_plain(FOLDER, framework, step_hint=STEP_HINT)
