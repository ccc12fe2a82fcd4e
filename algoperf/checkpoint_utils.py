"""Checkpoints after each eval, so `--resume_last_run` continues a killed trial where it stopped.

JAX trees are saved as their list of leaves; restoring pours them into the structure of the freshly
initialised state, so functions kept in an optimizer state come from the new run. A checkpoint holds the
model params and state, the optimizer state, the runner's train_state, the eval
results, the step and preemption count, and the framework RNG state. The file is written to a temporary
name and renamed, so a kill during the write leaves the previous checkpoint intact.
"""
import os
import pickle
from typing import Any, Dict, Optional

from algoperf import logger_utils

CHECKPOINT_NAME = 'checkpoint'


class _KeepFresh:
  """Stands in for a leaf that is code, not state (a jitted update function): restore keeps the new one."""


_KEEP_FRESH = _KeepFresh()


def _path(trial_dir: str, framework: str) -> str:
  return os.path.join(trial_dir, CHECKPOINT_NAME + ('.pt' if framework == 'pytorch' else '.pkl'))


def has_checkpoint(trial_dir: str, framework: str) -> bool:
  return os.path.exists(_path(trial_dir, framework))


def _torch_module(container):
  return container.module if hasattr(container, 'module') else container


def save_checkpoint(trial_dir: str, framework: str, model_params: Any, model_state: Any, optimizer_state: Any,
                    train_state: Dict[str, Any], eval_results: Any, global_step: int,
                    preemption_count: int) -> str:
  path = _path(trial_dir, framework)
  if not logger_utils.is_primary():
    return path
  tmp = path + '.tmp'
  record = {'train_state': dict(train_state), 'eval_results': eval_results, 'global_step': global_step,
            'preemption_count': preemption_count}
  if framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    for key, tree in (('model_params', model_params), ('model_state', model_state),
                      ('optimizer_state', optimizer_state)):
      record[key] = [_KEEP_FRESH if callable(leaf) else jax.device_get(leaf) for leaf in jax.tree.leaves(tree)]
    with open(tmp, 'wb') as f:
      pickle.dump(record, f)
  else:
    import torch  # pylint: disable=import-outside-toplevel
    record['model_params'] = _torch_module(model_params).state_dict()
    record['model_state'] = model_state
    record['optimizer_state'] = _torch_optimizer_state(optimizer_state)
    record['torch_rng_state'] = torch.get_rng_state()
    if torch.cuda.is_available():
      record['cuda_rng_state'] = torch.cuda.get_rng_state_all()
    torch.save(record, tmp)
  os.replace(tmp, path)
  return path


def _torch_optimizer_state(optimizer_state: Any) -> Any:
  """Optimizers and schedulers are saved through their state_dict()."""
  if isinstance(optimizer_state, dict):
    return {k: (v.state_dict() if hasattr(v, 'state_dict') else v) for k, v in optimizer_state.items()}
  return optimizer_state


def restore_checkpoint(trial_dir: str, framework: str, model_params: Any, model_state: Any,
                       optimizer_state: Any) -> Optional[Dict[str, Any]]:
  """Loads the checkpoint into fresh objects; returns the record (params, states, train_state...) or None."""
  path = _path(trial_dir, framework)
  if not os.path.exists(path):
    return None
  if framework == 'jax':
    from algoperf import jax_sharding_utils  # pylint: disable=import-outside-toplevel
    import jax  # pylint: disable=import-outside-toplevel
    with open(path, 'rb') as f:
      record = pickle.load(f)
    for key, fresh in (('model_params', model_params), ('model_state', model_state),
                       ('optimizer_state', optimizer_state)):
      fresh_leaves, treedef = jax.tree.flatten(fresh)
      saved = record[key]
      if len(saved) != len(fresh_leaves):
        raise ValueError(f'The checkpoint in {trial_dir} does not match the {key} structure of this run '
                         f'({len(saved)} saved leaves, {len(fresh_leaves)} now); rerun without --resume_last_run.')
      leaves = [f if isinstance(s, _KeepFresh) else jax_sharding_utils.replicate(s)
                for s, f in zip(saved, fresh_leaves)]
      record[key] = jax.tree.unflatten(treedef, leaves)
    return record
  import torch  # pylint: disable=import-outside-toplevel
  record = torch.load(path, weights_only=False, map_location='cpu')
  _torch_module(model_params).load_state_dict(record['model_params'])
  record['model_params'] = model_params
  if isinstance(optimizer_state, dict):
    for key, value in optimizer_state.items():
      if hasattr(value, 'load_state_dict') and key in record['optimizer_state']:
        value.load_state_dict(record['optimizer_state'][key])
      elif key in record['optimizer_state']:
        optimizer_state[key] = record['optimizer_state'][key]
    record['optimizer_state'] = optimizer_state
  torch.set_rng_state(record['torch_rng_state'])
  if 'cuda_rng_state' in record and torch.cuda.is_available():
    torch.cuda.set_rng_state_all(record['cuda_rng_state'])
  return record
