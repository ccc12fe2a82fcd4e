"""Parameter types inferred from parameter names, for JAX trees and PyTorch modules.

Submissions may treat parameter kinds differently (no weight decay on norms, say); the kind comes from the
name, as upstream does: 'bn'/'batchnorm' is batch norm, 'norm'/'ln' layer norm, 'conv' a conv kernel,
'embed' an embedding, attention projections by their q/k/v/out names.
"""
import re
from typing import Any, Dict, Tuple

from algoperf import spec

_ATTENTION_WEIGHTS = (
    ('query', spec.ParameterType.ATTENTION_Q),
    ('key', spec.ParameterType.ATTENTION_K),
    ('value', spec.ParameterType.ATTENTION_V),
    ('out', spec.ParameterType.ATTENTION_OUT),
)


def _tokens(path: Tuple[str, ...]):
  """Lower-case name pieces: 'BatchNorm_0/scale' -> ['batchnorm', '0', 'scale']."""
  return [t for part in path for t in re.split(r'[/._]', part.lower()) if t]


def param_type_from_path(path: Tuple[str, ...]) -> spec.ParameterType:
  """The type of one parameter from its path of names, e.g. ('Conv_0', 'kernel')."""
  tokens = _tokens(path)
  is_bias = tokens[-1] in ('bias', 'b')
  if any('batchnorm' in t or t.startswith('bn') for t in tokens):
    return spec.ParameterType.BATCH_NORM_BIAS if is_bias else spec.ParameterType.BATCH_NORM_SCALE
  if any('norm' in t or t.startswith('ln') for t in tokens):
    return spec.ParameterType.LAYER_NORM_BIAS if is_bias else spec.ParameterType.LAYER_NORM_SCALE
  if any('embed' in t for t in tokens):
    return spec.ParameterType.EMBEDDING
  if any('attention' in t or t in ('attn', 'self', 'mha') for t in tokens):
    if 'in' in tokens and 'proj' in tokens:
      return spec.ParameterType.ATTENTION_BIAS if is_bias else spec.ParameterType.ATTENTION_QKV
    if 'kv' in tokens:
      return spec.ParameterType.ATTENTION_BIAS if is_bias else spec.ParameterType.ATTENTION_KV
    for name, kind in _ATTENTION_WEIGHTS:
      if name in tokens:
        return spec.ParameterType.ATTENTION_BIAS if is_bias else kind
  if any('conv' in t for t in tokens) and not is_bias:
    return spec.ParameterType.CONV_WEIGHT
  return spec.ParameterType.BIAS if is_bias else spec.ParameterType.WEIGHT


def jax_param_types(param_shapes: Dict[str, Any], parent: Tuple[str, ...] = ()) -> Dict[str, Any]:
  """Maps a nested dict of shapes (or arrays) to the same nesting of ParameterType leaves."""
  types = {}
  for name, value in param_shapes.items():
    path = parent + (str(name),)
    if hasattr(value, 'items'):
      types[name] = jax_param_types(dict(value), path)
    else:
      types[name] = param_type_from_path(path)
  return types


def pytorch_param_types(named_params: Dict[str, Any]) -> Dict[str, spec.ParameterType]:
  """Maps `dict(model.named_parameters())` to ParameterType per dotted name."""
  return {name: param_type_from_path(tuple(name.split('.'))) for name in named_params}
