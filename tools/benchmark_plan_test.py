"""The benchmark's plan: suites expand to the right trials, published frameworks and skips, resuming skips
finished trials, --compare_kernels doubles exactly the kernel-using trials with ALGOPERF_KERNELS=off."""
import json
import os
import time

import pytest

from algoperf import rules as rules_lib
from algoperf import trials as trials_lib
from tools import benchmark
from tools import plan as plan_lib
from tools import suite as suite_lib

SEARCH_SPACE = {'learning_rate': {'min': 1e-4, 'max': 1e-2, 'scaling': 'log'}}


def real_submissions(ruleset):
  root = os.path.join(plan_lib.SUBMISSIONS_DIR, f'{ruleset}_tuning')
  return [n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, 'jax_submission.py'))]


def fake_submission(root, ruleset, name, published, files=('jax', 'pytorch'), kernels=()):
  folder = root / f'{ruleset}_tuning' / name
  folder.mkdir(parents=True)
  for fw in files:
    (folder / f'{fw}_submission.py').write_text('# fake\n')
  if ruleset == 'external':
    (folder / 'tuning_search_space.json').write_text(json.dumps(SEARCH_SPACE))
  (folder / 'submission_info.json').write_text(json.dumps(
      {'published_framework': published, 'kernel_frameworks': list(kernels)}))


def test_every_suite_file_loads():
  assert {'quick', 'lite', 'full'} <= set(suite_lib.names())
  for name in suite_lib.names():
    suite_lib.load(name)


def test_quick_suite_is_four_lite_workloads_one_study_the_rules_trials():
  s = suite_lib.settings('quick')
  assert s.workloads == ['mnist', 'criteo1tb', 'ogbg', 'fastmri'] and s.scale == 'lite'
  assert s.num_studies == 1 and s.rulesets == ['external', 'self']
  assert s.trials_per_study == {'external': rules_lib.get_rules(s.rules_version).num_trials, 'self': 1}


def test_quick_plan_covers_every_submission_once_in_its_published_framework(tmp_path):
  plan = plan_lib.make_plan(str(tmp_path), suite_lib.settings('quick'), None, 'published', 0, data_dir='d')
  n_ext, n_self = len(real_submissions('external')), len(real_submissions('self'))
  assert n_ext >= 11 and n_self >= 6
  assert len(plan.trials) == n_ext * 4 * 1 * 5 + n_self * 4 * 1 * 1 and not plan.skipped
  assert all(t.state == 'new' for t in plan.trials)
  for t in plan.trials:
    info = plan_lib.submission_info(t.ruleset, t.submission)
    assert t.spec.framework == info.published_framework
    # One framework per submission: upstream's plain folder names.
    assert f'{os.sep}{t.submission}{os.sep}study_0{os.sep}' in t.spec.trial_dir
  assert len({t.spec.trial_dir for t in plan.trials}) == len(plan.trials)
  # Workload-major order: an interrupted run has whole workloads.
  order = [t.spec.workload for t in plan.trials]
  assert order == sorted(order, key=['mnist', 'criteo1tb', 'ogbg', 'fastmri'].index)


def test_lite_and_full_suites_expand_with_the_rules(tmp_path):
  lite = suite_lib.settings('lite')  # v0.5 by default: the held-out variants exist only there
  held_out = rules_lib.get_rules('v0.5').held_out
  assert len(lite.workloads) == 8 + 6 and set(held_out.values()) < set(lite.workloads)
  assert (lite.num_studies, lite.trials_per_study) == (5, {'external': 5, 'self': 1})
  plan = plan_lib.make_plan(str(tmp_path), lite, ['nadamw_baseline'], 'published', 0, data_dir='d')
  assert len(plan.trials) == 14 * 5 * 5 + 14 * 5
  full = suite_lib.settings('full')
  assert (full.scale, full.rules_version, len(full.workloads), full.num_studies) == ('full', 'v0.6', 8, 3)
  assert len(suite_lib.settings('full', rules_version='v0.5').workloads) == 14
  assert suite_lib.settings('lite', rules_version='v0.6').workloads == lite.workloads[:8]


