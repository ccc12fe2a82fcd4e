"""Cyclic LR's batch sizes and hyperparameter domains (shared by the JAX and PyTorch files)."""
from submissions.common import hparam_checks

# submissions.md §2.4: the baseline's sizes except ImageNet ResNet 512; no silu/gelu entries (variants fall
# back to the base name in the runner).
BATCH_SIZES = {
    'criteo1tb': 262_144,
    'fastmri': 32,
    'imagenet_resnet': 512,
    'imagenet_vit': 1024,
    'librispeech_conformer': 256,
    'librispeech_deepspeech': 256,
    'ogbg': 512,
    'wmt': 128,
    'mnist': 16,
}
LR_MIN = 1e-10


def get_batch_size(workload_name: str) -> int:
  if workload_name not in BATCH_SIZES:
    raise ValueError(f'Unsupported workload name: {workload_name}.')
  return BATCH_SIZES[workload_name]


def check(hyperparameters) -> None:
  hparam_checks.check_range(hyperparameters, 'learning_rate', low=0.0, low_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'one_minus_beta1', low=0.0, high=1.0, low_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'beta2', low=0.0, high=1.0, high_inclusive=False)
  hparam_checks.check_range(hyperparameters, 'weight_decay', low=0.0)
  hparam_checks.check_range(hyperparameters, 'warmup_factor', low=0.0, high=1.0)
  hparam_checks.check_range(hyperparameters, 'cycles', low=1.0)
  if int(hyperparameters.cycles) != hyperparameters.cycles:
    raise ValueError(f'Hyperparameter cycles={hyperparameters.cycles!r} is outside its domain (whole numbers >= 1); '
                     'pick a whole number.')


def schedule_args(hyperparameters, step_hint: int):
  """(peak, W, T, cycles, lr_min) of the (S-WarmCosine) cycles schedule."""
  return (hyperparameters.learning_rate, int(hyperparameters.warmup_factor * step_hint), step_hint,
          int(hyperparameters.cycles), LR_MIN)
