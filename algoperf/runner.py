"""Running one submission on one workload: framework set-up and the trials of one run (upstream's runner).

The command line (submission_runner.py) calls this; each trial goes through trials.run_trial, the entry point
the benchmark shares.
"""
import os
import time
from typing import List, Optional

from algoperf import trials as trials_lib


def configure_frameworks(framework: str) -> None:
  """Process-wide settings the rules fix, set before any JAX or torch work."""
  if framework == 'pytorch':
    os.environ.setdefault('JAX_PLATFORMS', 'cpu')  # JAX stays off the accelerators under PyTorch.
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update('jax_default_prng_impl', 'threefry2x32')
  jax.config.update('jax_threefry_partitionable', True)
  if framework == 'jax':
    _use_jax_compilation_cache(jax)
  if framework == 'pytorch':
    import torch  # pylint: disable=import-outside-toplevel
    from algoperf import pytorch_utils  # pylint: disable=import-outside-toplevel
    torch.backends.cudnn.benchmark = True
    use_ddp, rank, _, _ = pytorch_utils.pytorch_setup()
    pytorch_utils.pytorch_init(use_ddp, rank)


def _use_jax_compilation_cache(jax) -> None:
  """JAX's persistent compilation cache, only where ALGOPERF_JAX_CACHE_DIR names a folder for it.

  Off by default: the rules time the compilation done in the first steps (spec/harness.md §1.4), and a program
  loaded from a cache an earlier trial filled skips it (Shampoo JAX on MNIST lite: 0.46 s instead of 1.4-3.4 s),
  so scores would depend on what ran before on the machine. A developer iterating on one configuration may
  opt in. Only for a single device: with two host devices, a program loaded from the cache deadlocked in its
  first all-reduce (XLA's CPU rendezvous waited for the second device's thread, then aborted).
  """
  folder = os.environ.get('ALGOPERF_JAX_CACHE_DIR', 'off')
  if folder == 'off' or jax.local_device_count() > 1:
    return
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError:
    return  # An unwritable folder: compile as without it.
  jax.config.update('jax_compilation_cache_dir', folder)


def score_submission_on_workload(submission_path: str, workload_name: str, framework: str, ruleset: str,
                                 search_space_path: Optional[str], num_tuning_trials: int, data_dir: str,
                                 log_dir: str, rng_seed: int, scale: str, rules_version: str,
                                 max_global_steps: Optional[int] = None, save_checkpoints: bool = True,
                                 skip_evals: bool = False, imagenet_v2_data_dir: Optional[str] = None,
                                 hparam_start_index: Optional[int] = None, hparam_end_index: Optional[int] = None,
                                 flag_values=None, study: int = 0,
                                 executor=None, jax_layout: str = 'auto',
                                 checkpoint_period_sec: float = 0.0) -> List[trials_lib.TrialResult]:
  """Runs the trials of one submission on one workload into `log_dir`; returns their TrialResults.

  Trial i's seed comes from (rng_seed, submission folder, workload, study, i), as in the benchmark. With an
  executor (trial_process.TrialExecutor) each trial runs in a child process; without, in this one.
  """
  from algoperf import trial_process  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  if ruleset == 'external':
    if not search_space_path:
      raise ValueError('External tuning needs --tuning_search_space=FILE.json.')
    space = tuning.load_search_space(search_space_path)
    points = tuning.trials_for_run(space, num_tuning_trials, rng_seed, search_space_path)
  else:
    if search_space_path:
      raise ValueError('Self-tuning takes no search space; drop --tuning_search_space.')
    points = [None]
  end = len(points) if hparam_end_index is None else min(hparam_end_index, len(points))
  specs = trials_lib.plan_trials(
      points[:end], submission_path=submission_path, workload=workload_name, framework=framework, study=study,
      base_seed=rng_seed, log_dir=log_dir, first_trial=hparam_start_index or 0, ruleset=ruleset,
      rules_version=rules_version, scale=scale, data_dir=data_dir, imagenet_v2_data_dir=imagenet_v2_data_dir,
      max_global_steps=max_global_steps, save_checkpoints=save_checkpoints,
      checkpoint_period_sec=checkpoint_period_sec, skip_evals=skip_evals,
      flags=dict(flag_values or {}), jax_layout=jax_layout)
  results = []
  for spec in specs:
    print(f'{spec.label} of {len(points)} ({framework}, seed {spec.seed})', flush=True)
    start = time.time()
    result = trial_process.run_spec(spec, executor)
    print(trials_lib.result_line(spec.label, result, time.time() - start), flush=True)
    results.append(result)
  return results
