"""Learning-rate schedules shared by the JAX and PyTorch submissions.

warmup_cosine is the (S-optax) schedule of submissions.md §0: c = updates already applied, linear warmup
from 0 to the peak over W updates, cosine decay to 0 at T, and 0 after T. The PyTorch baselines use the
same function through LambdaLR; upstream's PyTorch baseline instead chains LinearLR (start 1e-10) and a
CosineAnnealingLR that rises again after T. We keep one schedule in both frameworks so that the twins
give the same losses.
"""
import math


def warmup_cosine(count: int, peak: float, warmup_steps: int, total_steps: int) -> float:
  if count < warmup_steps:
    return peak * count / warmup_steps
  decay_steps = max(total_steps - warmup_steps, 1)
  progress = min(count - warmup_steps, decay_steps) / decay_steps
  return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_jax(peak: float, warmup_steps: int, total_steps: int):
  """The same schedule as an optax schedule (a function of the update count)."""
  import optax  # pylint: disable=import-outside-toplevel
  warmup = optax.linear_schedule(init_value=0.0, end_value=peak, transition_steps=warmup_steps)
  cosine = optax.cosine_decay_schedule(init_value=peak, decay_steps=max(total_steps - warmup_steps, 1))
  return optax.join_schedules(schedules=[warmup, cosine], boundaries=[warmup_steps])
