"""AdamG on MNIST smoke: JAX against PyTorch, and the kernels against ALGOPERF_KERNELS=off."""
import pytest

from submissions.common import testing

FOLDER = 'self_tuning/adamg'
STEP_HINT = 200  # W = 3: warmup, then the cosine under the 1/sqrt(t) cap within 20 steps


def test_jax_against_pytorch():
  testing.check_jax_vs_pytorch(FOLDER, step_hint=STEP_HINT)


# v^0.24 goes through each path's pow, which is not correctly rounded: the kernel's powf and XLA's pow
# differ by a few ulp per element, and 20 training steps make that ~1.3e-6 of the loss (measured); torch's
# CPU pow is the same powf as the kernel's.
@pytest.mark.parametrize('framework,rtol', [('jax', 3e-6), ('pytorch', 1e-6)])
def test_kernels_against_plain_path(framework, rtol):
  testing.check_kernels_vs_plain(FOLDER, framework, step_hint=STEP_HINT, rtol=rtol)
