"""Helpers for the submissions' tests: load a folder, train it on MNIST smoke in either framework from the
same weights and batches, draw search-space points. Not used by submissions themselves."""
import contextlib
import glob
import json
import os
from typing import Dict, List, Optional

import numpy as np

from algoperf import submission_loader
from algoperf import tuning

SUBMISSIONS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(SUBMISSIONS)
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
FILES = {'jax': 'jax_submission.py', 'pytorch': 'pytorch_submission.py'}


def folders() -> List[str]:
  """Every submission folder, as '<ruleset>_tuning/<name>'."""
  found = []
  for path in sorted(glob.glob(os.path.join(SUBMISSIONS, '*_tuning', '*'))):
    if os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in FILES.values()):
      found.append(os.path.relpath(path, SUBMISSIONS))
  return found


def load(folder: str, framework: str):
  return submission_loader.load_submission(os.path.join(SUBMISSIONS, folder, FILES[framework]))


def search_space(folder: str):
  with open(os.path.join(SUBMISSIONS, folder, 'tuning_search_space.json')) as f:
    return json.load(f)


def point(folder: str, index: int = 0, **overrides):
  """Point `index` of a feasible-points search space (None for a self-tuning folder), with overrides."""
  if folder.startswith('self_tuning'):
    return None
  space = search_space(folder)
  chosen = dict(space[index] if isinstance(space, list) else tuning.trials_for_run(space, index + 1, 0)[index])
  chosen.update(overrides)
  return tuning.to_hyperparameters(chosen)


@contextlib.contextmanager
def kernels(on: bool):
  """ALGOPERF_KERNELS=on/off inside the block (read when an optimizer is built)."""
  old = os.environ.get('ALGOPERF_KERNELS')
  os.environ['ALGOPERF_KERNELS'] = 'on' if on else 'off'
  try:
    yield
  finally:
    if old is None:
      del os.environ['ALGOPERF_KERNELS']
    else:
      os.environ['ALGOPERF_KERNELS'] = old


def workload(framework: str, step_hint: Optional[int] = None):
  from workloads import registry  # pylint: disable=import-outside-toplevel
  w = registry.import_workload('mnist', framework, scale='smoke')
  if step_hint is not None:
    # A short horizon so that warmup and decay both happen within a test's few steps.
    w.__class__ = type('ShortHorizon' + type(w).__name__, (type(w),), {'step_hint': step_hint})
  return w


def batches(n: int, batch_size: int = 16) -> List[Dict[str, np.ndarray]]:
  w = workload('jax')
  queue = w._build_numpy_queue(np.array([0, 1], np.uint32), 'train', DATA_DIR, batch_size)  # pylint: disable=protected-access
  return [next(queue) for _ in range(n)]


def initial_weights(framework: str, w):
  """Initialises workload `w`; PyTorch models get the JAX model's weights (seed 0), so both start equal."""
  import jax  # pylint: disable=import-outside-toplevel
  from algoperf import random_utils as prng  # pylint: disable=import-outside-toplevel
  from workloads.mnist import twins  # pylint: disable=import-outside-toplevel
  prng.set_framework('jax')
  params, _ = (w if framework == 'jax' else workload('jax')).init_model_fn(jax.random.PRNGKey(0))
  if framework == 'jax':
    return params
  prng.set_framework('pytorch')
  model, _ = w.init_model_fn(prng.PRNGKey(0))
  twins.copy_jax_params_to_torch(params, model)
  return model


def train(framework: str, submission, hyperparameters, steps: int, step_hint: Optional[int] = None):
  """Trains from the shared initial weights on the smoke batches; returns (losses, weights).

  losses[i] is the mean loss on batch i before update i (a separate eval-mode forward pass); weights are
  numpy arrays in the JAX layout. Raises what the submission raises (e.g. TrainingCompleteError)."""
  import jax  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  from algoperf import spec  # pylint: disable=import-outside-toplevel
  w = workload(framework, step_hint)
  current = initial_weights(framework, w)
  state = submission.init_optimizer_state(w, current, None, hyperparameters, jax.random.PRNGKey(1))
  losses = []
  for i, batch in enumerate(batches(steps)):
    if framework == 'jax':
      b = {k: jax.numpy.asarray(v) for k, v in batch.items()}
    else:
      b = {k: torch.from_numpy(v) for k, v in batch.items()}
    logits, _ = w.model_fn(current, b, None, spec.ForwardPassMode.EVAL, None, False)
    loss = w.loss_fn(b['targets'], logits, b['weights'])
    losses.append(float(loss['summed'] / loss['n_valid_examples']))
    rng = jax.random.PRNGKey(i) if framework == 'jax' else None
    state, current, _ = submission.update_params(w, current, None, None, hyperparameters, b, None, state, [], i,
                                                 rng)
  if framework == 'jax':
    weights = [np.asarray(x) for x in jax.tree.leaves(current)]
  else:
    weights = [p.detach().numpy().copy() for p in current.parameters()]
  return np.array(losses), weights
