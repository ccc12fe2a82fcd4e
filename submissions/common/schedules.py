"""Learning-rate schedules shared by the JAX and PyTorch submissions (submissions.md §0).

Every schedule is a function of `count`, the number of updates already applied (the first update has
count 0), and returns the rate of update count+1. Each is written once with an array module `xp`
(numpy for PyTorch's LambdaLR, jax.numpy inside a jitted JAX step), so both frameworks use the same formula.

- warmup_cosine, (S-optax): linear warmup from 0 over W updates, cosine to 0 at T, 0 after T. The PyTorch
  NAdamW baseline uses it too (upstream's PyTorch baseline has the periodic S-torch form instead); one
  schedule in both frameworks keeps the twins' losses equal.
- linear_cosine_periodic, (S-torch): LinearLR(start_factor=1e-10, total_iters=W) then CosineAnnealingLR(T-W),
  which rises again after T (period 2(T-W)); used where the published PyTorch submission relies on it.
- warm_cosine_cycles, (S-WarmCosine): the first update uses the peak rate, update k >= 2 the cyclic
  warmup + cosine value s(k-1) floored at lr_min; W is the whole-run warmup, not scaled per cycle.
"""
import math

import numpy as np


def warmup_cosine(count, peak: float, warmup_steps: int, total_steps: int, xp=np):
  count = xp.asarray(count, xp.float32) if xp is not np else float(count)
  decay_steps = max(total_steps - warmup_steps, 1)
  warm = peak * count / max(warmup_steps, 1)
  progress = xp.minimum(xp.maximum(count - warmup_steps, 0.0), decay_steps) / decay_steps
  cosine = peak * 0.5 * (1.0 + xp.cos(math.pi * progress))
  return xp.where(count < warmup_steps, warm, cosine)


def linear_cosine_periodic(count, peak: float, warmup_steps: int, total_steps: int, start_factor: float = 1e-10,
                           xp=np):
  count = xp.asarray(count, xp.float32) if xp is not np else float(count)
  warm = peak * (start_factor + (1.0 - start_factor) * count / max(warmup_steps, 1))
  cosine = peak * 0.5 * (1.0 + xp.cos(math.pi * (count - warmup_steps) / max(total_steps - warmup_steps, 1)))
  return xp.where(count < warmup_steps, warm, cosine)


def warm_cosine_cycles(count, peak: float, warmup_steps: int, total_steps: int, cycles: int = 1,
                       lr_min: float = 1e-10, xp=np):
  t = xp.asarray(count, xp.float32) if xp is not np else float(count)
  period = total_steps / cycles
  cycle = xp.maximum(xp.ceil(t / period) - 1.0, 0.0)
  within = t - cycle * period
  warm = lr_min + (peak - lr_min) * within / max(warmup_steps, 1)
  cosine = lr_min + 0.5 * (peak - lr_min) * (
      1.0 + xp.cos(math.pi * (within - warmup_steps) / max(period - warmup_steps, 1)))
  s = xp.where(within <= warmup_steps, warm, cosine)
  s = xp.where(t > total_steps, lr_min, s)
  return xp.where(t == 0, peak, s)


def warmup_cosine_jax(peak: float, warmup_steps: int, total_steps: int):
  """warmup_cosine as an optax-style schedule (a function of the update count)."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  return lambda count: warmup_cosine(count, peak, warmup_steps, total_steps, xp=jnp)


def google_horizon(step_hint: int, cosine_decay_fraction: float, warmup_steps_fraction: float):
  """(W, T) of the Google team's submissions (Generalized Adam, NadamP): T = int(cosine_decay_fraction *
  step_hint), W = int(warmup_steps_fraction * T)."""
  total = int(cosine_decay_fraction * step_hint)
  return int(warmup_steps_fraction * total), total


def warmup_linear_decay(count, peak: float, warmup_steps: int, decay_steps: int, end_factor: float, xp=np):
  """The target-setting momentum schedule (harness.md §5.2): linear warmup from 0 to peak over W updates,
  then linear to peak * end_factor at update `decay_steps` (decay_steps_factor * step_hint), constant after."""
  count = xp.asarray(count, xp.float32) if xp is not np else float(count)
  warm = peak * count / max(warmup_steps, 1)
  progress = xp.minimum(xp.maximum(count - warmup_steps, 0.0) / max(decay_steps - warmup_steps, 1), 1.0)
  decay = peak * (1.0 - (1.0 - end_factor) * progress)
  return xp.where(count < warmup_steps, warm, decay)
