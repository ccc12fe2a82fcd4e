"""Shampoo's and CASPR's hyperparameters, read and checked once for both frameworks.

A value outside its domain ends the trial before training with one sentence (hparam_checks). Settings the
published submissions hard-code live here as constants (submissions.md §2.1, §2.8).
"""
import dataclasses
from typing import Any

from submissions.common import baseline_batch_sizes
from submissions.common import hparam_checks

# CASPR's coupled-Newton settings (submissions.md §2.8), shared by both frameworks' root code.
NEWTON_MAX_ITERS = 100
NEWTON_TOLERANCE = 1e-6
NEWTON_RIDGE = 1e-6
NEWTON_RETRIES = 6
NEWTON_RETRY_ERROR = 0.05
NEWTON_ACCEPT_ERROR = 0.1
POWER_ITERS = 100

SHAMPOO_BATCH_SIZES = {
    'criteo1tb': 262_144, 'fastmri': 32, 'imagenet_resnet': 1024, 'imagenet_resnet_silu': 512,
    'imagenet_resnet_gelu': 512, 'imagenet_vit': 1024, 'librispeech_conformer': 200,
    'librispeech_deepspeech': 224, 'ogbg': 512, 'wmt': 128, 'mnist': 16,
    'cifar': 128,  # Not a leaderboard workload; the baseline's size.
}


def shampoo_batch_size(workload_name: str) -> int:
  if workload_name not in SHAMPOO_BATCH_SIZES:
    raise ValueError(f'Unsupported workload name: {workload_name}.')
  return SHAMPOO_BATCH_SIZES[workload_name]


def caspr_batch_size(workload_name: str) -> int:
  """The baseline's sizes without the ResNet silu/gelu entries (those variants get the base size)."""
  if workload_name in ('imagenet_resnet_silu', 'imagenet_resnet_gelu'):
    raise ValueError(f'Unsupported workload name: {workload_name}.')
  return baseline_batch_sizes.get_batch_size(workload_name)


def _get(h: Any, name: str, default=None):
  return h.get(name, default) if isinstance(h, dict) else getattr(h, name, default)


@dataclasses.dataclass(frozen=True)
class ShampooConfig:
  learning_rate: float
  beta1: float
  beta2: float
  epsilon: float
  momentum: float                  # 0 when use_momentum is false
  weight_decay: float
  max_preconditioner_dim: int
  precondition_frequency: int
  start_preconditioning_step: int  # -1 resolved to precondition_frequency
  inv_root_override: int
  exponent_multiplier: float
  grafting_type: str               # 'ADAM' or 'SGD'
  grafting_epsilon: float
  use_nadam: bool
  warmup_factor: float
  step_hint_factor: float

  def root_due(self, t: int) -> bool:
    """Published rule: at the start step, then every precondition_frequency steps after it."""
    s = self.start_preconditioning_step
    return t == s or (t > s and t % self.precondition_frequency == 0)


def shampoo_config(h: Any) -> ShampooConfig:
  check = hparam_checks.check_range
  check(h, 'learning_rate', 0.0, None)
  check(h, 'one_minus_beta1', 0.0, 1.0)
  check(h, 'one_minus_beta2', 0.0, 1.0, low_inclusive=False)
  check(h, 'epsilon', 0.0, None, low_inclusive=False)
  check(h, 'weight_decay', 0.0, None)
  check(h, 'max_preconditioner_dim', 1, None)
  check(h, 'precondition_frequency', 1, None)
  check(h, 'warmup_factor', 0.0, 1.0)
  check(h, 'step_hint_factor', 0.0, None, low_inclusive=False)
  check(h, 'grafting_epsilon', 0.0, None, required=False)
  check(h, 'exponent_multiplier', 0.0, None, low_inclusive=False, required=False)
  check(h, 'inv_root_override', 0, None, required=False)
  use_momentum = bool(_get(h, 'use_momentum', False))
  if use_momentum:
    check(h, 'one_minus_momentum', 0.0, 1.0, high_inclusive=False)
  grafting = str(_get(h, 'grafting_type', 'ADAM')).upper()
  if grafting not in ('ADAM', 'SGD'):
    raise ValueError(f'Hyperparameter grafting_type={grafting!r} is not supported; use "ADAM" or "SGD".')
  if _get(h, 'use_normalized_grafting', False):
    raise ValueError('Hyperparameter use_normalized_grafting=True is not supported; set it to false '
                     '(as every published configuration does).')
  freq = int(_get(h, 'precondition_frequency'))
  start = int(_get(h, 'start_preconditioning_step', -1))
  if start < -1:
    raise ValueError(f'Hyperparameter start_preconditioning_step={start} is outside its domain: -1 (use '
                     'precondition_frequency) or a step >= 0.')
  return ShampooConfig(
      learning_rate=float(_get(h, 'learning_rate')), beta1=1.0 - float(_get(h, 'one_minus_beta1')),
      beta2=1.0 - float(_get(h, 'one_minus_beta2')), epsilon=float(_get(h, 'epsilon')),
      momentum=1.0 - float(_get(h, 'one_minus_momentum')) if use_momentum else 0.0,
      weight_decay=float(_get(h, 'weight_decay')), max_preconditioner_dim=int(_get(h, 'max_preconditioner_dim')),
      precondition_frequency=freq, start_preconditioning_step=freq if start == -1 else start,
      inv_root_override=int(_get(h, 'inv_root_override', 0)),
      exponent_multiplier=float(_get(h, 'exponent_multiplier', 1.0)), grafting_type=grafting,
      grafting_epsilon=float(_get(h, 'grafting_epsilon', 1e-8)), use_nadam=bool(_get(h, 'use_nadam', False)),
      warmup_factor=float(_get(h, 'warmup_factor')), step_hint_factor=float(_get(h, 'step_hint_factor', 1.0)))


@dataclasses.dataclass(frozen=True)
class CasprConfig:
  learning_rate: float
  beta1: float
  beta2: float
  weight_decay: float
  warmup_factor: float
  # Hard-coded in the published submission (submissions.md §2.8).
  epsilon: float = 1e-8
  matrix_epsilon: float = 1e-6
  precondition_frequency: int = 20
  start_preconditioning_step: int = 101

  def root_due(self, t: int) -> bool:
    return t % self.precondition_frequency == 0

  def fresh(self, t: int) -> bool:
    """The step right after the preconditioners were refreshed."""
    return max(t - 1, 1) % self.precondition_frequency == 0


def caspr_config(h: Any) -> CasprConfig:
  check = hparam_checks.check_range
  check(h, 'learning_rate', 0.0, None)
  check(h, 'one_minus_beta1', 0.0, 1.0, low_inclusive=False, high_inclusive=False)
  check(h, 'beta2', 0.0, 1.0, high_inclusive=False)
  check(h, 'weight_decay', 0.0, None)
  check(h, 'warmup_factor', 0.0, 1.0)
  # Fixed in the published submission; a point may override them (tests do, to reach the preconditioned
  # phase in a few steps). The published search space does not.
  check(h, 'precondition_frequency', 1, None, required=False)
  check(h, 'start_preconditioning_step', 0, None, required=False)
  return CasprConfig(learning_rate=float(_get(h, 'learning_rate')), beta1=1.0 - float(_get(h, 'one_minus_beta1')),
                     beta2=float(_get(h, 'beta2')), weight_decay=float(_get(h, 'weight_decay')),
                     warmup_factor=float(_get(h, 'warmup_factor')),
                     precondition_frequency=int(_get(h, 'precondition_frequency', 20)),
                     start_preconditioning_step=int(_get(h, 'start_preconditioning_step', 101)))
