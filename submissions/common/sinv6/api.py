"""What the Sinv6 and Sinv6 75 submissions share across frameworks: batch sizes, horizon, weights, logging."""
from submissions.common import baseline_batch_sizes
from submissions.common.sinv6 import features
from submissions.common.sinv6 import weights

LOG_PERIOD = 100


def get_batch_size(workload_name: str) -> int:
  """The baseline's batch sizes without the silu/gelu entries (spec §3.4): those variants raise ValueError,
  so the runner falls back to the base workload's size."""
  if workload_name.endswith(('_silu', '_gelu')):
    raise ValueError(f'Sinv6 has no batch size for {workload_name}; the base workload\'s applies.')
  return baseline_batch_sizes.get_batch_size(workload_name)


def horizon(workload, num_steps_fraction: float) -> int:
  return features.num_steps_for(workload.step_hint, num_steps_fraction)


def load_weights() -> dict:
  """Ours, or the file named by $ALGOPERF_SINV6_WEIGHTS (checked against the published tree)."""
  return weights.load()


def log_every(workload, global_step: int, loss, lr_mult) -> None:
  """Logs the training loss and the scheduler's lr_mult every LOG_PERIOD steps (only then fetched)."""
  if workload.metrics_logger is not None and global_step % LOG_PERIOD == 0:
    workload.metrics_logger.append_scalar_metrics({'loss': float(loss), 'lr_mult': float(lr_mult)}, global_step)
