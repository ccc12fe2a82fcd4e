"""Amos on MNIST smoke: JAX against PyTorch (both styles). The kernel path: amos_kernels_test.py."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/amos'


@pytest.mark.parametrize('index', [0, 1])  # "reduced"; "adam" with eta_overrides
def test_jax_against_pytorch(index):
  testing.check_jax_vs_pytorch(FOLDER, index, step_hint=100)
