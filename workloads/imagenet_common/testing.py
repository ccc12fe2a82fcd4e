"""Test helpers the ImageNet ResNet and ViT tests share: twins on mapped weights, NAdamW steps, the runner."""
import csv
import functools
import json
import math
import os
import tempfile
from typing import Callable, Dict, List, Tuple

import numpy as np

from algoperf import random_utils as prng
from algoperf import spec
from algoperf import submission_loader
from workloads import registry
from workloads.imagenet_common import smoke_fixture

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
BASELINE = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline')
with open(os.path.join(BASELINE, 'tuning_search_space.json')) as _f:
  # The runner's first trial uses the first point: the same hyperparameters compile to the same train step.
  HPARAMS = json.load(_f)[0]


def share_jax_compilations() -> None:
  """A per-process persistent compilation cache: the tests build the same smoke models, train steps and eval
  steps in several workload instances, and XLA on two busy CPU cores compiles each in tens of seconds."""
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update('jax_compilation_cache_dir', tempfile.mkdtemp(prefix='imagenet_jax_cache_'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)


def randomize_torch(model, seed: int = 0, scale: float = 0.2) -> None:
  """Random values in every float parameter and buffer, so zero-initialised heads and BN scales still
  make the twins' outputs depend on every weight (running variances stay positive)."""
  import torch  # pylint: disable=import-outside-toplevel
  generator = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
      if tensor.dtype.is_floating_point:
        value = torch.randn(tensor.shape, generator=generator) * scale
        if 'running_var' in name:
          value = value.abs() + 0.5
        tensor.copy_(value)


@functools.lru_cache(maxsize=None)
def twins(key: str, to_flax: Callable) -> Tuple:
  """(jax workload, torch workload, flax params, flax model_state, torch model) with mapped random weights."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  jax_workload = registry.import_workload(key, 'jax', scale='smoke')
  torch_workload = registry.import_workload(key, 'pytorch', scale='smoke')
  prng.set_framework('jax')
  # Shapes only (no compile): the mapped weights replace the values anyway.
  jax_params, jax_state = jax.eval_shape(jax_workload.init_model_fn, jax.random.PRNGKey(0))
  prng.set_framework('pytorch')
  model, _ = torch_workload.init_model_fn(prng.PRNGKey(0))
  randomize_torch(model)
  params, model_state = to_flax(torch_workload, model)
  # The mapping must fill exactly the tree the Flax model declares.
  assert jax.tree.structure(params) == jax.tree.structure(jax_params)
  for mapped, declared in zip(jax.tree.leaves(params), jax.tree.leaves(jax_params)):
    assert mapped.shape == declared.shape
  if jax_state is not None:
    assert jax.tree.structure(model_state) == jax.tree.structure(jax_state)
  as_jax = lambda tree: None if tree is None else jax.tree.map(jnp.asarray, tree)
  return jax_workload, torch_workload, as_jax(params), as_jax(model_state), model


def relative_error(actual, expected) -> float:
  actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
  return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-12))


def forward_pair(jax_workload, torch_workload, params, model_state, model, inputs: np.ndarray,
                 mode: spec.ForwardPassMode, update_batch_norm: bool = False):
  """Logits of both twins on the same NHWC batch (the PyTorch twin gets it as NCHW)."""
  import jax  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  forward = jax.jit(lambda p, s, x: jax_workload.model_fn(p, {'inputs': x}, s, mode, jax.random.PRNGKey(1),
                                                          update_batch_norm))
  jax_logits, jax_state = forward(params, model_state, jax.numpy.asarray(inputs))
  torch_inputs = torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 3, 1, 2)))
  torch_logits, _ = torch_workload.model_fn(model, {'inputs': torch_inputs}, None, mode, None, update_batch_norm)
  return np.asarray(jax_logits), torch_logits.detach().numpy(), jax_state


def train_loss(workload, params, model_state, batch) -> float:
  """The mean training-mode loss of a batch (running statistics untouched)."""

  def loss(params, model_state, batch):
    logits, _ = workload.model_fn(params, batch, model_state, spec.ForwardPassMode.TRAIN, prng.PRNGKey(9), False)
    return workload.loss_fn(batch['targets'], logits, batch['weights'])['summed'] / len(batch['weights'])

  if workload.framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    loss = jax.jit(loss)
    return float(loss(params, model_state, batch))
  return float(loss(params, model_state, batch).detach())


def nadamw_losses(key: str, framework: str, steps: int = 12) -> Tuple[float, float]:
  """The training loss of one smoke batch before and after `steps` NAdamW baseline steps on it."""
  submission = submission_loader.load_submission(os.path.join(BASELINE, f'{framework}_submission.py'))
  workload = registry.import_workload(key, framework, scale='smoke')
  prng.set_framework(framework)
  params, model_state = workload.init_model_fn(prng.PRNGKey(0))
  hparams = type('HParams', (), HPARAMS)()
  optimizer_state = submission.init_optimizer_state(workload, params, model_state, hparams, prng.PRNGKey(1))
  queue = workload._build_input_queue(prng.PRNGKey(2), 'train', smoke_fixture.data_dir(), 8)  # pylint: disable=protected-access
  batch = next(queue)
  before = train_loss(workload, params, model_state, batch)
  for step in range(steps):  # The same batch every step: the baseline must fit it.
    optimizer_state, params, model_state = submission.update_params(
        workload, params, workload.model_params_types, model_state, hparams, batch, workload.loss_type,
        optimizer_state, [], step, prng.PRNGKey(3 + step))
  after = train_loss(workload, params, model_state, batch)
  assert math.isfinite(before) and math.isfinite(after)
  return before, after


def run_runner(key: str, framework: str, log_dir: str, steps: int = 3) -> List[Dict[str, str]]:
  """Runs the real runner for `steps` steps at smoke scale; returns the rows of eval_measurements.csv."""
  try:
    from algoperf.runner import score_submission_on_workload  # pylint: disable=import-outside-toplevel
  except ImportError:  # Older layout.
    from algoperf.submission_runner import score_submission_on_workload  # pylint: disable=import-outside-toplevel
  results = score_submission_on_workload(
      os.path.join(BASELINE, f'{framework}_submission.py'), key, framework, 'external',
      os.path.join(BASELINE, 'tuning_search_space.json'), 1, smoke_fixture.data_dir(), log_dir, 0, 'smoke', 'v0.6',
      max_global_steps=steps, save_checkpoints=False)
  assert len(results) == 1 and results[0].status == 'completed', results
  assert results[0].global_step == steps
  with open(os.path.join(log_dir, 'trial_1', 'eval_measurements.csv')) as f:
    return list(csv.DictReader(f))
