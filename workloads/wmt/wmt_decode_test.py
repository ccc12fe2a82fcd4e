"""Beam-search caches: the reorder against a row-by-row reference, and cached decoding steps (reordered
between steps as beam search does) against the full teacher-forced decoder, and whole beam searches of the
fast decoders (encoder keys/values projected once per example) against a teacher-forced reference."""
import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from workloads.wmt import wmt_fixtures
from workloads.wmt.jax import decode as jax_decode
from workloads.wmt.model_config import TransformerConfig
from workloads.wmt.pytorch import decode as torch_decode
from workloads.wmt.pytorch.models import Transformer

wmt_fixtures.one_thread()


def _source_rows(beam_indices: np.ndarray) -> np.ndarray:
  """Row b*K + k after a reorder is row b*K + beam_indices[b, k] before it."""
  batch, beams = beam_indices.shape
  return np.array([b * beams + beam_indices[b, k] for b in range(batch) for k in range(beams)])


def test_gather_cache_matches_row_by_row_reference():
  rs = np.random.RandomState(0)
  batch, beams = 3, 4
  beam_indices = rs.randint(0, beams, size=(batch, beams))
  key = rs.normal(size=(batch * beams, 2, 5, 3)).astype(np.float32)
  value = rs.normal(size=(batch * beams, 2, 3, 5)).astype(np.float32)
  rows = _source_rows(beam_indices)

  shared = torch.from_numpy(key.copy())
  torch_cache = {'layers': [{'key': torch.from_numpy(key.copy()), 'value': torch.from_numpy(value.copy())},
                            {'key': shared, 'value': shared}]}  # One buffer under both names.
  torch_decode.gather_cache(torch_cache, torch.from_numpy(beam_indices))
  for layer, expected_value in zip(torch_cache['layers'], (value[rows], key[rows])):
    np.testing.assert_array_equal(layer['key'].numpy(), key[rows])
    np.testing.assert_array_equal(layer['value'].numpy(), expected_value)

  jax_cache = {'cached_key': jnp.asarray(key), 'cached_value': jnp.asarray(value), 'cache_index': jnp.array(3)}
  jax_cache = jax_decode.gather_cache(jax_cache, jnp.asarray(beam_indices))
  np.testing.assert_array_equal(np.asarray(jax_cache['cached_key']), key[rows])
  np.testing.assert_array_equal(np.asarray(jax_cache['cached_value']), value[rows])
  assert int(jax_cache['cache_index']) == 3


def test_cached_decoding_with_beam_reorders_matches_full_decoder():
  torch.manual_seed(0)
  rs = np.random.RandomState(0)
  config = TransformerConfig(vocab_size=50, emb_dim=16, num_heads=2, qkv_dim=16, mlp_dim=32, num_layers=2,
                             max_len=8)
  model = Transformer(config).eval()
  batch, beams, length = 2, 3, config.max_len
  inputs = torch.from_numpy(rs.randint(2, config.vocab_size, size=(batch, 6)))
  inputs[0, 4:] = 0  # Padding, masked in the cross-attention.
  beam_inputs = inputs.repeat_interleave(beams, dim=0)
  with torch.no_grad():
    encoded = model.encode(beam_inputs)
    cache = model.init_cache(encoded, beam_inputs, length)
    history = torch.zeros((batch * beams, 1), dtype=torch.long)  # Decoder inputs so far, from token 0.
    step_logits = []
    for _ in range(length):
      step_logits.append(model.decode_step(history[:, -1:], cache))
      beam_indices = rs.randint(0, beams, size=(batch, beams))
      torch_decode.gather_cache(cache, torch.from_numpy(beam_indices))
      rows = torch.from_numpy(_source_rows(beam_indices))
      next_ids = torch.from_numpy(rs.randint(2, config.vocab_size, size=(batch * beams, 1)))  # No padding.
      history = torch.cat([history[rows], next_ids], dim=1)
      step_logits = [logits[rows] for logits in step_logits]
    full = model.decode(encoded, beam_inputs, history[:, 1:])  # Teacher-forced on each row's final history.
  torch.testing.assert_close(torch.stack(step_logits, dim=1), full, rtol=1e-4, atol=1e-5)


# Fast beam search (cross-attention keys/values once per example) against a teacher-forced reference ------

_SMALL = TransformerConfig(vocab_size=40, emb_dim=16, num_heads=2, qkv_dim=16, mlp_dim=32, num_layers=2, max_len=10)
_FILL = 2  # Stands for the not yet decoded tokens: nonzero, so the reference's padding masks stay open.


