"""The four target-setting algorithms, their search spaces and their learning-rate schedules (harness.md §5.2).

Upstream set each workload's targets with the best of AdamW, NadamW, Nesterov and heavy-ball momentum, 200
quasi-random trials each; the published winners are one point per workload (§5.2). Our ranges are centred
(geometrically, for log-scaled ones) on those published points and span them, so that a Halton search of a
few dozen trials covers every published winner of the family:

- Adam pair (NadamW winners on criteo1tb, imagenet_vit, conformer, deepspeech, wmt):
  learning_rate 0.00084-0.0050 -> log [2e-4, 2e-2]; 1 - beta1 = 0.052-0.177 -> log [0.03, 0.3];
  1 - beta2 = 0.0012-0.371 -> log [1e-3, 0.5]; weight_decay 0.0036-0.276 -> log [1e-3, 1.0].
- Momentum pair (Nesterov on fastmri and ogbg, heavy ball on imagenet_resnet):
  learning_rate 0.0286-4.13 -> log [0.01, 10]; 1 - beta1 = 0.0185-0.0725 -> log [0.01, 0.2];
  weight_decay 1.3e-7-5.7e-4 -> log [1e-7, 1e-3]; decay_steps_factor 0.861-0.984 -> [0.8, 1.0];
  end_factor 0.001-0.01 -> log [1e-3, 1e-2].
- warmup_factor (both pairs; the published warmups are in steps: 159/10,666 = 0.015 (criteo) to
  6,999/167,999 = 0.042 (ViT) and 1,357/18,094 = 0.075 (fastmri)) -> [0.01, 0.1], as a fraction of step_hint
  so that it scales with the lite step budgets.

No label smoothing or dropout is searched (the published points set label smoothing only for ResNet); the
workloads' defaults apply. Schedules: the Adam pair warms up linearly to lr and decays with a cosine to 0 at
step_hint (schedules.warmup_cosine); the momentum pair warms up linearly and then decays linearly to
lr * end_factor at decay_steps_factor * step_hint (schedules.warmup_linear_decay).
"""
from typing import Any, Dict, List

from algoperf import halton

ALGORITHMS = ('adamw', 'nadamw', 'nesterov', 'momentum')
ADAM_PAIR = ('adamw', 'nadamw')

_ADAM_SPACE = {
    'learning_rate': {'min': 2e-4, 'max': 2e-2, 'scaling': 'log'},
    'one_minus_beta1': {'min': 0.03, 'max': 0.3, 'scaling': 'log'},
    'one_minus_beta2': {'min': 1e-3, 'max': 0.5, 'scaling': 'log'},
    'weight_decay': {'min': 1e-3, 'max': 1.0, 'scaling': 'log'},
    'warmup_factor': {'min': 0.01, 'max': 0.1},
}
_MOMENTUM_SPACE = {
    'learning_rate': {'min': 0.01, 'max': 10.0, 'scaling': 'log'},
    'one_minus_beta1': {'min': 0.01, 'max': 0.2, 'scaling': 'log'},
    'weight_decay': {'min': 1e-7, 'max': 1e-3, 'scaling': 'log'},
    'warmup_factor': {'min': 0.01, 'max': 0.1},
    'decay_steps_factor': {'min': 0.8, 'max': 1.0},
    'end_factor': {'min': 1e-3, 'max': 1e-2, 'scaling': 'log'},
}
SPACES: Dict[str, Dict[str, Dict[str, Any]]] = {
    'adamw': _ADAM_SPACE, 'nadamw': _ADAM_SPACE, 'nesterov': _MOMENTUM_SPACE, 'momentum': _MOMENTUM_SPACE,
}


def check_algorithm(algorithm: str) -> None:
  if algorithm not in ALGORITHMS:
    raise ValueError(f'Unknown target-setting algorithm {algorithm!r}; use one of {", ".join(ALGORITHMS)}.')


def draw(algorithm: str, num_trials: int, seed: int) -> List[Dict[str, Any]]:
  """`num_trials` Halton points of the algorithm's space, each with an 'algorithm' entry."""
  check_algorithm(algorithm)
  points = halton.generate_search(SPACES[algorithm], num_trials, seed, source=f'target setting {algorithm}')
  return [dict(point, algorithm=algorithm) for point in points]


def lr_schedule(hyperparameters, step_hint: int, xp):
  """The learning rate as a function of the update count, for the algorithm named in the hyperparameters."""
  from submissions.common import schedules  # pylint: disable=import-outside-toplevel
  check_algorithm(hyperparameters.algorithm)
  lr = hyperparameters.learning_rate
  warmup_steps = int(hyperparameters.warmup_factor * step_hint)
  if hyperparameters.algorithm in ADAM_PAIR:
    return lambda count: schedules.warmup_cosine(count, lr, warmup_steps, step_hint, xp=xp)
  decay_steps = int(hyperparameters.decay_steps_factor * step_hint)
  return lambda count: schedules.warmup_linear_decay(count, lr, warmup_steps, decay_steps,
                                                      hyperparameters.end_factor, xp=xp)
