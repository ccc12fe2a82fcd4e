"""Sinv6 on the fused kernels against ALGOPERF_KERNELS=off, 20 steps (1e-6 relative), both frameworks."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import torch

from algoperf import random_utils as prng
from algoperf import submission_loader
from submissions.common.sinv6 import features as F
from submissions.common.sinv6 import jax_sinv6
from submissions.common.sinv6 import torch_sinv6
from workloads import registry

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
STEPS = 20
SHAPES = [(6, 4), (4,), (3, 3, 2)]


def _problem():
  rng = np.random.default_rng(7)
  params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
  grads = [[(rng.standard_normal(s) * 10**rng.uniform(-4, 0)).astype(np.float32) for s in SHAPES]
           for _ in range(STEPS)]
  grads[2][0][1, 1] = 3000.0  # clamped by both paths
  tree = F.init_weights(1, lr_mult_bias=30.0)
  return params, grads, np.linspace(2.0, 0.3, STEPS).astype(np.float32), tree


def _assert_close(a, b):
  for x, y in zip(a, b):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6 * float(np.max(np.abs(y))))


def test_jax_update_kernels_equal_plain():
  params, grads, losses, tree = _problem()
  weights = jax_sinv6.to_weights(tree)
  out = {}
  for use_kernels in (False, True):
    p = [jnp.asarray(x) for x in params]
    state = jax_sinv6.init(weights, p, 50)
    step = jax.jit(lambda w, g, s, p, l, k=use_kernels: jax_sinv6.update(w, g, s, p, l, use_kernels=k),
                   donate_argnums=(2, 3))
    for g, loss in zip(grads, losses):
      p, state, _ = step(weights, [jnp.asarray(x) for x in g], state, p, loss)
    out[use_kernels] = [np.asarray(x) for x in p] + [np.asarray(x) for x in state.m + state.rms]
  assert np.max(np.abs(out[True][0] - params[0])) > 1e-3
  _assert_close(out[True], out[False])


def test_torch_update_kernels_equal_plain():
  params, grads, losses, tree = _problem()
  out = {}
  for use_kernels in (False, True):
    p = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in params]
    optimizer = torch_sinv6.Sinv6(p, tree, 50, use_kernels=use_kernels)
    for g, loss in zip(grads, losses):
      for param, grad in zip(p, g):
        param.grad = torch.from_numpy(grad.copy())
      optimizer.step(torch.tensor(loss))
    out[use_kernels] = [x.detach().numpy().copy() for x in p]
  assert np.max(np.abs(out[True][0] - params[0])) > 1e-3
  _assert_close(out[True], out[False])


def test_submissions_read_the_switch(monkeypatch):
  """ALGOPERF_KERNELS decides the path each submission builds (MNIST smoke, a few steps, same result)."""
  path = os.path.join(ROOT, 'submissions', 'self_tuning', 'sinv6', 'pytorch_submission.py')
  sub = submission_loader.load_submission(path)
  workload = registry.import_workload('mnist', 'pytorch', scale='smoke')
  prng.set_framework('pytorch')
  results = {}
  for switch in ('off', 'on'):
    monkeypatch.setenv('ALGOPERF_KERNELS', switch)
    model, _ = workload.init_model_fn(prng.PRNGKey(0))
    state = sub.init_optimizer_state(workload, model, None, None, None)
    assert state['optimizer'].use_kernels == (switch == 'on')
    queue = workload._build_numpy_queue(np.array([0, 1], np.uint32), 'train', DATA_DIR, 16)  # pylint: disable=protected-access
    for step in range(5):
      batch = {k: torch.from_numpy(v) for k, v in next(queue).items()}
      state, model, _ = sub.update_params(workload, model, None, None, None, batch, None, state, [], step, None)
    results[switch] = [p.detach().numpy().copy() for p in model.parameters()]
  _assert_close(results['on'], results['off'])