def _source(batch: int) -> np.ndarray:
  inputs = np.random.RandomState(5).randint(2, _SMALL.vocab_size, size=(batch, 7))
  inputs[0, 4:] = 0  # Padding, masked in the cross-attention.
  return inputs


def _no_pad(logits):
  """Forbids token 0 in both paths, so that no decoded prefix holds padding the reference would mask."""
  return logits.at[:, 0].set(-1e9) if hasattr(logits, 'at') else logits.index_fill(1, torch.tensor([0]), -1e9)


def _jax_fast_and_reference(config: TransformerConfig, batch: int):
  import jax  # pylint: disable=import-outside-toplevel
  from workloads.wmt.jax import models  # pylint: disable=import-outside-toplevel
  beams, length = 4, config.max_len
  inputs = jnp.asarray(_source(batch))
  model, decoder = models.Transformer(config, dropout_rate=0.0), models.Transformer(config, 0.0, decode=True)
  params = model.init(jax.random.PRNGKey(1), inputs, inputs)['params']
  encoded = model.apply({'params': params}, inputs, method=models.Transformer.encode)
  memory = models.cross_attention_memory(params, encoded, config)
  targets = jnp.zeros((batch * beams, length), jnp.int32)
  cache = decoder.init(jax.random.PRNGKey(0), memory, inputs, targets, method=models.Transformer.decode_targets)
  cache = jax.tree.map(jnp.zeros_like, cache['cache'])

  def fast_step(ids, cache):
    logits, variables = decoder.apply({'params': params, 'cache': cache}, memory, inputs, ids,
                                      method=models.Transformer.decode_targets, mutable=['cache'])
    return _no_pad(logits[:, 0]), variables['cache']

  beam_inputs = jnp.repeat(inputs, beams, axis=0)

  def reference_step(ids, cache):  # The whole decoder on every beam's prefix, as in training.
    history = cache['history'].at[:, cache['i']].set(ids[:, 0])  # Decoder inputs, from the start token 0.
    logits = model.apply({'params': params}, beam_inputs, history[:, 1:])  # Shifted right: `history`.
    return _no_pad(logits[:, cache['i']]), {'history': history, 'i': cache['i'] + 1}

  history = jnp.full((batch * beams, length + 1), _FILL, jnp.int32)
  fast = jax.jit(lambda: jax_decode.beam_search(fast_step, cache, batch, length, beams))()
  reference = jax.jit(lambda: jax_decode.beam_search(reference_step, {'history': history, 'i': jnp.array(0)},
                                                     batch, length, beams))()
  return np.asarray(fast), np.asarray(reference)


def _torch_fast_and_reference(config: TransformerConfig, batch: int):
  beams, length = 4, config.max_len
  torch.manual_seed(1)
  model = Transformer(config).eval()
  inputs = torch.from_numpy(_source(batch))
  beam_inputs = inputs.repeat_interleave(beams, dim=0)
  with torch.no_grad():
    cache = model.init_cache(model.encode(inputs), inputs, length, beams)
    fast = torch_decode.beam_search(lambda ids, c: _no_pad(model.decode_step(ids, c)), cache, batch, length, beams)
    encoded = model.encode(beam_inputs)

  def reference_step(ids, cache):  # The whole decoder on every beam's prefix; gather_cache reorders the rows.
    layer = cache['layers'][0]
    layer['key'][:, layer['index']] = ids[:, 0]
    history = layer['key']
    logits = model.decode(encoded, beam_inputs, history[:, 1:])[:, layer['index']]
    layer['index'] += 1
    layer['value'] = layer['key']
    return _no_pad(logits)

  history = torch.full((batch * beams, length + 1), _FILL, dtype=torch.long)
  reference = torch_decode.beam_search(reference_step, {'layers': [{'key': history, 'value': history, 'index': 0}]},
                                       batch, length, beams)
  return fast.numpy(), reference.numpy()


@pytest.mark.parametrize('variant', [{}, {'pre_ln': False}, {'attention_temp': 4.0}])
def test_fast_beam_search_matches_teacher_forced_reference(variant):
  config = dataclasses.replace(_SMALL, **variant)
  for fast, reference in (_jax_fast_and_reference(config, 3), _torch_fast_and_reference(config, 3)):
    np.testing.assert_array_equal(fast, reference)
    assert fast.shape == (3, config.max_len) and (fast > 0).any()