def test_explicit_flags_override_the_suite():
  s = suite_lib.settings('quick', workloads=['mnist'], num_studies=2, num_trials=3, rulesets=['self'],
                         scale='smoke', rules_version='v0.5')
  assert (s.workloads, s.num_studies, s.trials_per_study, s.scale, s.rules_version) == (
      ['mnist'], 2, {'self': 1}, 'smoke', 'v0.5')
  assert suite_lib.settings('quick', num_trials=3).trials_per_study == {'external': 3, 'self': 1}


def test_a_bad_suite_file_names_the_key(tmp_path):
  (tmp_path / 'bad.json').write_text(json.dumps({'workloads': ['mnist'], 'scale': 'huge'}))
  with pytest.raises(ValueError, match='missing key.*description'):
    suite_lib.load('bad', str(tmp_path))
  with pytest.raises(ValueError, match="Unknown suite 'nope'"):
    suite_lib.load('nope')


def test_published_framework_and_the_skipped_line(tmp_path):
  subs = tmp_path / 'subs'
  fake_submission(subs, 'external', 'jax_only_but_published_in_pytorch', 'pytorch', files=('jax',))
  fake_submission(subs, 'external', 'jaxy', 'jax')
  settings = suite_lib.Settings('t', '', ['mnist'], 'smoke', 1, {'external': 2}, ['external'], 'v0.6')
  plan = plan_lib.make_plan(str(tmp_path / 'exp'), settings, None, 'published', 0,
                            submissions_dir=str(subs), data_dir='d')
  assert [(t.submission, t.spec.framework) for t in plan.trials] == [('jaxy', 'jax')] * 2
  assert [s.line() for s in plan.skipped] == [
      'skipped: jax_only_but_published_in_pytorch (external tuning, pytorch): no pytorch version '
      '(pytorch_submission.py is missing)']
  both = plan_lib.make_plan(str(tmp_path / 'exp2'), settings, None, 'both', 0,
                            submissions_dir=str(subs), data_dir='d')
  assert len(both.trials) == 2 + 2 * 2 and len(both.skipped) == 1
  assert {os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(t.spec.trial_dir))))
          for t in both.trials} == {'jaxy_jax', 'jaxy_pytorch', 'jax_only_but_published_in_pytorch_jax'}


def test_every_real_submission_says_its_published_framework_and_has_that_file():
  for ruleset in ('external', 'self'):
    for name in real_submissions(ruleset):
      info = plan_lib.submission_info(ruleset, name)
      folder = os.path.join(plan_lib.SUBMISSIONS_DIR, f'{ruleset}_tuning', name)
      assert os.path.exists(os.path.join(folder, f'{info.published_framework}_submission.py'))


def write_status(trial_dir, status):
  os.makedirs(trial_dir, exist_ok=True)
  with open(os.path.join(trial_dir, 'status.json'), 'w') as f:
    json.dump({'status': status}, f)


