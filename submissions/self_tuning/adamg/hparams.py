"""AdamG's fixed hyperparameters and schedule (submissions.md §3.6), shared by the JAX and PyTorch files."""
HPARAMS = {
    'learning_rate': 1.0,
    'beta1': 0.95,
    'beta2': 0.999,
    'beta3': 0.95,
    'weight_decay': 0.0,  # the weight-decay branch is inactive; not offered by our optimizer
    'warmup_factor': 0.02,
    'eps': 1e-8,
    'p_num': 0.2,   # s(v) = p v^q, the numerator function of the paper
    'q_num': 0.24,
}
HORIZON = 0.75  # the schedule's T, as a fraction of step_hint


def schedule_args(step_hint: int):
  """(peak, W, T) of the (S-torch) schedule: T = 0.75 step_hint, W = int(0.02 * 0.75 * step_hint)."""
  total = HORIZON * step_hint
  return HPARAMS['learning_rate'], int(HPARAMS['warmup_factor'] * total), total
