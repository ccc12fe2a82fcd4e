"""tools/set_targets at smoke scale: a well-formed targets file with provenance, and a rerun that runs nothing."""
import json
import os
import shutil
import subprocess
import sys

from tools.testing.child_env import child_env

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA_DIR = os.environ.get('MNIST_SMOKE_DATA_DIR', os.path.join(ROOT, 'tools', 'datasets', 'smoke'))


def _command(output, experiment_dir, *extra):
  return [sys.executable, os.path.join(ROOT, 'tools', 'set_targets.py'), '--workload=mnist', '--scale=smoke',
          '--num_trials=1', '--num_seeds=3', '--steps=4', '--eval_period_sec=0.01', f'--output={output}',
          f'--experiment_dir={experiment_dir}', f'--data_dir={DATA_DIR}', *extra]


def _run(output, experiment_dir, *extra):
  env = child_env(JAX_PLATFORMS='cpu')
  proc = subprocess.run(_command(output, experiment_dir, *extra), capture_output=True, text=True, env=env,
                        timeout=600, check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return proc.stdout


def test_protocol_writes_targets_with_provenance_and_resumes(tmp_path):
  output, experiment_dir = str(tmp_path / 'targets.json'), str(tmp_path / 'runs')
  first = _run(output, experiment_dir)
  assert '0 of 7 runs already recorded' in first and '[7/7] mnist rerun/seed_3' in first
  assert '[probe] mnist jax:' in first and '[probe] mnist pytorch:' in first
  with open(output) as f:
    record = json.load(f)
  # Step 0: the protocol ran in the framework whose probe (nadamw's first point) took longer.
  probe = record['framework_probe']
  times = {fw: probe['runs'][fw]['submission_time'] for fw in ('jax', 'pytorch')}
  assert probe['chosen'] == record['settings']['framework'] == max(times, key=times.get)
  assert all(r['global_step'] == 4 for r in probe['runs'].values())
  assert probe['runs']['jax']['hyperparameters'] == record['runs']['nadamw/trial_1']['hyperparameters']
  runs = record['runs']
  assert sorted(runs) == sorted([f'{a}/trial_1' for a in ('adamw', 'nadamw', 'nesterov', 'momentum')] +
                                [f'rerun/seed_{k}' for k in (1, 2, 3)])
  assert all(r['status'] == 'completed' and r['global_step'] == 4 and r['curve'] for r in runs.values())
  search = [runs[f'{a}/trial_1'] for a in ('adamw', 'nadamw', 'nesterov', 'momentum')]
  best = max(search, key=lambda r: r['best_validation'])
  assert record['best_configuration']['hyperparameters'] == best['hyperparameters']
  reruns = [runs[f'rerun/seed_{k}'] for k in (1, 2, 3)]
  assert all(r['hyperparameters'] == best['hyperparameters'] for r in reruns)
  assert len({r['seed'] for r in reruns}) == 3
  targets = record['targets']
  # The file's targets follow from its own runs: median best validation, step hint 4 / 0.75.
  assert targets['validation_target_value'] == sorted(r['best_validation'] for r in reruns)[1]
  assert targets['step_hint'] == 5 and targets['target_metric'] == 'accuracy'
  invocation = record['provenance']['invocations'][0]
  assert '--workload=mnist' in invocation['command'] and len(invocation['load_average_at_start']) == 3
  assert invocation['machine']['cpu_count'] and 'finished' in invocation
  cpuinfo = open('/proc/cpuinfo').read() if os.path.exists('/proc/cpuinfo') else ''
  if 'model name' in cpuinfo:  # x86 Linux names its CPU there (ARM's cpuinfo does not): the record must too.
    assert invocation['machine']['cpu_model'] and f": {invocation['machine']['cpu_model']}\n" in cpuinfo

  shutil.rmtree(experiment_dir)  # A rerun that trained anything would recreate trial folders.
  second = _run(output, experiment_dir)
  assert '7 of 7 runs already recorded' in second and 'rerun/seed_1:' not in second and '[probe]' not in second
  assert not os.path.exists(experiment_dir)
  with open(output) as f:
    again = json.load(f)
  assert again['runs'] == runs and again['targets'] == targets
  assert len(again['provenance']['invocations']) == 2

  other = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'set_targets.py'), '--workload=mnist',
                          '--scale=smoke', '--num_trials=2', f'--output={output}', f'--data_dir={DATA_DIR}'],
                         capture_output=True, text=True, check=False,
                         env=child_env())
  assert other.returncode != 0 and 'other settings' in other.stderr

  # A file set in the faster framework: refused when the slower one's probe took over 10 % longer (naming both
  # fixes, running nothing), kept within that. The recorded probe times are set by hand so both cases occur.
  chosen, other = probe['chosen'], {'jax': 'pytorch', 'pytorch': 'jax'}[probe['chosen']]
  again['settings']['framework'] = other
  for chosen_sec, expect_refused in ((3.0, True), (1.05, False)):
    again['framework_probe']['runs'][chosen]['submission_time'] = chosen_sec
    again['framework_probe']['runs'][other]['submission_time'] = 1.0
    with open(output, 'w') as f:
      json.dump(again, f)
    proc = subprocess.run(_command(output, experiment_dir), capture_output=True, text=True, env=child_env(),
                          check=False)
    assert not os.path.exists(experiment_dir) and '[probe]' not in proc.stdout
    if expect_refused:
      assert proc.returncode == 2, proc.stderr[-2000:]
      assert (f'holds a protocol run in {other}, but {chosen} is the slower framework here by more than 1.1x '
              f'(probe runs: ') in proc.stderr and f'--framework={other} to keep it' in proc.stderr
    else:
      assert proc.returncode == 0, proc.stderr[-2000:]
      assert f'({other}) targets:' in proc.stdout and '7 of 7 runs already recorded' in proc.stdout


