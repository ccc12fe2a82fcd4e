"""Schedule-free scalars shared by the JAX and PyTorch forms (submissions.md §2.2, §2.11, §3.1).

Step k (0-based): warmup sched = (k+1)/W for k < W, else 1; lr_k = max(lr * sched, floor);
lr_max = max(lr_max, lr_k); weight = (k+1)^r * lr_max^q; weight_sum += weight; c = weight / weight_sum.
`xp` is numpy (host floats, PyTorch) or jax.numpy (inside jit), so one formula serves both frameworks.
"""


def sf_coefficients(xp, k, lr: float, warmup_steps: int, lr_max, weight_sum, r: float, weight_lr_power: float,
                    lr_floor: float = 0.0):
  """(lr_k, new lr_max, new weight_sum, c) for step k."""
  sched = xp.minimum(1.0, (k + 1.0) / warmup_steps) if warmup_steps > 0 else 1.0
  lr_k = xp.maximum(lr * sched, lr_floor)
  lr_max = xp.maximum(lr_max, lr_k)
  weight = (k + 1.0)**r * lr_max**weight_lr_power
  weight_sum = weight_sum + weight
  return lr_k, lr_max, weight_sum, weight / weight_sum


def closure_form_lr(xp, lr_k, beta2: float, k):
  """The v0.5 closure form's step size gamma_k = lr_k * sqrt(1 - beta2^(k+1)) (bias correction folded in)."""
  return lr_k * xp.sqrt(1.0 - beta2**(k + 1.0))


# The fused sf_step kernel computes bc2 = 1 - beta2^step in double; a step this large makes bc2 exactly 1,
# so its denominator becomes the closure form's sqrt(v) + eps (see schedule_free_torch.py).
NO_BIAS_CORRECTION_STEP = 1e30
