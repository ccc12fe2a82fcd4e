"""NadamP (power 1.5) on MNIST smoke: JAX against PyTorch, and the kernels against ALGOPERF_KERNELS=off."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/nadamp'


def test_jax_against_pytorch():
  testing.check_jax_vs_pytorch(FOLDER, 3)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_kernels_against_plain_path(framework):
  testing.check_kernels_vs_plain(FOLDER, framework, 3)
