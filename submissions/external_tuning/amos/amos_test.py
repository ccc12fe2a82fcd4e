"""Amos: the per-variable rules against hand-worked values, both styles against the numpy reference, and
the search space."""
import math

import numpy as np
import pytest
import torch

from algoperf_kernels import reference
from submissions.common import amos_rules
from submissions.common import jax_optimizers
from submissions.common import pytorch_optimizers
from submissions.common import testing

FOLDER = 'external_tuning/amos'
# float32 paths against the float64 reference: Amos divides by per-variable means and by 1 + eta s l2r b_v,
# which turns float32 rounding into up to ~1.5e-5 relative over 20 steps (measured), so 1e-5 would be flaky.
RTOL = 3e-5


@pytest.mark.parametrize('path,kind', [
    (('Dense_0', 'kernel'), 'weight'), (('Dense_0', 'bias'), 'bias'), (('Conv_0', 'kernel'), 'conv_weight'),
    (('Conv_0', 'bias'), 'bias'), (('BatchNorm_0', 'scale'), 'bn_scale'), (('LayerNorm_0', 'bias'), 'ln_bias'),
    (('embedding',), 'embedding'), (('Embed_0', 'embedding'), 'embedding'),
    (('MultiHeadDotProductAttention_0', 'query', 'kernel'), 'attention_query'),
    (('MultiHeadDotProductAttention_0', 'out', 'kernel'), 'attention_out'),
    (('MultiHeadDotProductAttention_0', 'key', 'bias'), 'attention_bias'),
    (('net', 'layer1', 'weight'), 'weight'),
    (('Dense_ln', 'kernel'), 'ln_bias'),  # the published substring test misfires on "ln", as upstream
])
def test_types_from_paths(path, kind):
  assert amos_rules.classify(path) == kind


def test_eta_shapes_tau_and_xi_by_hand():
  m = amos_rules.meta(('Dense_0', 'kernel'), (784, 128))
  assert m.eta == pytest.approx(math.sqrt(2 / 784)) and m.axes == (0, 1) and m.k == 784 * 128
  assert amos_rules.meta(('net', 'layer1', 'weight'), (128, 784), torch_layout=True).eta == pytest.approx(
      math.sqrt(2 / 784))  # the torch (out, in) weight gets the same eta as its Flax twin
  assert amos_rules.meta(('Conv_0', 'kernel'), (3, 3, 16, 32)).eta == pytest.approx(1 / 12)
  emb = amos_rules.meta(('embedding',), (1000, 64))
  assert emb.axes == (1,) and emb.k == 64 and emb.eta == 1.0
  assert amos_rules.meta(('Dense_0', 'bias'), (10,), eta_override=0.062).eta == 0.062
  assert amos_rules.tau(1.0) == 0.0
  q = math.sqrt(0.5)  # k = 4: sqrt(k) = 2
  assert amos_rules.tau(4.0) == pytest.approx(q * math.log(2 * (1 + q)**2)) == pytest.approx(1.24645, abs=1e-5)
  assert amos_rules.xi(4.0, 0.65, 1000, 0.02) == pytest.approx(
      math.sqrt(2 * (1.24645 + math.sqrt(2) - 1) / (0.65 * (1000 - 2 / 3 * 20))), rel=1e-5)


def _reference(style, metas, params, grads, b1, b2, l2, xi, warmup_steps):
  fn = reference.amos_adam if style == 'adam' else reference.amos_reduced
  ps = [p.astype(np.float64) for p in params]
  state = []
  for p, m in zip(params, metas):
    nu_shape, b_shape = amos_rules.state_shapes(p.shape, m, style)
    state.append([np.zeros(p.shape), np.zeros(nu_shape), np.zeros(b_shape)])
  for count, g in enumerate(grads):
    norm = math.sqrt(sum(float(np.sum(x.astype(np.float64)**2)) for x in g))
    scale = 1.0 if norm < 1.0 else 1.0 / norm
    xi_t = xi * min(count / warmup_steps, 1.0)
    for i, m in enumerate(metas):
      ps[i], *state[i] = fn(ps[i], g[i] * scale, *state[i], count=count, xi_t=xi_t, eta=m.eta, k=m.k, tau=m.tau,
                            axes=m.axes, beta1=b1, beta2=b2, l2=l2)
  return ps


@pytest.mark.parametrize('kernels', ['on', 'off'])
@pytest.mark.parametrize('index', [0, 1])  # style "reduced", style "adam" with eta_overrides
def test_update_rule_against_numpy(monkeypatch, index, kernels):
  monkeypatch.setenv('ALGOPERF_KERNELS', kernels)
  h = testing.point(FOLDER, index)
  shapes = ((6, 4), (4,), (5, 3))
  params, grads = testing.random_problem(shapes=shapes)
  grads = [[x * 20 for x in g] for g in grads]  # global norm above 1: the clip is exercised
  names = ['Dense_0/kernel', 'Dense_0/bias', 'embedding']
  step_hint, warmup = 50, 0.1
  args = dict(style=h.style, b1=h.beta1, b2=h.beta2, l2=h.l2, converge=h.converge, warmup=warmup,
              step_hint=step_hint, eta_override=float(h.eta_overrides))
  xi_of = lambda metas: amos_rules.xi(max(m.k for m in metas), h.converge, step_hint, warmup)
  # JAX: a tree with Flax-style paths.
  jax_metas = [amos_rules.meta(n.split('/'), s, args['eta_override']) for n, s in zip(names, shapes)]
  expected = _reference(h.style, jax_metas, params, grads, h.beta1, h.beta2, h.l2, xi_of(jax_metas), 5)
  tree = {'Dense_0': {'kernel': params[0], 'bias': params[1]}, 'embedding': params[2]}
  optimizer = jax_optimizers.amos(tree, **args)
  import jax  # pylint: disable=import-outside-toplevel
  state, step, current = optimizer.init(tree), jax.jit(optimizer.step), tree
  for g in grads:
    current, state = step({'Dense_0': {'kernel': g[0], 'bias': g[1]}, 'embedding': g[2]}, state, current)
  got = [current['Dense_0']['kernel'], current['Dense_0']['bias'], current['embedding']]
  testing.assert_close(got, expected, RTOL)
  assert max(np.abs(e - p).max() for e, p in zip(expected, params)) > 1e-3  # it moved
  # PyTorch: named parameters (the same names, '.'-separated).
  torch_metas = [amos_rules.meta(n.split('/'), s, args['eta_override'], torch_layout=True)
                 for n, s in zip(names, shapes)]
  expected = _reference(h.style, torch_metas, params, grads, h.beta1, h.beta2, h.l2, xi_of(torch_metas), 5)
  got = testing.run_torch(lambda ts: pytorch_optimizers.Amos(
      [(n.replace('/', '.'), t) for n, t in zip(names, ts)], **args), params, grads)
  testing.assert_close(got, expected, RTOL)


def test_search_space():
  testing.check_search_space(FOLDER, bad={'beta2': 1.0, 'converge': 0.0, 'l2': -0.1})
  with pytest.raises(ValueError, match="style='sgd'"):
    from submissions.external_tuning.amos import hparams  # pylint: disable=import-outside-toplevel
    hparams.check(testing.point(FOLDER, 0, style='sgd'))
