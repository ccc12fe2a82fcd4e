"""PyTorch ViT weights -> the Flax twin's params (for the parity tests and conversions).

Linear weights are transposed; attention projections take Flax's per-head shapes: query/key/value kernels
(width, heads, head_dim), the output kernel (heads, head_dim, width). The MAP head's fused key-value Linear
splits into Flax's key and value.
"""
from typing import Dict

import numpy as np


def _state(model) -> Dict[str, np.ndarray]:
  model = getattr(model, 'module', model)  # DDP
  return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def torch_to_flax(model, num_heads: int) -> Dict:
  """params for workloads.imagenet_vit.jax.models.ViT."""
  state = _state(model)

  def dense(name):
    return {'kernel': state[name + '.weight'].T, 'bias': state[name + '.bias']}

  def norm(name):
    return {'scale': state[name + '.weight'], 'bias': state[name + '.bias']}

  def projection(weight, bias):
    width = weight.shape[1]
    return {'kernel': weight.T.reshape(width, num_heads, -1), 'bias': bias.reshape(num_heads, -1)}

  def attention(name):
    if name + '.kv.weight' in state:
      key_w, value_w = np.split(state[name + '.kv.weight'], 2)
      key_b, value_b = np.split(state[name + '.kv.bias'], 2)
    else:
      key_w, value_w = state[name + '.key.weight'], state[name + '.value.weight']
      key_b, value_b = state[name + '.key.bias'], state[name + '.value.bias']
    out_w = state[name + '.out.weight']
    return {
        'query': projection(state[name + '.query.weight'], state[name + '.query.bias']),
        'key': projection(key_w, key_b),
        'value': projection(value_w, value_b),
        'out': {'kernel': out_w.T.reshape(num_heads, -1, out_w.shape[0]), 'bias': state[name + '.out.bias']},
    }

  def mlp(name):
    layers = [name + '.linear1'] + ([name + '.glu_linear'] if name + '.glu_linear.weight' in state else [])
    layers.append(name + '.linear2')
    return {f'Dense_{i}': dense(layer) for i, layer in enumerate(layers)}

  patch = state['conv_patch_extract.weight']
  params = {'conv_patch_extract': {'kernel': patch.transpose(2, 3, 1, 0), 'bias': state['conv_patch_extract.bias']}}
  transformer = {}
  depth = len({k.split('.')[2] for k in state if k.startswith('encoder.blocks.')})
  for i in range(depth):
    prefix = f'encoder.blocks.{i}'
    transformer[f'encoderblock_{i}'] = {
        'LayerNorm_0': norm(prefix + '.layer_norm0'),
        'MultiHeadDotProductAttention_1': attention(prefix + '.self_attention'),
        'LayerNorm_2': norm(prefix + '.layer_norm2'),
        'MlpBlock_3': mlp(prefix + '.mlp3'),
    }
  if 'encoder.encoder_layernorm.weight' in state:
    transformer['encoder_layernorm'] = norm('encoder.encoder_layernorm')
  params['Transformer'] = transformer
  if 'map_head.probe' in state:
    params['MAPHead_0'] = {
        'probe': state['map_head.probe'],
        'MultiHeadDotProductAttention_0': attention('map_head.attention'),
        'LayerNorm_0': norm('map_head.layer_norm'),
        'MlpBlock_0': mlp('map_head.mlp'),
    }
  params['pre_logits'] = dense('pre_logits')
  params['head'] = dense('head')
  return params
