"""The runner's rules, end to end on the MNIST smoke workload: the clock, evals, budgets, early stops,
crashed and diverged trials, seeds, bad submissions and search spaces."""
import csv
import json
import os
import time
import types

import pytest

from algoperf import rules as rules_lib
from algoperf import runner
from algoperf import submission_loader
from algoperf import training_loop
from algoperf import trials as trials_lib
from algoperf import tuning
from workloads.mnist.pytorch.workload import MnistWorkload

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
# Under Bazel the fixture is the //tools/datasets:mnist_smoke_data genrule; outside, point the variable at one.
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))
FAULTY = os.path.join(ROOT, 'tests', 'testdata', 'faulty', 'submission.py')
UPSTREAM = os.path.join(ROOT, 'tests', 'testdata', 'upstream_submission', 'submission.py')


class TimedMnist(MnistWorkload):
  """MNIST smoke with a short eval period and budget, and evals that take a known time."""
  eval_sleep_sec = 0.2
  period_sec = 0.3
  budget_sec = 60

  @property
  def eval_period_time_sec(self):
    return self.period_sec

  @property
  def max_allowed_runtime_sec(self):
    return self.budget_sec

  def eval_model(self, *args, **kwargs):
    time.sleep(self.eval_sleep_sec)
    return super().eval_model(*args, **kwargs)


def _eval_rows(trial_dir):
  with open(os.path.join(trial_dir, 'eval_measurements.csv')) as f:
    return [{k: float(v) for k, v in row.items() if v != ''} for row in csv.DictReader(f)]


def _train(tmp_path, workload, hparams, ruleset='external', max_global_steps=None, version='v0.6'):
  submission = submission_loader.load_submission(FAULTY)
  config = training_loop.TrialConfig(framework='pytorch', ruleset=ruleset, rules=rules_lib.get_rules(version),
                                     data_dir=DATA_DIR, max_global_steps=max_global_steps, progress=None)
  trial_dir = str(tmp_path / 'trial_1')
  os.makedirs(trial_dir, exist_ok=True)
  time_sec, info = training_loop.train_once(workload, submission, 32, 500, tuning.to_hyperparameters(hparams),
                                            0, trial_dir, config)
  return time_sec, info, trial_dir


def test_submission_time_counts_steps_and_not_evals(tmp_path):
  workload = TimedMnist(scale='smoke')
  workload.eval_sleep_sec = 0.5
  start = time.time()
  time_sec, info, trial_dir = _train(tmp_path, workload, {'mode': 'sleep', 'sleep_sec': 0.05},
                                     max_global_steps=20)
  wall = time.time() - start
  rows = _eval_rows(trial_dir)
  assert info['global_step'] == 20
  assert len(rows) >= 3 and rows[-1]['global_step'] == 20  # Evals during training, and one at the end.
  assert time_sec >= 20 * 0.05  # Every step's sleep is on the clock...
  assert time_sec <= wall - 0.5 * len(rows)  # ...and no eval's (this fails if evals were counted).
  assert rows[-1]['accumulated_eval_time'] >= 0.5 * len(rows)
  previous = 0.0
  for row in rows:  # At every eval, the clock shows at least the steps done so far, and only grows.
    assert row['accumulated_submission_time'] >= row['global_step'] * 0.05
    assert row['accumulated_submission_time'] >= previous
    previous = row['accumulated_submission_time']
    assert row['score'] == row['accumulated_submission_time']
    assert row['total_duration'] >= row['accumulated_submission_time'] + row['accumulated_eval_time'] - 1e-6


def test_eval_gate_waits_one_period_of_submission_time(tmp_path):
  workload = TimedMnist(scale='smoke')
  workload.eval_sleep_sec = 0.0
  _, _, trial_dir = _train(tmp_path, workload, {'mode': 'sleep', 'sleep_sec': 0.05}, max_global_steps=24)
  rows = _eval_rows(trial_dir)
  assert rows[0]['global_step'] == 1  # The first step is always followed by an eval.
  for a, b in zip(rows[:-2], rows[1:-1]):  # The last eval is the end-of-training one.
    # At least one period of submission time between evals; steps of >= 50 ms fit at most 7 in 0.3 s.
    assert b['accumulated_submission_time'] - a['accumulated_submission_time'] >= 0.3
    assert 1 <= b['global_step'] - a['global_step'] <= 7


