"""Checkpoints after each eval, so `--resume_last_run` continues a killed trial where it stopped.

JAX trees are saved as their list of leaves; restoring pours them into the structure of the freshly
initialised state, so functions kept in an optimizer state come from the new run. A checkpoint holds the
model params and state, the optimizer state, the runner's train_state, the eval
results, the step and preemption count, and the framework RNG state.

The last two checkpoints are kept: `checkpoint.*` (latest) and `checkpoint.prev.*`. A new one is written
atomically (atomic_files) to a temporary name, then the latest becomes the previous and the new one the
latest; a kill at any instant leaves at least one complete checkpoint. A latest checkpoint that cannot be
read (truncated, corrupted, or missing after a kill between the two renames) makes restore fall back to the
previous one, with a warning.
"""
import os
import pickle
import sys
from typing import Any, Dict, Optional

from algoperf import logger_utils
from algoperf.atomic_files import atomic_write

CHECKPOINT_NAME = 'checkpoint'


class CheckpointMismatchError(ValueError):
  """A readable checkpoint of a different model or optimizer than this run's."""


class _KeepFresh:
  """Stands in for a leaf that is code, not state (a jitted update function): restore keeps the new one."""


_KEEP_FRESH = _KeepFresh()


def _path(trial_dir: str, framework: str, previous: bool = False) -> str:
  return os.path.join(trial_dir, CHECKPOINT_NAME + ('.prev' if previous else '') +
                      ('.pt' if framework == 'pytorch' else '.pkl'))


def has_checkpoint(trial_dir: str, framework: str) -> bool:
  return any(os.path.exists(_path(trial_dir, framework, previous)) for previous in (False, True))


def _torch_module(container):
  return container.module if hasattr(container, 'module') else container


def save_checkpoint(trial_dir: str, framework: str, model_params: Any, model_state: Any, optimizer_state: Any,
                    train_state: Dict[str, Any], eval_results: Any, global_step: int,
                    preemption_count: int) -> str:
  path = _path(trial_dir, framework)
  if not logger_utils.is_primary():
    return path
  tmp = path + '.new'
  record = {'train_state': dict(train_state), 'eval_results': eval_results, 'global_step': global_step,
            'preemption_count': preemption_count}
  if framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    for key, tree in (('model_params', model_params), ('model_state', model_state),
                      ('optimizer_state', optimizer_state)):
      record[key] = [_KEEP_FRESH if callable(leaf) else jax.device_get(leaf) for leaf in jax.tree.leaves(tree)]
    with atomic_write(tmp, 'wb') as f:
      pickle.dump(record, f)
  else:
    import torch  # pylint: disable=import-outside-toplevel
    record['model_params'] = _torch_module(model_params).state_dict()
    record['model_state'] = model_state
    record['optimizer_state'] = _torch_optimizer_state(optimizer_state)
    record['torch_rng_state'] = torch.get_rng_state()
    if torch.cuda.is_available():
      record['cuda_rng_state'] = torch.cuda.get_rng_state_all()
    with atomic_write(tmp, 'wb') as f:
      torch.save(record, f)
  if os.path.exists(path):
    os.replace(path, _path(trial_dir, framework, previous=True))
  os.replace(tmp, path)
  return path


def _torch_optimizer_state(optimizer_state: Any) -> Any:
  """Optimizers and schedulers are saved through their state_dict()."""
  if isinstance(optimizer_state, dict):
    return {k: (v.state_dict() if hasattr(v, 'state_dict') else v) for k, v in optimizer_state.items()}
  return optimizer_state


def restore_checkpoint(trial_dir: str, framework: str, model_params: Any, model_state: Any,
                       optimizer_state: Any) -> Optional[Dict[str, Any]]:
  """Loads the latest readable checkpoint into fresh objects; returns its record (params, states, ...) or None."""
  latest, previous = _path(trial_dir, framework), _path(trial_dir, framework, previous=True)
  if os.path.exists(latest):
    try:
      return _restore(latest, trial_dir, framework, model_params, model_state, optimizer_state)
    except CheckpointMismatchError:
      raise
    except _UNREADABLE as e:
      if not os.path.exists(previous):
        raise ValueError(f'The checkpoint {latest} cannot be read ({type(e).__name__}: {e}) and there is no '
                         'previous one; rerun without --resume_last_run.') from e
      print(f'warning: the checkpoint {latest} cannot be read ({type(e).__name__}: {e}); resuming from the '
            f'previous one, {previous}.', file=sys.stderr, flush=True)
  elif not os.path.exists(previous):
    return None
  return _restore(previous, trial_dir, framework, model_params, model_state, optimizer_state)


# What a truncated or corrupted pickle / torch file raises on load.
_UNREADABLE = (EOFError, pickle.UnpicklingError, RuntimeError, ValueError, KeyError, IndexError, TypeError,
               AttributeError, OSError)


def _restore(path: str, trial_dir: str, framework: str, model_params: Any, model_state: Any,
             optimizer_state: Any) -> Dict[str, Any]:
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
        raise CheckpointMismatchError(f'The checkpoint in {trial_dir} does not match the {key} structure of this run '
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
