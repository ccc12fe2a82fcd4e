"""Beam-search caches: the reorder against a row-by-row reference, and cached decoding steps (reordered
between steps as beam search does) against the full teacher-forced decoder."""
import jax.numpy as jnp
import numpy as np
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
