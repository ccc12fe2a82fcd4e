"""Amos on MNIST smoke: the fused-kernel path (default) against ALGOPERF_KERNELS=off, both styles, both
frameworks."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/amos'


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('index', [0, 3])  # style "reduced"; style "adam"
def test_kernels_match_the_plain_path(monkeypatch, framework, index):
  """(c) 20 steps on the kernels (amos_sums, amos_step) against ALGOPERF_KERNELS=off: losses within 1e-6."""
  calls = testing.count_kernel_calls(monkeypatch, framework)
  testing.check_kernels_vs_plain(FOLDER, framework, index, step_hint=100)
  assert {'amos_sums', 'amos_step'} <= set(calls), calls
