"""The PyTorch DeepSpeech's weights as the Flax model's params and batch_stats (twin-parity tests).

The layouts agree by design: each LSTM direction's weight_ih/weight_hh are the transposed input and
recurrent kernels, bias_ih/bias_hh the input and recurrent biases, gates i, f, g, o in both.
"""
from typing import Dict, Tuple

from workloads.librispeech_common import weight_mapping as wm


def torch_to_flax(state: wm.State, num_lstm_layers: int, num_ffn_layers: int, layernorm_everywhere: bool = False,
                  decoder_layer_norm: bool = True) -> Tuple[Dict, Dict]:
  params = {'Subsample_0': wm.subsample(state, 'subsample'), 'Dense_0': wm.dense(state, 'lin')}
  if decoder_layer_norm:
    params['LayerNorm_0'] = wm.norm(state, 'ln')
  stats = {}

  def norm(prefix):
    if layernorm_everywhere:
      return {'LayerNorm_0': wm.norm(state, prefix + '.ln')}
    return {'BatchNorm_0': wm.norm(state, prefix + '.bn')}

  for i in range(num_lstm_layers):
    p = f'lstms.{i}'
    directions = {}
    for name, suffix in (('forward', ''), ('backward', '_reverse')):
      directions[name] = {
          'input_kernel': state[f'{p}.lstm.weight_ih_l0{suffix}'].T,
          'recurrent_kernel': state[f'{p}.lstm.weight_hh_l0{suffix}'].T,
          'input_bias': state[f'{p}.lstm.bias_ih_l0{suffix}'],
          'recurrent_bias': state[f'{p}.lstm.bias_hh_l0{suffix}'],
      }
    params[f'BatchRNN_{i}'] = {'norm': norm(p + '.norm'), 'BiLSTM_0': directions}
    if not layernorm_everywhere:
      stats[f'BatchRNN_{i}'] = {'norm': {'BatchNorm_0': wm.batch_stats(state, p + '.norm.bn')}}
  for i in range(num_ffn_layers):
    p = f'ffns.{i}'
    params[f'FeedForwardModule_{i}'] = {'norm': norm(p + '.norm'), 'Dense_0': wm.dense(state, p + '.lin')}
    if not layernorm_everywhere:
      stats[f'FeedForwardModule_{i}'] = {'norm': {'BatchNorm_0': wm.batch_stats(state, p + '.norm.bn')}}
  return params, ({'batch_stats': stats} if stats else {})
