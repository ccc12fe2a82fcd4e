"""WMT twins: same parameter tree, forward outputs, losses, beam search and eval metrics on mapped weights."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from algoperf import spec
from workloads.wmt import bleu
from workloads.wmt import model_config
from workloads.wmt import wmt_fixtures
from workloads.wmt.jax import decode as jax_decode
from workloads.wmt.pytorch import decode as torch_decode
from workloads.wmt.wmt_fixtures import DATA_DIR

wmt_fixtures.one_thread()


def _batch(workload, split: str, size: int):
  return {k: v[:size] for k, v in workload._split_arrays(DATA_DIR, split).items()}  # pylint: disable=protected-access


@pytest.mark.parametrize('key', wmt_fixtures.KEYS)
def test_forward_outputs_match_on_mapped_weights(key):
  jax_workload, torch_workload, params, model = wmt_fixtures.mapped_models(key)
  # The mapping fills exactly the Flax model's parameter tree.
  shapes = jax.eval_shape(jax_workload.init_model_fn, jax.random.PRNGKey(0))[0]
  assert jax.tree.structure(shapes) == jax.tree.structure(params)
  assert [s.shape for s in jax.tree.leaves(shapes)] == [p.shape for p in jax.tree.leaves(params)]
  jax_workload.check_data(DATA_DIR)
  for batch in (_batch(jax_workload, 'train', 4), _batch(jax_workload, 'validation', 4)):  # Packed, then plain.
    jax_logits, _ = jax_workload.model_fn(params, {k: jnp.asarray(v) for k, v in batch.items()}, None,
                                          spec.ForwardPassMode.EVAL, None, False)
    torch_logits, _ = torch_workload.model_fn(model, {k: torch.from_numpy(v) for k, v in batch.items()}, None,
                                              spec.ForwardPassMode.EVAL, None, False)
    assert jax_logits.shape == (4, 32, 400)
    np.testing.assert_allclose(np.asarray(jax_logits), torch_logits.numpy(), rtol=1e-4, atol=1e-5)


def test_packed_rows_keep_examples_apart():
  """An example's logits are the same alone in a row as packed behind another one."""
  _, torch_workload, _, model = wmt_fixtures.mapped_models('wmt')
  model.eval()
  a_in, a_tg, b_in, b_tg = [torch.tensor(x) for x in ([5, 6, 7, 1], [8, 9, 1], [10, 11, 1], [12, 13, 14, 1])]
  alone = model(b_in[None], b_tg[None])
  packed = model(torch.cat([a_in, b_in])[None], torch.cat([a_tg, b_tg])[None],
                 inputs_positions=torch.tensor([[0, 1, 2, 3, 0, 1, 2]]),
                 targets_positions=torch.tensor([[0, 1, 2, 0, 1, 2, 3]]),
                 inputs_segmentation=torch.tensor([[1, 1, 1, 1, 2, 2, 2]]),
                 targets_segmentation=torch.tensor([[1, 1, 1, 2, 2, 2, 2]]))
  torch.testing.assert_close(packed[0, 3:], alone[0], rtol=1e-4, atol=1e-5)


def test_token_losses_match_with_label_smoothing_and_mask():
  jax_workload, torch_workload = wmt_fixtures.workloads()
  rs = np.random.RandomState(1)
  logits = rs.normal(size=(3, 5, 400)).astype(np.float32)
  labels = rs.randint(0, 400, size=(3, 5)).astype(np.int32)
  mask = (rs.uniform(size=(3, 5)) > 0.3).astype(np.float32)
  jl = jax_workload.loss_fn(jnp.asarray(labels), jnp.asarray(logits), jnp.asarray(mask), 0.1)
  tl = torch_workload.loss_fn(torch.from_numpy(labels), torch.from_numpy(logits), torch.from_numpy(mask), 0.1)
  assert float(jl['n_valid_examples']) == float(tl['n_valid_examples']) == mask.sum()
  np.testing.assert_allclose(np.asarray(jl['per_example']), tl['per_example'].numpy(), rtol=1e-5)
  assert tl['per_example'].shape == (3, 5) and float(tl['per_example'][mask == 0].abs().sum()) == 0.0
  # By hand, one token: -(0.9 + 0.1/V) log p_label - (0.1/V) sum_{other} log p.
  logp = logits[0, 0] - np.log(np.exp(logits[0, 0]).sum())
  expected = -(0.9 * logp[labels[0, 0]] + 0.1 / 400 * logp.sum())
  if mask[0, 0]:
    assert float(tl['per_example'][0, 0]) == pytest.approx(expected, rel=1e-5)


# Beam search ------------------------------------------------------------------------------------

