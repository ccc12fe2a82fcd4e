"""LAWA's schedule facts: the per-workload (n, s0, interval) table of submissions.md §2.9/§2.10 from the v0.5
constants, the S-WarmCosine rate in both forms, the v0.5 EMA-decay bug, and how the rules are read."""
import collections

import pytest

from submissions.common import lawa
from submissions.common import numpy_references
from submissions.common import rules_form

W = collections.namedtuple('W', ['step_hint', 'max_allowed_runtime_sec', 'eval_period_time_sec'])
H = collections.namedtuple('H', ['lawa_start_factor', 'lawa_interval_scaling', 'lawa_inner_steps_frac'])

# workload: (step_hint, budget s, eval period s) of v0.5, then (n, s0, queue interval, EMA interval).
TABLE = {
    'criteo1tb': ((10_666, 7_703, 120), (42, 214, 22, 54)),
    'fastmri': ((36_189, 8_859, 80), (82, 724, 73, 181)),
    'imagenet_resnet': ((186_666, 63_008, 510), (378, 3_734, 374, 934)),
    'imagenet_vit': ((186_666, 77_520, 420), (253, 3_734, 374, 934)),
    'librispeech_conformer': ((80_000, 61_068, 1_440), (472, 1_600, 160, 400)),
    'librispeech_deepspeech': ((48_000, 55_506, 1_440), (312, 960, 96, 240)),
    'ogbg': ((80_000, 18_477, 240), (260, 1_600, 160, 400)),
    'wmt': ((133_333, 48_151, 840), (582, 2_667, 267, 667)),
}


@pytest.mark.parametrize('name', sorted(TABLE))
def test_published_per_workload_constants(name):
  workload, (n, start, interval, ema_interval) = W(*TABLE[name][0]), TABLE[name][1]
  queue = lawa.LawaSchedule.for_trial(workload, H(0.02, 0.002, 0.25))
  ema = lawa.LawaSchedule.for_trial(workload, H(0.02, 0.005, 0.25))
  assert (queue.steps_per_call, queue.start, queue.interval, ema.interval) == (n, start, interval, ema_interval)


def test_snapshot_steps_and_counts_agree():
  schedule = lawa.LawaSchedule(start=5, interval=3, steps_per_call=1)
  taken = [t for t in range(40) if schedule.is_snapshot(t)]
  assert taken[:3] == [5, 8, 11]
  for t in range(41):
    assert schedule.snapshots_before(t) == sum(1 for s in taken if s < t)


def test_warm_cosine_matches_the_reference_in_both_forms():
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  for t in [0, 1, 5, 10, 11, 50, 99, 100, 101, 150]:
    want = numpy_references.warm_cosine(t, 0.01, 10, 100)
    assert lawa.warm_cosine(t, 0.01, 10, 100) == pytest.approx(want, rel=1e-12)
    # float32: near the end of the cosine, 1 + cos cancels; errors are relative to the peak rate.
    assert float(lawa.warm_cosine(jnp.int32(t), 0.01, 10, 100, xp=jnp)) == pytest.approx(want, rel=1e-6, abs=1e-8)
  assert lawa.warm_cosine(0, 0.01, 10, 100) == 0.01 and lawa.warm_cosine(150, 0.01, 10, 100) == lawa.LR_MIN


def test_v05_reads_the_ema_decay_as_an_integer():
  assert lawa.ema_decay(0.2, 'v0.5') == 0.0 and lawa.ema_decay(0.2, 'v0.6') == 0.2


def test_rules_are_read_from_train_state():
  assert rules_form.rules_in_force(None) == 'v0.5'
  assert rules_form.rules_in_force({}) == 'v0.6'
