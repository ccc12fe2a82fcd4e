"""JAX-vs-PyTorch parity of a submission on MNIST smoke: same initial weights (mapped), same batches.

Returns the mean loss, over each step's batch, of the weights the runner would evaluate after each
update_params call (after prepare_for_eval under v0.6), in both frameworks (tests/nadamw_parity_test.py's
pattern, for any submission folder and either rules version).
"""
import os

import jax
import numpy as np
import torch

from algoperf import random_utils as prng
from algoperf import spec
from algoperf import submission_loader
from workloads import registry
from workloads.mnist import twins

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))


def _loss(workload, params, batch) -> float:
  logits, _ = workload.model_fn(params, batch, None, spec.ForwardPassMode.EVAL, None, False)
  loss = workload.loss_fn(batch['targets'], logits, batch['weights'])
  return float(loss['summed'] / loss['n_valid_examples'])


def losses(folder: str, hyperparameters, rules: str, steps: int = 20, batches_per_call: int = 1):
  """(jax losses, torch losses). batches_per_call: how many batches one update_params call draws."""
  subs = {fw: submission_loader.load_submission(os.path.join(folder, f'{fw}_submission.py'))
          for fw in ('jax', 'pytorch')}
  workloads = {fw: registry.import_workload('mnist', fw, scale='smoke') for fw in ('jax', 'pytorch')}
  prng.set_framework('jax')
  params = {'jax': workloads['jax'].init_model_fn(jax.random.PRNGKey(0))[0]}
  prng.set_framework('pytorch')
  params['pytorch'] = workloads['pytorch'].init_model_fn(prng.PRNGKey(0))[0]
  twins.copy_jax_params_to_torch(params['jax'], params['pytorch'])
  states = {fw: subs[fw].init_optimizer_state(workloads[fw], params[fw], None, hyperparameters, None)
            for fw in subs}
  numpy_queue = workloads['jax']._build_numpy_queue(np.array([0, 1], np.uint32), 'train', DATA_DIR, 16)  # pylint: disable=protected-access
  raw = [next(numpy_queue) for _ in range(steps * batches_per_call)]
  convert = {'jax': lambda b: {k: jax.numpy.asarray(v) for k, v in b.items()},
             'pytorch': lambda b: {k: torch.from_numpy(v) for k, v in b.items()}}
  out = {}
  for fw, sub in subs.items():
    queue = iter([convert[fw](b) for b in raw])
    state, p, seen = states[fw], params[fw], []
    for step in range(steps):
      rng = jax.random.PRNGKey(step) if fw == 'jax' else None
      batch = sub.data_selection(workloads[fw], queue, state, p, None, hyperparameters, step, rng)
      kwargs = {'train_state': {}} if rules == 'v0.6' else {}
      state, p, _ = sub.update_params(workloads[fw], p, None, None, hyperparameters, batch, None, state, [], step,
                                      rng, **kwargs)
      if rules == 'v0.6':
        state, p, _ = sub.prepare_for_eval(workloads[fw], p, None, None, hyperparameters, None, state, [],
                                           step + 1, rng)
      seen.append(_loss(workloads[fw], p, convert[fw](raw[step * batches_per_call])))
    out[fw] = seen
  return out['jax'], out['pytorch']