def test_resume_skips_finished_trials_and_resumes_unfinished_ones(tmp_path):
  settings = suite_lib.Settings('t', '', ['mnist'], 'smoke', 1, {'external': 5}, ['external'], 'v0.6')
  first = plan_lib.make_plan(str(tmp_path), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  assert [t.state for t in first.trials] == ['new'] * 5
  dirs = [t.spec.trial_dir for t in first.trials]
  write_status(dirs[0], 'completed')
  write_status(dirs[1], 'diverged')
  write_status(dirs[2], 'failed')
  os.makedirs(dirs[3])
  open(os.path.join(dirs[3], 'flags_0.json'), 'w').write('{}')  # started, killed before it ended
  again = plan_lib.make_plan(str(tmp_path), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  assert [t.state for t in again.trials] == ['completed', 'diverged', 'failed', 'resume', 'new']
  assert [t.spec.trial_dir for t in again.to_run] == dirs[3:]
  assert [t.spec for t in again.trials] == [t.spec for t in first.trials]  # same seeds and hyperparameters
  retry = plan_lib.make_plan(str(tmp_path), settings, ['nadamw_baseline'], 'jax', 0, retry_failed=True,
                             data_dir='d')
  assert [t.spec.trial_dir for t in retry.to_run] == dirs[2:]


def test_the_default_folder_is_the_same_for_the_same_command():
  a = benchmark.default_experiment_dir('quick', 'v0.6', 'published', 0, {'workloads': None})
  assert a == os.path.join(benchmark.EXPERIMENTS_ROOT, 'quick-v0.6-published')
  assert a == benchmark.default_experiment_dir('quick', 'v0.6', 'published', 0, {'workloads': None})
  b = benchmark.default_experiment_dir('quick', 'v0.6', 'published', 0, {'workloads': ['mnist']})
  c = benchmark.default_experiment_dir('quick', 'v0.6', 'published', 0, {'workloads': ['ogbg']})
  assert len({a, b, c}) == 3 and b.startswith(a + '-')


def test_compare_kernels_doubles_only_kernel_trials(tmp_path):
  subs = tmp_path / 'subs'
  fake_submission(subs, 'external', 'fused', 'jax', kernels=('jax', 'pytorch'))
  fake_submission(subs, 'external', 'plain', 'pytorch', kernels=())
  fake_submission(subs, 'self', 'fused_self', 'pytorch', kernels=('jax',))  # its pytorch version: no kernels
  settings = suite_lib.Settings('t', '', ['mnist'], 'smoke', 1, {'external': 2, 'self': 1},
                                ['external', 'self'], 'v0.6')
  exp = str(tmp_path / 'exp')
  plan = plan_lib.make_plan(exp, settings, None, 'published', 0, compare_kernels=True,
                            submissions_dir=str(subs), data_dir='d')
  off = [t for t in plan.trials if t.kernels_off]
  assert [(t.submission, t.spec.framework) for t in off] == [('fused', 'jax')] * 2
  on = [t for t in plan.trials if t.submission == 'fused' and not t.kernels_off]
  for a, b in zip(on, off):
    assert b.spec.env == {'ALGOPERF_KERNELS': 'off'} and a.spec.env == {}
    assert (a.spec.seed, a.spec.hyperparameters) == (b.spec.seed, b.spec.hyperparameters)
    assert b.spec.trial_dir == a.spec.trial_dir.replace(exp, os.path.join(exp, 'kernels_off'))
  assert len(plan.trials) == 2 + 2 + 2 + 1
  without = plan_lib.make_plan(exp, settings, None, 'published', 0,
                            submissions_dir=str(subs), data_dir='d')
  assert not any(t.kernels_off for t in without.trials)


def test_trial_env_is_set_at_import_and_restored_after(tmp_path, monkeypatch):
  monkeypatch.delenv('ALGOPERF_KERNELS', raising=False)
  monkeypatch.setenv('ALGOPERF_PLAN_TEST', 'before')
  seen = tmp_path / 'seen.json'
  submission = tmp_path / 'sub' / 'pytorch_submission.py'
  submission.parent.mkdir()
  # Records the environment it was imported under, then fails the submission check (no API functions).
  submission.write_text('import json, os\n'
                        f'json.dump([os.environ.get("ALGOPERF_KERNELS"), os.environ.get("ALGOPERF_PLAN_TEST")], '
                        f'open({str(seen)!r}, "w"))\n')
  spec = trials_lib.TrialSpec(str(submission), 'mnist', 'pytorch', 'self', 'v0.6', 'smoke', str(tmp_path),
                              str(tmp_path / 'trial'), 0, env={'ALGOPERF_KERNELS': 'off', 'ALGOPERF_PLAN_TEST': 'x'})
  with pytest.raises(Exception):
    trials_lib.run_trial(spec)
  assert json.loads(seen.read_text()) == ['off', 'x']
  assert 'ALGOPERF_KERNELS' not in os.environ and os.environ['ALGOPERF_PLAN_TEST'] == 'before'


def test_estimate_uses_history_else_the_budget_bound(tmp_path):
  settings = suite_lib.Settings('t', '', ['mnist'], 'lite', 1, {'external': 2, 'self': 1},
                                ['external', 'self'], 'v0.6')
  plan = plan_lib.make_plan(str(tmp_path / 'exp'), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  budget = plan_lib.workload_budget_sec('mnist', 'lite', 'v0.6')
  assert budget and budget > 0
  est, each = plan_lib.estimate(plan.to_run, 'lite', 'v0.6')
  assert each == [budget + plan_lib.STARTUP_SEC] * 2 + [1.5 * budget + plan_lib.STARTUP_SEC]
  assert (est.bounded, est.measured) == (3, 0) and est.per_workload == {'mnist': sum(each)}
  past = {('mnist', 'jax', 'lite', 'v0.6', 'external'): [(4.0, budget), (6.0, budget), (100.0, None)]}
  est, each = plan_lib.estimate(plan.to_run, 'lite', 'v0.6', past)
  assert each[:2] == [5.0, 5.0] and (est.measured, est.bounded) == (2, 1)  # 100 s: budget unknown, left out
  # Trials under today's budget count alone; with none, the others count scaled by the budgets' ratio.
  past = {('mnist', 'jax', 'lite', 'v0.6', 'external'): [(4.0, budget), (50.0, 2 * budget)]}
  assert plan_lib.estimate(plan.to_run, 'lite', 'v0.6', past)[1][:2] == [4.0, 4.0]
  past = {('mnist', 'jax', 'lite', 'v0.6', 'external'): [(10.0, 2 * budget), (30.0, budget / 2), (7.0, None)]}
  assert plan_lib.estimate(plan.to_run, 'lite', 'v0.6', past)[1][:2] == [7.0, 7.0]  # median of 5, 60, 7


def test_history_reads_finished_trial_folders(tmp_path):
  trial = tmp_path / 'old' / 'self_tuning' / 'sub' / 'study_0' / 'ogbg_pytorch' / 'trial_1'
  trial.mkdir(parents=True)
  (trial / 'flags_0.json').write_text(json.dumps({'scale': 'lite', 'rules_version': 'v0.6'}))
  (trial / 'status.json').write_text(json.dumps({'status': 'completed'}))
  os.utime(trial / 'flags_0.json', (1000, 1000))
  os.utime(trial / 'status.json', (1042, 1042))
  assert plan_lib.history(str(tmp_path)) == {('ogbg', 'pytorch', 'lite', 'v0.6', 'self'): [(42.0, None)]}
  (trial / 'meta_data_0.json').write_text(json.dumps({'workload.max_allowed_runtime_sec': 5}))
  assert plan_lib.history(str(tmp_path)) == {('ogbg', 'pytorch', 'lite', 'v0.6', 'self'): [(42.0, 5.0)]}


def test_only_whole_workloads_count_as_finished(tmp_path):
  settings = suite_lib.Settings('t', '', ['mnist', 'criteo1tb'], 'smoke', 1, {'external': 2}, ['external'], 'v0.6')
  plan = plan_lib.make_plan(str(tmp_path), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  dirs = {(t.spec.workload, t.spec.trial_dir.rsplit('_', 1)[1]): t.spec.trial_dir for t in plan.trials}
  write_status(dirs[('mnist', '1')], 'completed')
  write_status(dirs[('mnist', '2')], 'failed')
  write_status(dirs[('criteo1tb', '1')], 'diverged')
  assert plan_lib.finished_workloads(plan, 'external') == (['mnist'], {'criteo1tb': '1/2 finished'})
  assert plan_lib.finished_workloads(plan, 'external', retry_failed=True) == (
      [], {'mnist': '1/2 finished', 'criteo1tb': '1/2 finished'})


def test_a_base_workload_is_scored_only_with_its_held_out_variant():
  held_out = {'criteo1tb': 'criteo1tb_embed_init', 'fastmri': 'fastmri_tanh'}
  complete = ['criteo1tb', 'fastmri', 'ogbg', 'fastmri_tanh']
  unfinished = {'criteo1tb_embed_init': '0/25 finished', 'wmt': '3/25 finished'}
  assert plan_lib.scorable_workloads(complete, unfinished, held_out) == (['fastmri', 'ogbg'], ['criteo1tb'])
  assert plan_lib.scorable_workloads(complete, unfinished, {}) == (complete, [])  # v0.6: no variants


def write_meta(trial_dir, **fields):
  os.makedirs(trial_dir, exist_ok=True)
  with open(os.path.join(trial_dir, 'meta_data_0.json'), 'w') as f:
    json.dump({f'workload.{name}': value for name, value in fields.items()}, f)


def test_trials_run_under_other_targets_or_budgets_are_stale(tmp_path):
  settings = suite_lib.Settings('t', '', ['mnist'], 'smoke', 1, {'external': 2}, ['external'], 'v0.6')
  plan = plan_lib.make_plan(str(tmp_path), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  assert plan_lib.stale_trials(plan) == {}  # Nothing started yet.
  now = plan_lib.current_run_rules('mnist', 'jax', 'smoke', 'v0.6')
  assert now['max_allowed_runtime_sec'] == 600 and now['eval_period_time_sec'] == 1  # workloads/mnist smoke
  first, second = (t.spec.trial_dir for t in plan.trials)
  write_meta(first, **now)
  write_status(first, 'completed')
  again = plan_lib.make_plan(str(tmp_path), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  assert plan_lib.stale_trials(again) == {}  # Same rules: the run continues.
  write_meta(second, **dict(now, max_allowed_runtime_sec=900))  # Started under an older budget, unfinished.
  again = plan_lib.make_plan(str(tmp_path), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  assert plan_lib.stale_trials(again) == {'mnist': 'max_allowed_runtime_sec 900 (now 600)'}


def test_the_reference_walls_stand_in_for_missing_history(tmp_path):
  settings = suite_lib.Settings('t', '', ['mnist'], 'lite', 1, {'external': 2}, ['external'], 'v0.6')
  plan = plan_lib.make_plan(str(tmp_path / 'exp'), settings, ['nadamw_baseline'], 'jax', 0, data_dir='d')
  budget = plan_lib.workload_budget_sec('mnist', 'lite', 'v0.6')
  key = ('mnist', 'jax', 'lite', 'v0.6', 'external')
  reference = {key: [(2.0, budget), (3.0, budget), (9.0, budget)]}
  est, each = plan_lib.estimate(plan.to_run, 'lite', 'v0.6', {}, reference)
  assert each == [3.0, 3.0] and (est.referenced, est.measured, est.bounded) == (2, 0, 0)
  est, each = plan_lib.estimate(plan.to_run, 'lite', 'v0.6', {key: [(5.0, budget)]}, reference)
  assert each == [5.0, 5.0] and (est.referenced, est.measured) == (0, 2)  # This machine's own history first.


def test_reference_walls_round_trip(tmp_path):
  trial = tmp_path / 'exp' / 'external_tuning' / 'sub' / 'study_0' / 'ogbg_jax' / 'trial_1'
  trial.mkdir(parents=True)
  (trial / 'flags_0.json').write_text(json.dumps({'scale': 'lite', 'rules_version': 'v0.6'}))
  (trial / 'meta_data_0.json').write_text(json.dumps({'workload.max_allowed_runtime_sec': 7.5}))
  (trial / 'status.json').write_text(json.dumps({'status': 'completed'}))
  os.utime(trial / 'flags_0.json', (1000, 1000))
  os.utime(trial / 'status.json', (1009.25, 1009.25))
  path = str(tmp_path / 'reference_walls.json')
  assert plan_lib.write_reference_walls(str(tmp_path / 'exp'), {'cpu_count': 2, 'cpu_model': 'X'}, 'test', path) == 1
  today = time.strftime('%Y-%m-%d', time.gmtime())
  assert plan_lib.load_reference(path) == ({('ogbg', 'jax', 'lite', 'v0.6', 'external'): [(9.25, 7.5)]},
                                           f'{tmp_path.name}/reference_walls.json: 2 CPUs, X, {today}')
  assert plan_lib.load_reference(str(tmp_path / 'missing.json'))[0] == {}


def test_the_committed_reference_covers_the_default_main_job(tmp_path):
  settings = suite_lib.settings('quick')
  plan = plan_lib.make_plan(str(tmp_path), settings, None, 'published', 0, data_dir='d')
  reference, _ = plan_lib.load_reference()
  keys = {(t.spec.workload, t.spec.framework, settings.scale, settings.rules_version, t.ruleset) for t in plan.to_run}
  missing = sorted(key for key in keys if not reference.get(key))
  assert not missing, f'run the main job with --write_reference_walls: no reference wall times for {missing}'
