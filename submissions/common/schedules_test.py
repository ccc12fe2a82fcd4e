"""The three schedule conventions against hand-worked values, in numpy and in jax.numpy."""
import jax.numpy as jnp
import numpy as np
import pytest

from submissions.common import schedules

CASES = [
    # (S-optax): peak 1, W 2, T 6: 0 at the first update, cosine to 0 at T, 0 after.
    (schedules.warmup_cosine, dict(peak=1.0, warmup_steps=2, total_steps=6),
     {0: 0.0, 1: 0.5, 2: 1.0, 4: 0.5, 6: 0.0, 9: 0.0}),
    # (S-torch): LinearLR from 1e-10 over 4, CosineAnnealingLR(4) that rises again after T = 8.
    (schedules.linear_cosine_periodic, dict(peak=1.0, warmup_steps=4, total_steps=8),
     {0: 1e-10, 2: 0.5 + 0.5e-10, 4: 1.0, 6: 0.5, 8: 0.0, 10: 0.5, 12: 1.0}),
    # (S-WarmCosine), 2 cycles of 5 with W 2, lr_min 0: peak at the first update, then per cycle.
    (schedules.warm_cosine_cycles, dict(peak=1.0, warmup_steps=2, total_steps=10, cycles=2, lr_min=0.0),
     {0: 1.0, 1: 0.5, 2: 1.0, 3: 0.75, 5: 0.0, 6: 0.5, 7: 1.0, 8: 0.75, 10: 0.0, 11: 0.0}),
]


@pytest.mark.parametrize('fn,kwargs,expected', CASES)
def test_hand_worked_values(fn, kwargs, expected):
  for count, value in expected.items():
    assert float(fn(count, **kwargs)) == pytest.approx(value, abs=1e-7), count
    assert float(fn(jnp.asarray(count), **kwargs, xp=jnp)) == pytest.approx(value, abs=1e-6), count


def test_one_cycle_floors_at_lr_min():
  values = [float(schedules.warm_cosine_cycles(c, 1.0, 2, 10, 1, lr_min=1e-10)) for c in range(13)]
  assert values[0] == 1.0 and values[1] == pytest.approx(0.5) and values[10] == pytest.approx(1e-10)
  assert values[12] == 1e-10 and np.all(np.diff(values[2:11]) < 0)