@pytest.mark.parametrize('ruleset,factor', [('external', 1.0), ('self', 1.5)])
def test_budget_stops_training_and_no_eval_after_it(tmp_path, ruleset, factor):
  workload = TimedMnist(scale='smoke')
  workload.budget_sec, workload.eval_sleep_sec = 0.5, 0.0
  time_sec, _, trial_dir = _train(tmp_path, workload, {'mode': 'sleep', 'sleep_sec': 0.05}, ruleset=ruleset)
  budget = 0.5 * factor
  assert time_sec >= budget  # Stops at the first eval gate past the budget, not before...
  assert all(r['accumulated_submission_time'] < budget for r in _eval_rows(trial_dir))  # ...no eval after.


def test_v05_self_tuning_budget_is_three_times(tmp_path):
  assert rules_lib.budget_sec(100, 'self', rules_lib.get_rules('v0.5')) == 300
  assert rules_lib.budget_sec(100, 'self', rules_lib.get_rules('v0.6')) == 150
  assert rules_lib.budget_sec(100, 'external', rules_lib.get_rules('v0.5')) == 100


def test_training_complete_error_ends_with_a_final_eval(tmp_path):
  workload = TimedMnist(scale='smoke')
  workload.period_sec, workload.eval_sleep_sec = 100.0, 0.0
  _, info, trial_dir = _train(tmp_path, workload, {'mode': 'complete'})
  steps = [int(r['global_step']) for r in _eval_rows(trial_dir)]
  assert info['global_step'] == 5 and steps == [1, 5]


def test_reaching_both_targets_stops_early(tmp_path):
  workload = TimedMnist(scale='smoke')
  workload.eval_sleep_sec, workload.period_sec = 0.0, 0.0
  # Targets of 0 accuracy are met at the first eval: training stops after step 1.
  workload.config = type(workload.config)(**{**workload.config.__dict__, 'validation_target_value': 0.0,
                                             'test_target_value': 0.0})
  _, info, _ = _train(tmp_path, workload, {'mode': 'sleep', 'sleep_sec': 0.0}, max_global_steps=100)
  assert info['global_step'] == 1


def _run(tmp_path, points, max_global_steps=50, seed=0, name='run'):
  space = tmp_path / f'{name}.json'
  space.write_text(json.dumps(points))
  return runner.score_submission_on_workload(
      FAULTY, 'mnist', 'pytorch', 'external', str(space), len(points), DATA_DIR, str(tmp_path / name), seed,
      'smoke', 'v0.6', max_global_steps=max_global_steps)


def test_crashed_and_diverged_trials_are_recorded_and_the_study_goes_on(tmp_path):
  results = _run(tmp_path, [{'mode': 'diverge'}, {'mode': 'crash'}, {'mode': 'sleep', 'sleep_sec': 0.0}])
  assert [r.status for r in results] == ['diverged', 'failed', 'completed']
  assert 'nan' in results[0].reason.lower()
  with open(os.path.join(results[1].trial_dir, 'trial.log')) as f:
    log = f.read()
  assert 'deliberate failure at step 3' in log and 'Traceback' in log
  for result in results:
    with open(os.path.join(result.trial_dir, 'status.json')) as f:
      assert json.load(f)['status'] == result.status
  assert results[2].global_step == 50


def test_each_trial_has_its_own_seed_and_reruns_repeat(tmp_path):
  points = [{'mode': 'sleep', 'sleep_sec': 0.0}] * 2
  first = _run(tmp_path, points, max_global_steps=30, seed=7, name='a')
  again = _run(tmp_path, points, max_global_steps=30, seed=7, name='b')
  seeds = [json.load(open(os.path.join(r.trial_dir, 'meta_data_0.json')))['rng_seed'] for r in first + again]
  assert seeds[0] != seeds[1] and seeds[:2] == seeds[2:]
  assert first[0].last_eval['validation/loss'] != first[1].last_eval['validation/loss']
  assert [r.last_eval['validation/loss'] for r in first] == [r.last_eval['validation/loss'] for r in again]


def test_trial_seeds_depend_on_every_coordinate():
  base = tuning.trial_seed(0, 'sub', 'mnist', 0, 0)
  others = [tuning.trial_seed(1, 'sub', 'mnist', 0, 0), tuning.trial_seed(0, 'other', 'mnist', 0, 0),
            tuning.trial_seed(0, 'sub', 'cifar', 0, 0), tuning.trial_seed(0, 'sub', 'mnist', 1, 0),
            tuning.trial_seed(0, 'sub', 'mnist', 0, 1)]
  assert base not in others and len(set(others)) == len(others)
  assert base == tuning.trial_seed(0, 'sub', 'mnist', 0, 0)