def _markov_step_fns(table: np.ndarray):
  """Twin step functions whose logits depend on a per-beam state kept in the cache (so beams must be
  gathered correctly): state <- 7 * state + token, logits = table[state % len(table)]."""
  rows = len(table)

  def jax_step(ids, cache):
    state = (cache['state'] * 7 + ids[:, 0]) % rows
    return jnp.asarray(table)[state], {'state': state, 'counter': cache['counter'] + 1}

  def torch_step(ids, cache):
    layer = cache['layers'][0]
    state = (layer['key'][:, 0, 0, 0].long() * 7 + ids[:, 0]) % rows
    layer['key'] = state.float()[:, None, None, None]
    layer['value'] = layer['key']
    return torch.from_numpy(table)[state]

  return jax_step, torch_step


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_beam_search_twins_agree(seed):
  rs = np.random.RandomState(seed)
  batch, vocab, length, beams = 3, 9, 7, model_config.BEAM_SIZE
  table = (2.0 * rs.normal(size=(31, vocab))).astype(np.float32)
  jax_step, torch_step = _markov_step_fns(table)
  init = rs.randint(0, 31, size=batch * beams)  # Beams of one example start alike: each example's start state.
  init = np.repeat(init[::beams], beams)
  jax_out = jax.jit(lambda c: jax_decode.beam_search(jax_step, c, batch, length, beams))(
      {'state': jnp.asarray(init, jnp.int32), 'counter': jnp.array(0)})
  torch_cache = {'layers': [{'key': torch.from_numpy(init).float()[:, None, None, None]}]}
  torch_cache['layers'][0]['value'] = torch_cache['layers'][0]['key']
  torch_out = torch_decode.beam_search(torch_step, torch_cache, batch, length, beams)
  np.testing.assert_array_equal(np.asarray(jax_out), torch_out.numpy())
  assert jax_out.shape == (batch, length)


def _beam_vs_greedy_table():
  """Token 2 is likelier first, but only token 3 is followed by a likely EOS: (0.45 * 0.98) beats
  (0.55 * 0.1), so beam search answers [3, EOS] where greedy decoding would start with 2."""
  probs = np.full((4, 4), 1e-6)
  probs[0] = [1e-6, 1e-6, 0.55, 0.45]  # After the start token 0.
  probs[2] = [0.3, 0.1, 0.3, 0.3]
  probs[3] = [0.01, 0.98, 0.005, 0.005]
  probs[1] = [0.25, 0.25, 0.25, 0.25]
  return np.log(probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def test_beam_search_by_hand():
  table = _beam_vs_greedy_table()

  def jax_step(ids, cache):
    return jnp.asarray(table)[ids[:, 0]], cache

  def torch_step(ids, cache):
    return torch.from_numpy(table)[ids[:, 0]]

  jax_out = jax_decode.beam_search(jax_step, {'unused': jnp.zeros((4, 1))}, 1, 5)
  torch_out = torch_decode.beam_search(torch_step, {'layers': []}, 1, 5)
  np.testing.assert_array_equal(np.asarray(jax_out), [[3, 1, 0, 0, 0]])
  np.testing.assert_array_equal(torch_out.numpy(), [[3, 1, 0, 0, 0]])
  assert model_config.brevity_penalty(2) == pytest.approx((7 / 6)**0.6)
  assert math.log(0.45 * 0.98) > math.log(0.55 * 0.1)


def test_model_beam_search_and_eval_metrics_match_across_frameworks():
  jax_workload, torch_workload, params, model = wmt_fixtures.mapped_models('wmt', seed=3)
  jax_workload.check_data(DATA_DIR)
  torch_workload.check_data(DATA_DIR)
  batch = next(iter(jax_workload._build_numpy_queue(None, 'validation', DATA_DIR, 48)))  # pylint: disable=protected-access
  jax_batch = {k: jnp.asarray(v) for k, v in batch.items()}
  torch_batch = {k: torch.from_numpy(v) for k, v in batch.items()}
  jax_totals = jax_workload._eval_batch(params, jax_batch, None, None)  # pylint: disable=protected-access
  torch_totals = torch_workload._eval_batch(model, torch_batch, None, None)  # pylint: disable=protected-access
  assert set(jax_totals) == set(torch_totals) == {'loss', 'accuracy', 'denominator', *bleu.STAT_KEYS}
  for key, value in jax_totals.items():
    np.testing.assert_allclose(value, torch_totals[key], rtol=1e-4, err_msg=key)
  assert jax_totals['bleu_hyp_len'] > 0  # Beam search output of the 32 real rows (16 are padding) was scored.
  totals = {k: float(v) for k, v in jax_totals.items()}
  metrics = jax_workload._normalize_eval_metrics(32, totals)  # pylint: disable=protected-access
  assert set(metrics) == {'loss', 'accuracy', 'bleu'}
  assert metrics['loss'] > 3.0 and metrics['accuracy'] < 0.2  # Untrained: about log(400) = 6 per token.
  np.testing.assert_array_equal(jax_workload.predict(params, jax_batch['inputs'][:8]),
                                torch_workload.predict(model, torch_batch['inputs'][:8]))
