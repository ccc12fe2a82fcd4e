"""Parameter counts and shapes of a workload's model without allocating it (full-scale models are large).

JAX: `jax.eval_shape` of `init_model_fn`. PyTorch: `init_model_fn` under `torch.device('meta')`.
Counts follow spec/variants.md: JAX counts the leaves of `params`; PyTorch counts `parameters()`
(a shared tensor once).
"""
from typing import Dict, Tuple

import numpy as np


def jax_param_shapes(workload) -> Dict[str, Tuple[int, ...]]:
  import jax  # pylint: disable=import-outside-toplevel
  params, _ = jax.eval_shape(workload.init_model_fn, jax.random.PRNGKey(0))
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  return {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in flat}


def pytorch_param_shapes(workload) -> Dict[str, Tuple[int, ...]]:
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  prng.set_framework('pytorch')
  with torch.device('meta'):
    model, _ = workload.init_model_fn(prng.PRNGKey(0))
  return {name: tuple(p.shape) for name, p in model.named_parameters()}


def count(shapes: Dict[str, Tuple[int, ...]]) -> Tuple[int, int]:
  """(number of parameters, number of tensors)."""
  return int(sum(int(np.prod(s)) for s in shapes.values())), len(shapes)


def param_shapes(workload, framework: str) -> Dict[str, Tuple[int, ...]]:
  return jax_param_shapes(workload) if framework == 'jax' else pytorch_param_shapes(workload)