def test_submission_missing_a_function_is_named_before_training(tmp_path):
  path = tmp_path / 'incomplete.py'
  path.write_text('def get_batch_size(name):\n  return 8\n\ndef data_selection(*a):\n  pass\n')
  with pytest.raises(submission_loader.SubmissionError, match='init_optimizer_state, update_params'):
    submission_loader.load_submission(str(path))


def test_malformed_search_space_names_the_key_and_the_file(tmp_path):
  path = tmp_path / 'space.json'
  path.write_text(json.dumps({'learning_rate': {'min': 1e-3, 'scaling': 'log'}}))
  with pytest.raises(ValueError, match=r'space\.json.*"learning_rate" needs "min" and "max"'):
    tuning.load_search_space(str(path))
  path.write_text(json.dumps({'learning_rate': {'min': 0.0, 'max': 1.0, 'scaling': 'log'}}))
  with pytest.raises(ValueError, match='"learning_rate" uses log scaling'):
    tuning.load_search_space(str(path))
  path.write_text('[{"lr": [1, 2]}]')
  with pytest.raises(ValueError, match='point 0 key "lr"'):
    tuning.load_search_space(str(path))


def test_batch_size_must_divide_over_the_devices():
  submission = submission_loader.load_submission(FAULTY)
  workload = MnistWorkload(scale='smoke')
  with pytest.raises(submission_loader.SubmissionError, match='not divisible by the 3 devices'):
    trials_lib.get_batch_sizes(submission, 'mnist', 'mnist', workload, 3)
  assert trials_lib.get_batch_sizes(submission, 'mnist', 'mnist', workload, 2) == (32, 500)


def test_upstream_format_submission_runs_unchanged_from_any_folder(tmp_path):
  folder = tmp_path / 'elsewhere' / 'my_algorithm'
  folder.mkdir(parents=True)
  for name in ('submission.py', 'tuning_search_space.json', '__init__.py'):
    (folder / name).write_text(open(os.path.join(os.path.dirname(UPSTREAM), name)).read())
  results = runner.score_submission_on_workload(
      str(folder / 'submission.py'), 'mnist', 'pytorch', 'external', str(folder / 'tuning_search_space.json'),
      2, DATA_DIR, str(tmp_path / 'logs'), 0, 'smoke', 'v0.6', max_global_steps=200)
  assert [r.status for r in results] == ['completed', 'completed']
  assert all(r.last_eval['validation/accuracy'] > 0.5 for r in results)  # SGD learned something.
  assert json.load(open(os.path.join(results[1].trial_dir, 'hparams.json'))) == {'learning_rate': 0.05,
                                                                                  'momentum': 0.5}


def test_self_tuning_runs_one_trial_without_hyperparameters(tmp_path):
  path = os.path.join(ROOT, 'submissions', 'self_tuning', 'nadamw_baseline', 'pytorch_submission.py')
  with pytest.raises(ValueError, match='Self-tuning takes no search space'):
    runner.score_submission_on_workload(path, 'mnist', 'pytorch', 'self', FAULTY, 1, DATA_DIR, str(tmp_path), 0,
                                        'smoke', 'v0.6')
  results = runner.score_submission_on_workload(path, 'mnist', 'pytorch', 'self', None, 5, DATA_DIR,
                                                str(tmp_path / 'self'), 0, 'smoke', 'v0.6', max_global_steps=20)
  assert len(results) == 1 and results[0].status == 'completed' and results[0].global_step == 20
  assert not os.path.exists(os.path.join(results[0].trial_dir, 'hparams.json'))


