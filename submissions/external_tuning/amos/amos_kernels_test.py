"""Amos on MNIST smoke: the fused-kernel path (default) against ALGOPERF_KERNELS=off, both styles, both
frameworks."""
import pytest

from submissions.common import testing

FOLDER = 'external_tuning/amos'


def _count_kernel_calls(monkeypatch, framework):
  from algoperf_kernels import jax_ops, torch_ops  # pylint: disable=import-outside-toplevel
  calls = []
  if framework == 'jax':
    real = jax_ops.apply
    monkeypatch.setattr(jax_ops, 'apply', lambda op, *a, **k: calls.append(op) or real(op, *a, **k))
  else:
    for name in ('amos_sums', 'amos_step'):
      real_fn = getattr(torch_ops, name)
      monkeypatch.setattr(torch_ops, name, lambda *a, _n=name, _f=real_fn, **k: calls.append(_n) or _f(*a, **k))
  return calls


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('index', [0, 3])  # style "reduced"; style "adam"
def test_kernels_match_the_plain_path(monkeypatch, framework, index):
  """(c) 20 steps on the kernels (amos_sums, amos_step) against ALGOPERF_KERNELS=off: losses within 1e-6."""
  calls = _count_kernel_calls(monkeypatch, framework)
  testing.check_kernels_vs_plain(FOLDER, framework, index, step_hint=100)
  assert {'amos_sums', 'amos_step'} <= set(calls), calls
