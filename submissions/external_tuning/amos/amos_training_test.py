"""Amos on MNIST smoke: JAX against PyTorch (both styles); ALGOPERF_KERNELS has no effect (no Amos kernel)."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/amos'


@pytest.mark.parametrize('index', [0, 1])  # "reduced"; "adam" with eta_overrides
def test_jax_against_pytorch(index):
  testing.check_jax_vs_pytorch(FOLDER, index, step_hint=100)


def test_kernels_switch_leaves_amos_unchanged():
  testing.check_kernels_vs_plain(FOLDER, 'jax', 3, step_hint=100, rtol=0.0)
