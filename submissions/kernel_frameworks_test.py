"""`kernel_frameworks` in each submission_info.json names exactly the frameworks whose version calls into the
fused kernels (//kernels:algoperf_kernels) when they are on. tools/plan.py reads the list to choose what
`--compare_kernels` re-runs with ALGOPERF_KERNELS=off: a framework listed wrongly is compared with itself, one
left out is never compared.

Observed, not read from the source: MNIST smoke steps with the kernels on and the kernel library's entry points
wrapped (testing.count_kernel_calls). A framework counts as on the kernels when at least one point of the
published search space makes kernel calls (Shampoo's JAX version fuses only the momentum step, which points 2
and 3 use), so a framework left out must make none at every point.
Three targets (submissions/BUILD: kernel_frameworks_{jax_precond,jax_others,pytorch}_test) keep each short.
"""
import json
import os

import jax
import pytest

from submissions.common import testing

STEPS = 1
CASES = [(folder, framework) for folder in testing.folders() for framework, name in testing.FILES.items()
         if os.path.exists(os.path.join(testing.SUBMISSIONS, folder, name))]


def _kernel_calls(monkeypatch, folder, framework, kernels, index=0):
  """The ops the first STEPS updates of search-space point `index` call, ALGOPERF_KERNELS=`kernels`."""
  monkeypatch.setenv('ALGOPERF_KERNELS', kernels)
  if framework == 'jax':
    jax.clear_caches()  # JAX ops are seen when an update is traced: no earlier trace may be reused.
  with monkeypatch.context() as patch:
    calls = testing.count_kernel_calls(patch, framework)
    testing.train(framework, testing.load(folder, framework), testing.point(folder, index), STEPS)
  return calls


def _num_points(folder):
  return 1 if folder.startswith('self_tuning') else len(testing.search_space(folder))


@pytest.mark.parametrize('folder,framework', CASES, ids=[f'{f}-{fw}' for f, fw in CASES])
def test_kernel_frameworks_lists_the_frameworks_that_call_the_kernels(monkeypatch, folder, framework):
  with open(os.path.join(testing.SUBMISSIONS, folder, 'submission_info.json')) as f:
    listed = json.load(f)['kernel_frameworks']
  seen = {}
  for index in range(_num_points(folder)):
    seen[index] = sorted(set(_kernel_calls(monkeypatch, folder, framework, 'on', index)))
    if seen[index]:
      break
  calls_kernels = any(seen.values())
  assert calls_kernels == (framework in listed), (
      f'{folder}/submission_info.json: kernel_frameworks is {listed}, but the {framework} version called '
      f'{seen} (search-space point: kernel ops)')


@pytest.mark.parametrize('framework', sorted(testing.FILES))
def test_the_count_is_zero_with_the_kernels_off(monkeypatch, framework):
  """The control: the same steps with ALGOPERF_KERNELS=off call no kernel (the counter is not always busy)."""
  assert not _kernel_calls(monkeypatch, 'external_tuning/nadamw_baseline', framework, 'off')
