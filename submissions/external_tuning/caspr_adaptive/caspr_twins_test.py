"""CASPR Adaptive's twins: JAX (the published framework) against PyTorch on the same MNIST weights and batches."""
import json
import os

import numpy as np
import pytest

from algoperf import tuning
from submissions.common import precond_testing
from submissions.common import twin_parity

FOLDER = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize('point', [0])
def test_jax_and_pytorch_give_the_same_losses(point):
  """Roots at steps 8 and 16 and preconditioning from step 9 (the published 20 and 101 would leave 20 steps in
  the NAdam phase), so the comparison covers CASPR's statistics, roots and grafting.

  Point 3 (beta2 = 0.63) is left out: its statistics hold only the last few batches, so the 784 x 784 L has
  a large null space that the 1e-6 ridge turns into 1000x gains on fp32 rounding, and the twins' coupled-Newton
  roots differ by ~1% there (each is within the method's own 0.1 error bound).
  """
  with open(os.path.join(FOLDER, 'tuning_search_space.json')) as f:
    hp = dict(json.load(f)[point], precondition_frequency=8, start_preconditioning_step=8)
  jax_losses, torch_losses = twin_parity.mnist_losses(FOLDER, tuning.to_hyperparameters(hp), precond_testing.STEPS)
  np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-4, atol=1e-5)
  assert jax_losses[-1] < jax_losses[0] - 0.1
