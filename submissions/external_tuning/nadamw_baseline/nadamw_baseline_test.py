"""The NAdamW baseline: its update rule against numpy, kernels against the plain path, the search space.
(JAX against PyTorch: tests/nadamw_parity_test.py.)"""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/nadamw_baseline'


@pytest.mark.parametrize('index', [0, 3])  # point 4 has beta2 0.63 and the highest lr
def test_update_rule_against_numpy(index):
  h = testing.point(FOLDER, index)
  testing.check_nadamw_rule(1 - h.one_minus_beta1, h.beta2, h.weight_decay)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_kernels_against_plain_path(framework):
  testing.check_kernels_vs_plain(FOLDER, framework, index=3)


def test_search_space():
  testing.check_search_space(FOLDER, bad={'learning_rate': -0.1, 'beta2': 1.0, 'one_minus_beta1': 0.0})
