"""Quasi-random search points from a search space, with a scrambled Halton sequence.

Each dimension uses a different prime base, digits permuted by a seeded random permutation (scrambling
breaks the correlations of plain Halton in higher dimensions), and the first `skip` points are dropped.
Unlike upstream, every draw, including the final point order, comes from the given seed.
"""
from typing import Any, Dict, List

import numpy as np

_PRIMES = [p for p in range(2, 1000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _scrambled_radical_inverse(index: int, base: int, permutation: np.ndarray) -> float:
  result, scale = 0.0, 1.0 / base
  while index > 0:
    index, digit = divmod(index, base)
    result += permutation[digit] * scale
    scale /= base
  return result


def halton_points(num_points: int, num_dims: int, seed: int, skip: int = 100) -> np.ndarray:
  """`num_points` points in [0, 1)^num_dims."""
  rng = np.random.RandomState(seed)
  points = np.zeros((num_points, num_dims))
  for dim in range(num_dims):
    base = _PRIMES[dim]
    # Digit 0 stays 0 so that the sequence keeps its low-discrepancy structure.
    permutation = np.concatenate([[0], 1 + rng.permutation(base - 1)])
    shift = rng.uniform()
    for i in range(num_points):
      points[i, dim] = (_scrambled_radical_inverse(i + skip + 1, base, permutation) + shift) % 1.0
  return points


def _scale(u: float, spec: Dict[str, Any], name: str, source: str) -> Any:
  if 'feasible_points' in spec:
    points = spec['feasible_points']
    if not isinstance(points, list) or not points:
      raise ValueError(f'Search space {source}: "{name}.feasible_points" must be a non-empty list.')
    return points[min(int(u * len(points)), len(points) - 1)]
  for key in ('min', 'max'):
    if key not in spec:
      raise ValueError(f'Search space {source}: "{name}" needs "min" and "max" (or "feasible_points").')
  low, high = float(spec['min']), float(spec['max'])
  scaling = spec.get('scaling', 'linear')
  if high < low:
    raise ValueError(f'Search space {source}: "{name}" has min {low} > max {high}.')
  if scaling == 'linear':
    return low + u * (high - low)
  if scaling == 'log':
    if low <= 0:
      raise ValueError(f'Search space {source}: "{name}" uses log scaling, so min must be > 0 (is {low}).')
    return float(np.exp(np.log(low) + u * (np.log(high) - np.log(low))))
  raise ValueError(f'Search space {source}: "{name}.scaling" must be "linear" or "log", not {scaling!r}.')


def generate_search(space: Dict[str, Dict[str, Any]], num_trials: int, seed: int = 0,
                    source: str = '<search space>') -> List[Dict[str, Any]]:
  """`num_trials` hyperparameter dicts sampled from a dict search space."""
  names = sorted(space)
  for name in names:
    if not isinstance(space[name], dict):
      raise ValueError(f'Search space {source}: "{name}" must map to an object with min/max/scaling '
                       f'or feasible_points, not {space[name]!r}.')
  points = halton_points(num_trials, len(names), seed)
  trials = [{name: _scale(u, space[name], name, source) for name, u in zip(names, point)} for point in points]
  order = np.random.RandomState(seed + 1).permutation(num_trials)
  return [trials[i] for i in order]
