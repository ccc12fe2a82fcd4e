"""Every submission folder under submissions/*_tuning/ trains a few MNIST smoke steps in each framework whose
file it has: a new folder is tested here with no extra work.

External tuning uses the search space's first point (first Halton draw for a space of ranges); self-tuning
gets hyperparameters=None, as from the runner.
"""
import os

import numpy as np
import pytest

from submissions.common import testing

STEPS = 3
CASES = [(folder, framework) for folder in testing.folders() for framework, name in testing.FILES.items()
         if os.path.exists(os.path.join(testing.SUBMISSIONS, folder, name))]


def test_finds_the_known_folders():
  assert {'external_tuning/nadamw_baseline', 'self_tuning/nadamw_baseline'} <= set(testing.folders())


@pytest.mark.parametrize('folder,framework', CASES, ids=[f'{f}-{fw}' for f, fw in CASES])
def test_trains_a_few_steps(folder, framework):
  submission = testing.load(folder, framework)
  assert submission.get_batch_size('mnist') > 0
  losses, after = testing.train(framework, submission, testing.point(folder), STEPS)
  _, before = testing.train(framework, submission, testing.point(folder), 0)
  assert np.all(np.isfinite(losses)), losses
  assert all(np.all(np.isfinite(a)) for a in after)
  assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before)), 'no weight moved'
