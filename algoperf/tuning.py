"""Search spaces, the trials of each study, and each trial's seed.

A search space is a JSON list of points (used in order) or a dict of ranges (sampled with a seeded Halton
sequence). Under the rules, each study draws its own trials: a list of fixed points is sampled without
replacement per study; points drawn from a dict are dealt to the studies at random.
"""
import collections
import hashlib
import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

from algoperf import halton


def load_search_space(path: str) -> Any:
  if not os.path.exists(path):
    raise ValueError(f'Search space file {path} does not exist; pass --tuning_search_space=FILE.json.')
  with open(path) as f:
    try:
      space = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f'Search space file {path} is not valid JSON ({e}).') from e
  validate_search_space(space, path)
  return space


def validate_search_space(space: Any, source: str) -> None:
  if isinstance(space, list):
    if not space:
      raise ValueError(f'Search space {source} is an empty list; give at least one point.')
    for i, point in enumerate(space):
      if not isinstance(point, dict):
        raise ValueError(f'Search space {source}: point {i} must be an object of hyperparameters, not {point!r}.')
      for key, value in point.items():
        if not isinstance(value, (int, float, str, bool)) and value is not None:
          raise ValueError(f'Search space {source}: point {i} key "{key}" must be a number or string, '
                           f'not {value!r}.')
  elif isinstance(space, dict):
    if not space:
      raise ValueError(f'Search space {source} is an empty object; give at least one hyperparameter.')
    halton.generate_search(space, 1, 0, source)  # Raises a named error for any malformed key.
  else:
    raise ValueError(f'Search space {source} must be a JSON list of points or an object of ranges.')


def trials_for_run(space: Any, num_trials: int, seed: int, source: str = '<search space>') -> List[Dict]:
  """One run's trials, as upstream's runner makes them: a list in order, or Halton points from a dict."""
  if isinstance(space, list):
    return [dict(p) for p in space[:num_trials]]
  return halton.generate_search(space, num_trials, seed, source)


def trials_for_studies(space: Any, num_studies: int, num_trials: int, seed: int,
                       source: str = '<search space>') -> List[List[Dict]]:
  """Each study's trials under the rules (see the module docstring)."""
  rng = np.random.RandomState(seed % (2**31 - 1))
  if isinstance(space, list):
    studies = []
    for _ in range(num_studies):
      order = rng.permutation(len(space))[:num_trials]
      studies.append([dict(space[i]) for i in order])
    return studies
  points = halton.generate_search(space, num_studies * num_trials, seed, source)
  order = rng.permutation(len(points))
  return [[points[i] for i in order[s * num_trials:(s + 1) * num_trials]] for s in range(num_studies)]


def trial_seed(base_seed: int, submission: str, workload: str, study: int, trial: int) -> int:
  """A 31-bit seed that differs for every (submission, workload, study, trial) and repeats across runs."""
  key = f'{base_seed}|{submission}|{workload}|{study}|{trial}'.encode()
  return int.from_bytes(hashlib.sha256(key).digest()[:8], 'little') % (2**31 - 1)


def to_hyperparameters(point: Optional[Dict[str, Any]]):
  """A namedtuple (attribute access, as submissions expect), or None for self-tuning."""
  if point is None:
    return None
  return collections.namedtuple('Hyperparameters', sorted(point))(**point)