def test_runner_and_benchmark_give_the_same_trial_the_same_seed(tmp_path):
  from tools import benchmark  # pylint: disable=import-outside-toplevel
  path = os.path.join(ROOT, 'submissions', 'external_tuning', 'nadamw_baseline', 'pytorch_submission.py')
  specs = benchmark.make_plans(str(tmp_path / 'bench'), ['nadamw_baseline'], ['mnist'], ['pytorch'], 'external',
                               num_studies=2, num_trials=2, seed=11, rules_version='v0.6', scale='smoke',
                               data_dir=DATA_DIR)
  wanted = [s for s in specs if s.trial_dir.endswith(os.path.join('study_1', 'mnist_pytorch', 'trial_2'))]
  assert len(wanted) == 1 and len({s.seed for s in specs}) == len(specs)
  # The runner, pointed at the same study folder, runs trial 2 of study 1 with the benchmark's seed.
  results = runner.score_submission_on_workload(
      path, 'mnist', 'pytorch', 'external', os.path.join(os.path.dirname(path), 'tuning_search_space.json'), 2,
      DATA_DIR, str(tmp_path / 'runner'), 11, 'smoke', 'v0.6', max_global_steps=1, hparam_start_index=1,
      study=trials_lib.study_index('study_1'))
  meta = json.load(open(os.path.join(results[0].trial_dir, 'meta_data_0.json')))
  assert results[0].trial_dir.endswith('trial_2') and meta['rng_seed'] == wanted[0].seed
  assert trials_lib.study_index('study_12') == 12 and trials_lib.study_index('nadamw') == 0


class FakeClock:
  """Virtual time: the host advances it; 'device' work queued by a step is seen only by a synced read."""
  t = 0.0
  pending = 0.0

  def __init__(self, framework):
    del framework

  def now(self, outputs=None):
    if outputs is not None:
      FakeClock.t += FakeClock.pending
      FakeClock.pending = 0.0
    return FakeClock.t

  def lap(self, outputs=None):
    del outputs
    return FakeClock.t


class FakeTimeMnist(MnistWorkload):
  period_sec = 2.5

  @property
  def eval_period_time_sec(self):
    return self.period_sec

  def eval_model(self, *args, **kwargs):
    FakeClock.t += 10.0
    return {'validation/accuracy': 0.1, 'validation/loss': 2.3, 'test/accuracy': 0.1}


def _fake_time_submission():
  def update_params(workload, current_param_container, current_params_types, model_state, hyperparameters,
                    batch, loss_type, optimizer_state, eval_results, global_step, rng):
    FakeClock.t += 1.0  # Host time of the step...
    FakeClock.pending += 0.1  # ...and device work it queued, seen only when the clock syncs.
    return optimizer_state, current_param_container, model_state

  def prepare_for_eval(workload, current_param_container, current_params_types, model_state, hyperparameters,
                       loss_type, optimizer_state, eval_results, global_step, rng):
    FakeClock.t += 0.5
    return optimizer_state, current_param_container, model_state

  return types.SimpleNamespace(
      init_optimizer_state=lambda *a: {}, update_params=update_params, prepare_for_eval=prepare_for_eval,
      data_selection=lambda workload, queue, *a: None, get_batch_size=lambda name: 32)


@pytest.mark.parametrize('version,expected_scores', [
    # Hand-worked: step 1 (1.0 s + 0.1 s synced at the gate) -> eval; steps 2-4 (1.0 s each, 0.3 s queued
    # and synced at the final gate). v0.6 adds prepare_for_eval's 0.5 s before each of the two evals.
    ('v0.6', [1.6, 5.4]),
    ('v0.5', [1.1, 4.4]),
])
def test_exact_submission_time_with_a_fake_clock(tmp_path, monkeypatch, version, expected_scores):
  monkeypatch.setattr(training_loop, 'Clock', FakeClock)
  FakeClock.t, FakeClock.pending = 100.0, 0.0
  config = training_loop.TrialConfig(framework='pytorch', ruleset='external', rules=rules_lib.get_rules(version),
                                     data_dir=DATA_DIR, max_global_steps=4, save_checkpoints=False, progress=None)
  time_sec, info = training_loop.train_once(FakeTimeMnist(scale='smoke'), _fake_time_submission(), 32, 500, None,
                                            0, str(tmp_path), config)
  scores = [metrics['accumulated_submission_time'] for _, metrics in info['eval_results']]
  assert [step for step, _ in info['eval_results']] == [1, 4]
  assert scores == pytest.approx(expected_scores, abs=1e-9)
  assert time_sec == pytest.approx(expected_scores[-1], abs=1e-9)
  assert info['eval_results'][-1][1]['accumulated_eval_time'] == pytest.approx(20.0, abs=1e-9)


