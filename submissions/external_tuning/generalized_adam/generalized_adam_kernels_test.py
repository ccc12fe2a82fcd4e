"""Generalized Adam on MNIST smoke: the fused kernels against ALGOPERF_KERNELS=off (both branches)."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/generalized_adam'


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('index,step_hint', [(0, None), (1, 30)])
def test_kernels_against_plain_path(framework, index, step_hint):
  testing.check_kernels_vs_plain(FOLDER, framework, index, step_hint=step_hint)
