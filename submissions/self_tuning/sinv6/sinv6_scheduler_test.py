"""Sinv6's scheduler: JAX and PyTorch against each other and against the numpy reference of the spec."""
import jax.numpy as jnp
import numpy as np
import pytest

from submissions.common.sinv6 import features as F
from submissions.common.sinv6 import jax_sinv6
from submissions.common.sinv6 import reference
from submissions.common.sinv6 import torch_sinv6


def _random_tree(seed):
  """Weights with every entry (biases and initial state too) non-trivial, so each one matters."""
  rng = np.random.default_rng(seed)
  flat = F.flat_weights(F.init_weights(seed, lr_mult_bias=20.0))
  flat = {p: (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32) for p, v in flat.items()}
  return F.nest_weights(flat)


def _loss_curve(seed, n=200):
  """A decaying, noisy training loss with a spike (exercises the loss cap) and a plateau."""
  rng = np.random.default_rng(seed)
  t = np.arange(n)
  losses = 2.3 * np.exp(-t / 40.0) + 0.2 + 0.05 * rng.standard_normal(n)
  losses[90] = 40.0
  losses[150:] = losses[150]
  return losses.astype(np.float32)


@pytest.mark.parametrize('seed,num_steps', [(0, 150), (1, 3000)])
def test_jax_and_torch_give_the_same_lr_multipliers_over_200_steps(seed, num_steps):
  tree, losses = _random_tree(seed), _loss_curve(seed)
  jax_seq = jax_sinv6.lr_mult_sequence(tree, losses, num_steps)
  torch_seq = torch_sinv6.lr_mult_sequence(tree, losses, num_steps)
  assert jax_seq.shape == (200,)
  assert np.ptp(jax_seq) > 1.0  # the sequence moves: a constant would match trivially
  np.testing.assert_allclose(jax_seq, torch_seq, rtol=1e-5)


@pytest.mark.parametrize('seed,num_steps', [(2, 150), (3, 3000)])
def test_scheduler_matches_the_numpy_reference(seed, num_steps):
  tree, losses = _random_tree(seed), _loss_curve(seed)
  ref = reference.lr_mult_sequence(tree, losses, num_steps)
  # float32 throughout; the loss features divide differences of close EMAs, which amplifies last-bit
  # differences of pow/exp between numpy and XLA/torch.
  np.testing.assert_allclose(jax_sinv6.lr_mult_sequence(tree, losses, num_steps), ref, rtol=1e-4)
  np.testing.assert_allclose(torch_sinv6.lr_mult_sequence(tree, losses, num_steps), ref, rtol=1e-4)


def test_first_features_by_hand():
  """Step 1: f = 0, so the fraction features are tanh(-10 tau); the loss features are 0 while k <= 2."""
  decays = jnp.asarray(F.loss_decays(100))
  means = (1 - decays) * 3.0
  x = jax_sinv6.input_features(jnp.asarray(0), jnp.asarray(100.0), decays, means, means / (1 - decays))
  np.testing.assert_allclose(x[:9], np.tanh(-10 * np.asarray([0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1])),
                             rtol=1e-6)
  np.testing.assert_array_equal(x[9:], 0.0)


def test_loss_features_by_hand():
  """k = 3 losses seen; feature j = clip((c_j - min_j)/max(1e-8, c_{j+1} - min_j) - 1, -1, 1)."""
  decays = np.asarray(F.loss_decays(1000), np.float64)
  k = 3
  c = np.linspace(1.0, 2.0, 10)  # bias-corrected means, slower EMAs higher (a falling loss)
  running_min = c - np.asarray([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) * 0.5
  means = c * (1 - decays**k)
  x = jax_sinv6.input_features(jnp.asarray(k - 1), jnp.asarray(1000.0), jnp.asarray(decays, jnp.float32),
                               jnp.asarray(means, jnp.float32), jnp.asarray(running_min, jnp.float32))
  want = np.clip((c[:-1] - running_min[:-1]) / np.maximum(1e-8, c[1:] - running_min[:-1]) - 1, -1, 1)
  np.testing.assert_allclose(np.asarray(x[9:]), want, rtol=5e-4)  # float32 EMAs, then a difference
  np.testing.assert_allclose(np.asarray(x[:9]), np.tanh(10 * (2 / 1000 - F.TIMESCALES)), rtol=1e-6)


def test_loss_cap_is_twice_the_largest_corrected_mean():
  state = jax_sinv6.init_scheduler(jax_sinv6.to_weights(_random_tree(0)), 100)
  d = np.asarray(state.decays, np.float64)
  means = np.linspace(0.5, 1.0, 10).astype(np.float32)
  state = state._replace(iteration=jnp.asarray(4), means=jnp.asarray(means))
  new_means, _ = jax_sinv6._update_loss_buffer(state, jnp.asarray(1e6, jnp.float32))  # pylint: disable=protected-access
  cap = 2 * np.max(means / (1 - d**5))
  np.testing.assert_allclose(np.asarray(new_means), means * d + cap * (1 - d), rtol=1e-5)


@pytest.mark.parametrize('bias,want', [(-5.0, F.LR_MULT_MIN), (5000.0, F.LR_MULT_MAX)])
def test_lr_mult_is_clipped(bias, want):
  tree = _random_tree(0)
  tree['rnn_params']['step_size']['w'][:] = 0.0
  tree['rnn_params']['step_size']['b'][:] = bias
  np.testing.assert_allclose(jax_sinv6.lr_mult_sequence(tree, [1.0, 0.9], 10), [want, want], rtol=1e-6)
  np.testing.assert_allclose(torch_sinv6.lr_mult_sequence(tree, [1.0, 0.9], 10), [want, want], rtol=1e-6)


def test_one_row_equals_the_published_per_tensor_network():
  """Every tensor gets the same features and initial state, so N rows give N copies of the one-row answer."""
  weights = jax_sinv6.to_weights(_random_tree(4))
  x = np.random.default_rng(0).standard_normal((1, F.NUM_FEATURES)).astype(np.float32)
  one = jax_sinv6.NETWORK.apply(weights.params, x, weights.init_hidden, weights.init_cell)
  many = jax_sinv6.NETWORK.apply(weights.params, np.repeat(x, 5, 0), np.repeat(weights.init_hidden, 5, 0),
                                 np.repeat(weights.init_cell, 5, 0))
  for a, b in zip(one, many):
    np.testing.assert_allclose(np.broadcast_to(a, b.shape), b, rtol=1e-6)
