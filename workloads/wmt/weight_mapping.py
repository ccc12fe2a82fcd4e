"""PyTorch -> Flax weights for the WMT Transformer (parity tests, and porting checkpoints).

Linear weights are (out, in), Flax kernels (in, out); attention kernels are split per head: query/key/value
(d, heads, head_dim), out (heads, head_dim, d). The fused `in_proj` stacks [query; key; value] and
`kv_proj` stacks [key; value].
"""
from typing import Dict

import numpy as np

from workloads.wmt.model_config import TransformerConfig


def _attention(state: Dict[str, np.ndarray], prefix: str, cfg: TransformerConfig) -> Dict:
  heads, head_dim = cfg.num_heads, cfg.qkv_dim // cfg.num_heads

  def per_head(weight):
    return weight.T.reshape(cfg.emb_dim, heads, head_dim)

  if f'{prefix}.in_proj.weight' in state:
    query, key, value = np.split(state[f'{prefix}.in_proj.weight'], 3, axis=0)
  else:
    query = state[f'{prefix}.q_proj.weight']
    key, value = np.split(state[f'{prefix}.kv_proj.weight'], 2, axis=0)
  return {
      'query': {'kernel': per_head(query)},
      'key': {'kernel': per_head(key)},
      'value': {'kernel': per_head(value)},
      'out': {'kernel': state[f'{prefix}.out_proj.weight'].T.reshape(heads, head_dim, cfg.emb_dim)},
  }


def _dense(state: Dict[str, np.ndarray], prefix: str) -> Dict:
  return {'kernel': state[f'{prefix}.weight'].T, 'bias': state[f'{prefix}.bias']}


def _norm(state: Dict[str, np.ndarray], prefix: str) -> Dict:
  return {'scale': state[f'{prefix}.weight'], 'bias': state[f'{prefix}.bias']}


def _mlp(state: Dict[str, np.ndarray], prefix: str, cfg: TransformerConfig) -> Dict:
  names = ['linear1', 'linear_glu', 'linear2'] if cfg.glu else ['linear1', 'linear2']
  return {f'Dense_{i}': _dense(state, f'{prefix}.{name}') for i, name in enumerate(names)}


def torch_to_flax(state: Dict[str, np.ndarray], cfg: TransformerConfig) -> Dict:
  """`{name: array}` of the PyTorch model (state_dict as numpy) -> the Flax `params` tree."""
  state = {k[len('module.'):] if k.startswith('module.') else k: np.asarray(v) for k, v in state.items()}
  encoder, decoder = {}, {}
  for i in range(cfg.num_layers):
    p = f'encoder.layers.{i}'
    encoder[f'encoderblock_{i}'] = {
        'LayerNorm_0': _norm(state, f'{p}.norm1'), 'LayerNorm_1': _norm(state, f'{p}.norm2'),
        'MultiHeadDotProductAttention_0': _attention(state, f'{p}.self_attn', cfg),
        'MlpBlock_0': _mlp(state, p, cfg)}
    p = f'decoder.layers.{i}'
    decoder[f'encoderdecoderblock_{i}'] = {
        'LayerNorm_0': _norm(state, f'{p}.norm1'), 'LayerNorm_1': _norm(state, f'{p}.norm2'),
        'LayerNorm_2': _norm(state, f'{p}.norm3'),
        'MultiHeadDotProductAttention_0': _attention(state, f'{p}.self_attn', cfg),
        'MultiHeadDotProductAttention_1': _attention(state, f'{p}.multihead_attn', cfg),
        'MlpBlock_0': _mlp(state, p, cfg)}
  if cfg.pre_ln:
    encoder['encoder_layernorm'] = _norm(state, 'encoder.norm')
    decoder['encoderdecoder_layernorm'] = _norm(state, 'decoder.norm')
  return {'shared_embedding': {'embedding': state['shared_embedding.weight']}, 'encoder': encoder,
          'decoder': decoder}
