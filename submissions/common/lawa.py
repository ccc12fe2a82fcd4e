"""LAWA's schedule facts, shared by the queue and EMA submissions in both frameworks (submissions.md §2.9, §2.10).

* Learning rate (S-WarmCosine, §0): update 1 uses lr; update t+1 (t >= 1 updates already applied) uses
  s(t) = lr_min + (lr - lr_min) t/W for t <= W, lr_min + (lr - lr_min)(1 + cos(pi (t-W)/(T-W)))/2 for
  W < t <= T, lr_min after T; lr_min = 1e-10, T = step_hint, W = int(warmup_factor step_hint).
* Snapshots: after the optimizer step at local step t >= s0 with (t - s0) % interval == 0, where
  s0 = ceil(lawa_start_factor step_hint) and interval = ceil(lawa_interval_scaling step_hint).
* Steps per update_params call under v0.5: n = ceil(lawa_inner_steps_frac eval_period / (budget / step_hint)),
  the optimizer steps in about a quarter of an eval period at the reference step rate.
"""
import dataclasses
import math

LR_MIN = 1e-10


def warm_cosine(count, lr: float, warmup_steps: int, total_steps: int, xp=math):
  """The rate of the update that follows `count` applied updates (xp: math, or jax.numpy for a traced count)."""
  if xp is math:
    if count == 0:
      return lr
    return _s(count, lr, warmup_steps, total_steps, math.cos, min)
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  t = jnp.asarray(count, jnp.float32)
  return jnp.where(t == 0, lr, _s(t, lr, warmup_steps, total_steps, jnp.cos, jnp.minimum, jnp.where))


def _s(t, lr, warmup, total, cos, minimum, where=None):
  warm = LR_MIN + (lr - LR_MIN) * t / max(warmup, 1)
  progress = minimum(t - warmup, total - warmup) / max(total - warmup, 1)
  cosine = LR_MIN + 0.5 * (lr - LR_MIN) * (1.0 + cos(math.pi * progress))
  if where is None:
    return warm if t <= warmup else (cosine if t <= total else LR_MIN)
  return where(t <= warmup, warm, where(t <= total, cosine, LR_MIN))


@dataclasses.dataclass(frozen=True)
class LawaSchedule:
  start: int           # s0
  interval: int        # snapshot every `interval` steps from s0
  steps_per_call: int  # n (v0.5 form)

  @classmethod
  def for_trial(cls, workload, hyperparameters) -> 'LawaSchedule':
    step_hint = workload.step_hint
    seconds_per_step = workload.max_allowed_runtime_sec / step_hint
    return cls(start=math.ceil(hyperparameters.lawa_start_factor * step_hint),
               interval=math.ceil(hyperparameters.lawa_interval_scaling * step_hint),
               steps_per_call=math.ceil(hyperparameters.lawa_inner_steps_frac * workload.eval_period_time_sec /
                                        seconds_per_step))

  def is_snapshot(self, t: int) -> bool:
    return t >= self.start and (t - self.start) % self.interval == 0

  def snapshots_before(self, t: int) -> int:
    """How many snapshots the steps 0..t-1 took."""
    return 0 if t <= self.start else (t - self.start - 1) // self.interval + 1


def ema_decay(lawa_beta: float, form: str) -> float:
  """v0.5 read the decay as int(lawa_beta), so 0.2 became 0 and the 'EMA' was the latest snapshot; v0.6 uses
  lawa_beta as intended."""
  return float(int(lawa_beta)) if form == 'v0.5' else float(lawa_beta)
