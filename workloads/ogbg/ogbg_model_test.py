"""OGBG twins: parameter and tensor counts at full scale (spec/variants.md §1, §9), forward parity on mapped
weights for the base and every variant, parameter names and types."""
import jax
import numpy as np
import pytest
import torch

from algoperf import random_utils as prng
from algoperf import spec
from workloads.common import param_count
from workloads.ogbg import input_pipeline
from workloads.ogbg import ogbg_fixtures

# spec/variants.md §1: (params, tensors), equal in JAX and PyTorch.
EXPECTED = {
    'ogbg': (3_554_176, 66),
    'ogbg_gelu': (3_554_176, 66),
    'ogbg_silu': (3_554_176, 66),
    'ogbg_model_size': (2_571_648, 78),
}


@pytest.mark.parametrize('key', ogbg_fixtures.KEYS)
def test_full_scale_param_and_tensor_counts_match_the_spec(key):
  jax_workload, torch_workload = ogbg_fixtures.workloads(key, 'full')
  jax_shapes = param_count.param_shapes(jax_workload, 'jax')
  torch_shapes = param_count.param_shapes(torch_workload, 'pytorch')
  assert param_count.count(jax_shapes) == EXPECTED[key]
  assert param_count.count(torch_shapes) == EXPECTED[key]
  # The same multiset of shapes (torch Linear weights are transposed kernels).
  canon = lambda shapes: sorted(tuple(sorted(s)) for s in shapes.values())
  assert canon(jax_shapes) == canon(torch_shapes)


def test_full_scale_layer_widths_follow_the_spec():
  """Step 1 sees 896/896/640 inputs, later steps 1024/1024/768; the decoder is Dense_15 (256 -> 128)."""
  jax_workload, torch_workload = ogbg_fixtures.workloads('ogbg', 'full')
  shapes = param_count.param_shapes(jax_workload, 'jax')
  assert [shapes[f"['Dense_{i}']['kernel']"][0] for i in range(6)] == [896, 896, 640, 1024, 1024, 768]
  assert shapes["['Dense_15']['kernel']"] == (256, 128) and shapes["['node_embedding']['kernel']"] == (9, 256)
  assert shapes["['LayerNorm_14']['scale']"] == (256,)
  small = param_count.param_shapes(ogbg_fixtures.workloads('ogbg_model_size', 'full')[0], 'jax')
  assert [small[f"['Dense_{i}']['kernel']"][0] for i in (0, 2, 4, 6, 8, 10)] == [512, 768, 640, 1024, 1024, 768]
  assert small["['Dense_18']['kernel']"] == (256, 128) and small["['edge_embedding']['kernel']"] == (3, 128)
  torch_shapes = param_count.param_shapes(torch_workload, 'pytorch')
  assert torch_shapes['decoder.weight'] == (128, 256)
  assert torch_shapes['steps.4.global_mlp.layers.norm_0.weight'] == (256,)


@pytest.mark.parametrize('key', ogbg_fixtures.KEYS)
def test_forward_outputs_match_on_mapped_weights(key):
  jax_workload, torch_workload, params, model = ogbg_fixtures.mapped_models(key)
  batch = ogbg_fixtures.real_batch()
  jax_logits = ogbg_fixtures.jax_forward(jax_workload, params, batch)
  torch_logits, _ = torch_workload.model_fn(model, torch_workload._to_device(batch), None,  # pylint: disable=protected-access
                                            spec.ForwardPassMode.EVAL, None, False)
  torch_logits = torch_logits.numpy()
  assert jax_logits.shape == (33, 128) and np.abs(jax_logits).max() > 0.1
  np.testing.assert_allclose(jax_logits, torch_logits, rtol=1e-4, atol=1e-5)


def test_variants_change_the_forward_pass():
  """An activation variant on the same weights gives other logits (the variant is really wired in)."""
  batch = ogbg_fixtures.real_batch()
  outputs = {}
  for key in ('ogbg', 'ogbg_gelu', 'ogbg_silu'):
    _, torch_workload, _, model = ogbg_fixtures.mapped_models(key)
    outputs[key] = torch_workload.model_fn(model, torch_workload._to_device(batch), None,  # pylint: disable=protected-access
                                           spec.ForwardPassMode.EVAL, None, False)[0].numpy()
  assert not np.allclose(outputs['ogbg'], outputs['ogbg_gelu'], atol=1e-3)
  assert not np.allclose(outputs['ogbg_gelu'], outputs['ogbg_silu'], atol=1e-3)


def test_padding_graphs_do_not_change_real_outputs():
  """The same graphs with more padding give the same logits (padding is isolated in its own graph)."""
  _, torch_workload, _, model = ogbg_fixtures.mapped_models('ogbg')
  forward = lambda batch: torch_workload.model_fn(model, torch_workload._to_device(batch), None,  # pylint: disable=protected-access
                                                  spec.ForwardPassMode.EVAL, None, False)[0].numpy()
  small = ogbg_fixtures.real_batch(batch_size=32)
  real = int((small['inputs']['n_node'] > 0).sum() - 1)
  graphs = input_pipeline.load(ogbg_fixtures.DATA_DIR)
  roomy = input_pipeline.pack(graphs, graphs.splits['valid'][:real], input_pipeline.Budget(64))
  assert roomy['inputs']['nodes'].shape[0] > small['inputs']['nodes'].shape[0]
  np.testing.assert_allclose(forward(small)[:real], forward(roomy)[:real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('framework', ['jax', 'pytorch'])
def test_dropout_is_active_in_training_only(framework):
  jax_workload, torch_workload, jax_params, model = ogbg_fixtures.mapped_models('ogbg')
  batch = ogbg_fixtures.real_batch()
  if framework == 'jax':
    run = lambda mode, rate, seed: ogbg_fixtures.jax_forward(jax_workload, jax_params, batch, mode,
                                                             jax.random.PRNGKey(seed), rate)
  else:
    device_batch = torch_workload._to_device(batch)  # pylint: disable=protected-access

    def run(mode, rate, seed):
      torch.manual_seed(seed)
      logits, _ = torch_workload.model_fn(model, device_batch, None, mode, None, False, dropout_rate=rate)
      return logits.detach().numpy()

  train, evaluate = spec.ForwardPassMode.TRAIN, spec.ForwardPassMode.EVAL
  evals = run(evaluate, 0.5, 0)
  np.testing.assert_allclose(evals, run(evaluate, 0.5, 1))  # Eval ignores the rate and the rng.
  first = run(train, 0.5, 2)
  assert not np.allclose(evals, first, atol=1e-3)
  assert not np.allclose(first, run(train, 0.5, 3), atol=1e-3)  # Another rng, another mask.
  if framework == 'pytorch':
    np.testing.assert_allclose(evals, run(train, 0.0, 4), rtol=1e-5, atol=1e-6)


def test_parameter_types_and_output_layer_agree_across_frameworks():
  jax_workload, torch_workload = ogbg_fixtures.workloads('ogbg', 'full')
  prng.set_framework('jax')
  jax.eval_shape(jax_workload.init_model_fn, jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  with torch.device('meta'):
    torch_workload.init_model_fn(prng.PRNGKey(0))
  count = lambda types: sorted(t.name for t in jax.tree.leaves(types))
  assert count(jax_workload.model_params_types) == count(torch_workload.model_params_types)
  assert count(torch_workload.model_params_types).count('LAYER_NORM_SCALE') == 15
  assert jax_workload.is_output_params('Dense_15') and not jax_workload.is_output_params('Dense_1')
  assert torch_workload.is_output_params('decoder.weight') and not torch_workload.is_output_params('steps.0.edge_mlp')
