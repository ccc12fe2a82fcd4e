"""OGBG's MLP inputs are never concatenated (jax/models.py PartsDense, pytorch/models.py _parts_linear): pins
both frameworks' logits and gradients to the GraphNetwork written as jraph does it (concatenate, then Dense),
in float64, independent of models.py; and PartsDense's initialisation to nn.Dense's."""
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from workloads.ogbg import ogbg_fixtures
from workloads.ogbg import param_mapping
from workloads.ogbg.jax import models as jax_models


def _reference_loss(params, batch, hidden_dims):
  """(logits, mean masked BCE) of the concatenated GraphNetwork (ReLU, no dropout) on Flax-named float64
  torch parameters."""
  graph = {k: torch.as_tensor(v) for k, v in batch['inputs'].items()}
  senders, receivers = graph['senders'].long(), graph['receivers'].long()
  num_graphs = len(graph['n_node'])
  node_graph = torch.repeat_interleave(torch.arange(num_graphs), graph['n_node'].long())
  edge_graph = torch.repeat_interleave(torch.arange(num_graphs), graph['n_edge'].long())
  dense_ids, norm_ids = itertools.count(), itertools.count()
  dense = lambda name, x: x @ params[name]['kernel'] + params[name]['bias']

  def segment_sum(x, ids, n):
    return torch.zeros((n, x.shape[1]), dtype=x.dtype).index_add(0, ids, x)

  def mlp(*inputs):
    x = torch.cat(inputs, -1)
    for _ in hidden_dims:
      x = dense(f'Dense_{next(dense_ids)}', x)
      norm = params[f'LayerNorm_{next(norm_ids)}']
      x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-6)
      x = torch.relu(x * norm['scale'] + norm['bias'])
    return x

  nodes = dense('node_embedding', graph['nodes'].double())
  edges = dense('edge_embedding', graph['edges'].double())
  globals_ = torch.zeros((num_graphs, 128), dtype=torch.float64)
  num_steps = sum(name.startswith('Dense_') for name in params) // (3 * len(hidden_dims))
  for _ in range(num_steps):
    edges = mlp(edges, nodes[senders], nodes[receivers], globals_[edge_graph])
    nodes = mlp(nodes, segment_sum(edges, senders, len(nodes)), segment_sum(edges, receivers, len(nodes)),
                globals_[node_graph])
    globals_ = mlp(segment_sum(nodes, node_graph, num_graphs), segment_sum(edges, edge_graph, num_graphs), globals_)
  logits = dense(f'Dense_{next(dense_ids)}', globals_)
  labels, mask = torch.as_tensor(batch['targets']).double(), torch.as_tensor(batch['weights']) > 0
  losses = torch.clamp(logits, min=0) - logits * labels + torch.log1p(torch.exp(-logits.abs()))
  return logits, torch.where(mask, losses, torch.zeros_like(losses)).sum() / mask.sum()


def _reference(flax_params, batch, hidden_dims):
  """Logits and Flax-named gradients of the reference, as numpy."""
  params = jax.tree.map(lambda x: torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True), flax_params)
  logits, loss = _reference_loss(params, batch, hidden_dims)
  loss.backward()
  return logits.detach().numpy(), jax.tree.map(lambda p: p.grad.numpy(), params)


def _jax(workload, params, batch):
  def loss_fn(p):
    logits, _ = workload.model_fn(p, batch, None, spec.ForwardPassMode.TRAIN, jax.random.PRNGKey(0), False,
                                  dropout_rate=0.0)
    loss = workload.loss_fn(batch['targets'], logits, batch['weights'])
    return loss['summed'] / loss['n_valid_examples'], logits

  (_, logits), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
  return np.asarray(logits), jax.tree.map(np.asarray, grads)


def _torch(workload, model, batch, hidden_dims, num_steps):
  model.zero_grad(set_to_none=True)
  device_batch = workload._to_device(batch)  # pylint: disable=protected-access
  logits, _ = workload.model_fn(model, device_batch, None, spec.ForwardPassMode.TRAIN, None, False, dropout_rate=0.0)
  loss = workload.loss_fn(device_batch['targets'], logits, device_batch['weights'])
  (loss['summed'] / loss['n_valid_examples']).backward()
  grads = {name: p.grad for name, p in model.named_parameters()}
  return logits.detach().numpy(), param_mapping.torch_to_flax(grads, hidden_dims, num_steps)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
@pytest.mark.parametrize('key', ['ogbg', 'ogbg_model_size'])  # One and two Dense layers per MLP.
def test_logits_and_gradients_match_the_concatenated_graph_network(key, framework):
  jax_workload, torch_workload, params, model = ogbg_fixtures.mapped_models(key)
  config = torch_workload.config.model
  hidden_dims, num_steps = config['hidden_dims'], config['num_message_passing_steps']
  batch = ogbg_fixtures.real_batch('validation', 32)
  expected_logits, expected_grads = _reference(params, batch, hidden_dims)
  if framework == 'jax':
    prng.set_framework('jax')
    logits, grads = _jax(jax_workload, params, batch)
  else:
    logits, grads = _torch(torch_workload, model, batch, hidden_dims, num_steps)
  # float32 against float64: the concatenated form in float32 errs as much (~1e-6 of the largest gradient).
  np.testing.assert_allclose(logits, expected_logits, rtol=1e-5, atol=1e-5)
  assert set(grads) == set(expected_grads)
  for name in expected_grads:
    for leaf in expected_grads[name]:
      expected = expected_grads[name][leaf]
      scale = np.abs(expected).max()
      assert scale > 0, (name, leaf)  # Every parameter is reached.
      np.testing.assert_allclose(grads[name][leaf], expected, rtol=1e-5, atol=2e-5 * scale, err_msg=f'{name}/{leaf}')


def test_parts_dense_initialises_as_nn_dense():
  parts = [(jnp.ones((5, 3)), None), (jnp.ones((4, 2)), jnp.array([0, 1, 1, 3, 2])), (jnp.ones((5, 4)), None)]
  key = jax.random.PRNGKey(3)
  ours = jax_models.PartsDense(7).init(key, parts)
  theirs = nn.Dense(7).init(key, jnp.ones((5, 9)))
  for leaf in ('kernel', 'bias'):
    np.testing.assert_array_equal(ours['params'][leaf], theirs['params'][leaf])