def _meta(experiment_dir, run_id):
  with open(os.path.join(experiment_dir, run_id, 'meta_data_0.json')) as f:
    return json.load(f)


def test_search_side_by_side_on_one_thread_each_and_reruns_on_all(tmp_path):
  output, experiment_dir = str(tmp_path / 'targets.json'), str(tmp_path / 'runs')
  out = _run(output, experiment_dir, '--framework=pytorch', '--search_workers=2')
  with open(output) as f:
    record = json.load(f)
  runs = record['runs']
  search_ids = [f'{a}/trial_1' for a in ('adamw', 'nadamw', 'nesterov', 'momentum')]
  assert all(runs[k]['status'] == 'completed' and runs[k]['global_step'] == 4 for k in runs)
  assert all(runs[k]['side_by_side'] == 2 for k in search_ids)
  assert not any('side_by_side' in runs[f'rerun/seed_{k}'] for k in (1, 2, 3))
  assert record['provenance']['invocations'][0]['search_workers'] == 2
  # Each search run's numbered line once, whatever order the runs ended in; the re-runs after them, in order.
  assert sorted(line.split(']')[0] for line in out.splitlines() if '/trial_1:' in line) == [
      f'[{n}/7' for n in (1, 2, 3, 4)]
  assert '[5/7] mnist rerun/seed_1' in out and '[7/7] mnist rerun/seed_3' in out
  for run_id in search_ids:  # The search's trial processes ran on one thread ...
    meta = _meta(experiment_dir, run_id)
    assert meta['torch.num_threads'] == 1 and meta['env.OMP_NUM_THREADS'] == '1'
    assert '--xla_cpu_multi_thread_eigen=false' in meta['env.XLA_FLAGS'] and len(meta['cpu.affinity']) == 1
  # ... the re-runs, which set the budget, on the threads this process has.
  rerun = _meta(experiment_dir, 'rerun/seed_1')
  assert rerun['env.OMP_NUM_THREADS'] == os.environ.get('OMP_NUM_THREADS')
  assert '--xla_cpu_multi_thread_eigen=false' not in (rerun['env.XLA_FLAGS'] or '')
  assert rerun['cpu.affinity'] == sorted(os.sched_getaffinity(0))

  # The same points and seeds as one at a time: the side-by-side search draws nothing differently. (Which
  # point the re-runs repeat is not compared: evals fall on steps by submission time, so under load the best
  # metrics of near-tied runs can differ.)
  sequential_output = str(tmp_path / 'sequential.json')
  _run(sequential_output, str(tmp_path / 'sequential_runs'), '--framework=pytorch')
  with open(sequential_output) as f:
    sequential = json.load(f)['runs']
  assert sorted(sequential) == sorted(runs)
  assert {k: (runs[k]['hyperparameters'], runs[k]['seed']) for k in search_ids} == {
      k: (sequential[k]['hyperparameters'], sequential[k]['seed']) for k in search_ids}
  assert [runs[f'rerun/seed_{k}']['seed'] for k in (1, 2, 3)] == [
      sequential[f'rerun/seed_{k}']['seed'] for k in (1, 2, 3)]
