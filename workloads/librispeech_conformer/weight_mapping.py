"""The PyTorch Conformer's weights as the Flax Conformer's params and batch_stats (twin-parity tests)."""
from typing import Dict, Tuple

from workloads.librispeech_common import weight_mapping as wm


def torch_to_flax(state: wm.State, num_layers: int, post_layer_norm: bool = True) -> Tuple[Dict, Dict]:
  params = {'Subsample_0': wm.subsample(state, 'subsample'), 'LayerNorm_0': wm.norm(state, 'ln'),
            'Dense_0': wm.dense(state, 'lin')}
  stats = {}
  for i in range(num_layers):
    p = f'conformers.{i}'
    ff = lambda name: {'LayerNorm_0': wm.norm(state, f'{p}.{name}.ln'),
                       'Dense_0': wm.dense(state, f'{p}.{name}.linear1'),
                       'Dense_1': wm.dense(state, f'{p}.{name}.linear2')}
    qkv_w = state[f'{p}.mhsa.self_attention.in_proj.weight']
    qkv_b = state[f'{p}.mhsa.self_attention.in_proj.bias']
    dim = qkv_w.shape[1]
    attention = {'LayerNorm_0': wm.norm(state, f'{p}.mhsa.ln'),
                 'QueryScaler_0': {'scale': state[f'{p}.mhsa.self_attention.qs.scale']},
                 'out': wm.dense(state, f'{p}.mhsa.self_attention.out_proj')}
    for j, name in enumerate(('query', 'key', 'value')):
      attention[name] = {'kernel': qkv_w[j * dim:(j + 1) * dim].T, 'bias': qkv_b[j * dim:(j + 1) * dim]}
    conv = {'LayerNorm_0': wm.norm(state, f'{p}.conv.ln'), 'Dense_0': wm.dense(state, f'{p}.conv.lin1'),
            'Dense_1': wm.dense(state, f'{p}.conv.lin2'), 'Dense_2': wm.dense(state, f'{p}.conv.lin3'),
            'depthwise_conv': {'kernel': state[f'{p}.conv.conv1.weight'].transpose(2, 1, 0)},
            'BatchNorm_0': wm.norm(state, f'{p}.conv.bn')}
    block = {'FeedForwardModule_0': ff('ff1'), 'MultiHeadedSelfAttention_0': attention, 'ConvolutionBlock_0': conv,
             'FeedForwardModule_1': ff('ff2')}
    if post_layer_norm:
      block['LayerNorm_0'] = wm.norm(state, f'{p}.ln')
    params[f'ConformerBlock_{i}'] = block
    stats[f'ConformerBlock_{i}'] = {'ConvolutionBlock_0': {'BatchNorm_0': wm.batch_stats(state, f'{p}.conv.bn')}}
  return params, {'batch_stats': stats}
