"""Sinv6's per-parameter update (both frameworks) against the numpy reference of the spec, 20 steps."""
import jax
import jax.numpy as jnp
import numpy as np
import torch

from submissions.common.sinv6 import features as F
from submissions.common.sinv6 import jax_sinv6
from submissions.common.sinv6 import reference
from submissions.common.sinv6 import torch_sinv6

STEPS = 20
SHAPES = [(5, 3), (3,), (2, 2, 2)]


def _problem(seed=0):
  rng = np.random.default_rng(seed)
  params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
  params[1][:] *= 0.01  # a small tensor: its step is small too (relative update)
  grads = [[(rng.standard_normal(s) * 10**rng.uniform(-3, 0)).astype(np.float32) for s in SHAPES]
           for _ in range(STEPS)]
  grads[3][0][0, 0] = 5000.0  # clipped to 1000
  grads[7][2][1, 1, 1] = -2e4
  losses = np.linspace(2.0, 0.5, STEPS).astype(np.float32)
  tree = F.init_weights(seed, lr_mult_bias=30.0)
  tree['rnn_params']['step_size']['w'][:] *= 20.0  # lr_mult varies from step to step
  return params, grads, losses, tree


def _check(got, lr_mults, params, grads):
  want = reference.sinv6_updates(params, grads, lr_mults)
  assert np.ptp(lr_mults) > 0.1
  for g, w, p0 in zip(got, want, params):
    assert np.max(np.abs(w - p0)) > 1e-4  # every tensor moved
    np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6 * np.max(np.abs(w)))


def test_jax_update_matches_reference():
  params, grads, losses, tree = _problem()
  weights = jax_sinv6.to_weights(tree)
  p = [jnp.asarray(x) for x in params]
  state = jax_sinv6.init(weights, p, 100)
  step = jax.jit(jax_sinv6.update)
  lr_mults = []
  for g, loss in zip(grads, losses):
    p, state, lr_mult = step(weights, [jnp.asarray(x) for x in g], state, p, loss)
    lr_mults.append(float(lr_mult))
  np.testing.assert_allclose(lr_mults, reference.lr_mult_sequence(tree, losses, 100), rtol=1e-4)
  _check([np.asarray(x) for x in p], lr_mults, params, grads)


def test_torch_update_matches_reference():
  params, grads, losses, tree = _problem()
  p = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in params]
  optimizer = torch_sinv6.Sinv6(p, tree, 100)
  lr_mults = []
  for g, loss in zip(grads, losses):
    for param, grad in zip(p, g):
      param.grad = torch.from_numpy(grad.copy())
    lr_mults.append(optimizer.step(torch.tensor(loss)).item())
  _check([x.detach().numpy() for x in p], lr_mults, params, grads)