def _batch_recording_submission(draws_per_step, seen, crash_at_step=None):
  """Draws several batches per step (as the v0.5 LAWA form does) and records a fingerprint of each."""
  def data_selection(workload, input_queue, *args):
    batches = [next(input_queue) for _ in range(draws_per_step)]
    seen.extend(float(b['inputs'].sum()) for b in batches)
    return batches[-1]

  def update_params(workload, current_param_container, current_params_types, model_state, hyperparameters,
                    batch, loss_type, optimizer_state, eval_results, global_step, rng):
    if global_step == crash_at_step:
      raise RuntimeError('planted crash')
    FakeClock.t += 1.0
    return optimizer_state, current_param_container, model_state

  return types.SimpleNamespace(init_optimizer_state=lambda *a: {}, update_params=update_params,
                               data_selection=data_selection, get_batch_size=lambda name: 32)


def test_a_resumed_trial_continues_from_the_batches_drawn_not_the_steps(tmp_path, monkeypatch):
  """A submission drawing 3 batches per step, crashed after its step-5 checkpoint and resumed, sees batches
  15, 16, ... as the uninterrupted run did (replaying one batch per step would hand it batches 5, 6, ...)."""
  monkeypatch.setattr(training_loop, 'Clock', FakeClock)
  monkeypatch.setattr(FakeTimeMnist, 'period_sec', 0.5)  # An eval and a checkpoint after every step.
  config = training_loop.TrialConfig(framework='pytorch', ruleset='external', rules=rules_lib.get_rules('v0.6'),
                                     data_dir=DATA_DIR, max_global_steps=8, progress=None)
  uninterrupted = []
  FakeClock.t, FakeClock.pending = 0.0, 0.0
  os.makedirs(tmp_path / 'uninterrupted')
  training_loop.train_once(FakeTimeMnist(scale='smoke'), _batch_recording_submission(3, uninterrupted), 32, 500,
                           None, 0, str(tmp_path / 'uninterrupted'), config)
  assert len(uninterrupted) == 24

  trial_dir = str(tmp_path / 'resumed')
  os.makedirs(trial_dir)
  first = []
  with pytest.raises(RuntimeError, match='planted crash'):
    training_loop.train_once(FakeTimeMnist(scale='smoke'), _batch_recording_submission(3, first, crash_at_step=5),
                             32, 500, None, 0, trial_dir, config)
  assert first == uninterrupted[:18]  # Step 5 drew its batches, then crashed; the last checkpoint is step 5's.
  resumed = []
  _, info = training_loop.train_once(FakeTimeMnist(scale='smoke'), _batch_recording_submission(3, resumed), 32,
                                     500, None, 0, trial_dir, config)
  assert info['global_step'] == 8
  assert resumed == uninterrupted[15:]


@pytest.mark.parametrize('period_sec', [0.0, 25.0])
def test_checkpoints_after_evals_keep_their_wall_period_and_the_last_is_the_end(tmp_path, monkeypatch, period_sec):
  """Fake clock: a step is 1 s, an eval 10 s, an eval gate every 0.5 s of submission time (so after every step).
  Period 0 saves after each of the 11 evals, as upstream; 25 s saves only once 25 s have passed since the
  trial started or the last save (every third eval), and always at the end."""
  monkeypatch.setattr(training_loop, 'Clock', FakeClock)
  monkeypatch.setattr(FakeTimeMnist, 'period_sec', 0.5)
  saves = []  # (clock time, step) of every checkpoint.
  monkeypatch.setattr(training_loop.checkpoint_utils, 'save_checkpoint',
                      lambda *args: saves.append((FakeClock.t, args[7])))
  FakeClock.t, FakeClock.pending = 0.0, 0.0
  config = training_loop.TrialConfig(framework='pytorch', ruleset='external', rules=rules_lib.get_rules('v0.6'),
                                     data_dir=DATA_DIR, max_global_steps=11, checkpoint_period_sec=period_sec,
                                     progress=None)
  _, info = training_loop.train_once(FakeTimeMnist(scale='smoke'), _batch_recording_submission(1, []), 32, 500,
                                     None, 0, str(tmp_path), config)
  assert [step for step, _ in info['eval_results']] == list(range(1, 12))
  steps = [step for _, step in saves]
  if period_sec == 0.0:
    assert steps == list(range(1, 12)) + [11]
  else:  # Eval k ends at 11 k s: saves at 33, 66 and 99 s (steps 3, 6, 9), then the end (step 11, 121 s).
    assert steps == [3, 6, 9, 11]
    assert all(b - a >= period_sec for (a, _), (b, _) in zip(saves[:-2], saves[1:-1]))
