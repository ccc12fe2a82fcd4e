"""Helpers the LibriSpeech tests share: the smoke fixture, twin parity on mapped weights, runner runs.

Tests set XLA_FLAGS (see BUILD) for fast, unoptimised CPU compiles; results do not depend on it.
"""
import csv
import functools
import os
from typing import Callable, Dict, List, Tuple

import numpy as np

BASELINE = os.path.join(os.path.dirname(__file__), '..', '..', 'submissions', 'external_tuning', 'nadamw_baseline')


def smoke_data_dir() -> str:
  """The genrule fixture (or $LIBRISPEECH_SMOKE_DATA_DIR, for runs outside Bazel)."""
  return os.environ.get('LIBRISPEECH_SMOKE_DATA_DIR') or os.path.join(os.path.dirname(__file__), 'smoke')


def randomize_torch_model(model, seed: int = 1, scale: float = 0.1) -> None:
  """Perturbs every parameter and batch-norm statistic, so the mapping of each one matters."""
  import torch  # pylint: disable=import-outside-toplevel
  generator = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for parameter in model.parameters():
      parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    for name, buffer in model.named_buffers():
      if name.endswith('running_mean'):
        buffer.copy_(scale * torch.randn(buffer.shape, generator=generator))
      elif name.endswith('running_var'):
        buffer.copy_(1.0 + 2 * scale * torch.rand(buffer.shape, generator=generator))


def smoke_batch(workload, batch_size: int = 4) -> Dict[str, np.ndarray]:
  seed = np.array([0, 3], np.uint32)
  return next(workload._build_numpy_queue(seed, 'train', smoke_data_dir(), batch_size))  # pylint: disable=protected-access


def twin_outputs(key: str, to_flax: Callable, modes=('eval',),
                 **kwargs) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """[(JAX logits, PyTorch logits, valid-frame mask)] per mode, the JAX model on the PyTorch weights.

  No JAX init is compiled: the mapped weights must have exactly the shapes of the Flax model's params
  (from jax.eval_shape). SpecAugment and dropout are off, so train mode differs only by batch norm.
  """
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from algoperf import spec  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  from workloads.librispeech_common import weight_mapping  # pylint: disable=import-outside-toplevel
  from workloads.librispeech_common.workload import group_batch  # pylint: disable=import-outside-toplevel

  jax_workload = registry.import_workload(key, 'jax', scale='smoke', use_specaug=False, **kwargs)
  torch_workload = registry.import_workload(key, 'pytorch', scale='smoke', use_specaug=False, **kwargs)
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  randomize_torch_model(model)
  params, model_state = to_flax(weight_mapping.state_of(model), jax_workload.model_config())
  expected, _ = jax.eval_shape(jax_workload.init_model_fn, jax.random.PRNGKey(0))
  shapes = lambda tree: jax.tree_util.tree_map(lambda x: tuple(np.shape(x)), tree)
  assert shapes(dict(expected)) == shapes(params), 'the mapped weights do not have the Flax shapes'
  params = jax.tree_util.tree_map(jnp.asarray, params)
  model_state = jax.tree_util.tree_map(jnp.asarray, model_state)
  batch = smoke_batch(jax_workload)
  jax_batch = group_batch({k: jnp.asarray(v) for k, v in batch.items()})
  torch_batch = group_batch({k: torch.from_numpy(v) for k, v in batch.items()})
  out = []
  for mode_name in modes:
    mode = spec.ForwardPassMode.TRAIN if mode_name == 'train' else spec.ForwardPassMode.EVAL
    forward = jax.jit(functools.partial(jax_workload.model_fn, mode=mode, rng=jax.random.PRNGKey(0),
                                        update_batch_norm=False, dropout_rate=0.0))
    (jax_logits, jax_paddings), _ = forward(params, jax_batch, model_state)
    (torch_logits, torch_paddings), _ = torch_workload.model_fn(model, torch_batch, None, mode, None, False,
                                                                dropout_rate=0.0)
    np.testing.assert_array_equal(np.asarray(jax_paddings), torch_paddings.detach().numpy())
    out.append((np.asarray(jax_logits), torch_logits.detach().numpy(), 1.0 - np.asarray(jax_paddings)))
  return out


def assert_close_on_valid_frames(jax_logits, torch_logits, valid, rtol: float = 1e-4) -> float:
  """Max |difference| over valid frames, relative to the largest |logit| there; asserts it is < rtol."""
  mask = valid[..., None] > 0
  scale = np.abs(np.where(mask, torch_logits, 0.0)).max()
  error = np.abs(np.where(mask, jax_logits - torch_logits, 0.0)).max() / scale
  assert error < rtol, f'relative difference {error:.2e} >= {rtol}'
  return float(error)


def run_runner(key: str, framework: str, log_dir: str, steps: int) -> List[Dict[str, str]]:
  """The real runner with the NAdamW baseline for `steps` steps at smoke scale; eval_measurements.csv rows."""
  try:
    from algoperf.runner import score_submission_on_workload  # pylint: disable=import-outside-toplevel
  except ImportError:  # The layout before algoperf/runner.py.
    from algoperf.submission_runner import score_submission_on_workload  # pylint: disable=import-outside-toplevel
  results = score_submission_on_workload(
      os.path.join(BASELINE, f'{framework}_submission.py'), key, framework, 'external',
      os.path.join(BASELINE, 'tuning_search_space.json'), 1, smoke_data_dir(), log_dir, 0, 'smoke', 'v0.6',
      max_global_steps=steps, save_checkpoints=False)
  assert len(results) == 1 and results[0].status == 'completed', results
  with open(os.path.join(log_dir, 'trial_1', 'eval_measurements.csv')) as f:
    return list(csv.DictReader(f))


def torch_variant_difference(base_key: str, variant_key: str) -> float:
  """Max |logit difference| between a base model and its variant on the same weights (eval mode)."""
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from algoperf import spec  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel
  from workloads.librispeech_common.workload import group_batch  # pylint: disable=import-outside-toplevel
  prng.set_framework('pytorch')
  outputs = []
  state = None
  for key in (base_key, variant_key):
    workload = registry.import_workload(key, 'pytorch', scale='smoke')
    model, _ = workload.init_model_fn(prng.PRNGKey(0))
    if state is None:
      randomize_torch_model(model)
      state = model.state_dict()
    else:
      model.load_state_dict(state, strict=False)  # The weights both have; a variant may add or drop a norm.
    batch = group_batch({k: torch.from_numpy(v) for k, v in smoke_batch(workload).items()})
    (logits, _), _ = workload.model_fn(model, batch, None, spec.ForwardPassMode.EVAL, None, False)
    outputs.append(logits.numpy())
  return float(np.abs(outputs[0] - outputs[1]).max())
