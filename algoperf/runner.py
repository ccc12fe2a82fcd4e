"""Running one submission on one workload: framework set-up, batch sizes and the trials of a run.

The command line (submission_runner.py) and the benchmark (tools/benchmark.py) both call this.
"""
import os
from typing import List, Optional


def configure_frameworks(framework: str) -> None:
  """Process-wide settings the rules fix, set before any JAX or torch work."""
  if framework == 'pytorch':
    os.environ.setdefault('JAX_PLATFORMS', 'cpu')  # JAX stays off the accelerators under PyTorch.
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update('jax_default_prng_impl', 'threefry2x32')
  jax.config.update('jax_threefry_partitionable', True)
  if framework == 'pytorch':
    import torch  # pylint: disable=import-outside-toplevel
    from algoperf import pytorch_utils  # pylint: disable=import-outside-toplevel
    torch.backends.cudnn.benchmark = True
    use_ddp, rank, _, _ = pytorch_utils.pytorch_setup()
    pytorch_utils.pytorch_init(use_ddp, rank)


def num_devices(framework: str) -> int:
  if framework == 'jax':
    import jax  # pylint: disable=import-outside-toplevel
    return jax.local_device_count()
  import torch.distributed as dist  # pylint: disable=import-outside-toplevel
  return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def score_submission_on_workload(submission_path: str, workload_name: str, framework: str, ruleset: str,
                                 search_space_path: Optional[str], num_tuning_trials: int, data_dir: str,
                                 log_dir: str, rng_seed: int, scale: str, rules_version: str,
                                 max_global_steps: Optional[int] = None, save_checkpoints: bool = True,
                                 skip_evals: bool = False, imagenet_v2_data_dir: Optional[str] = None,
                                 hparam_start_index: Optional[int] = None, hparam_end_index: Optional[int] = None,
                                 flag_values=None, seed_key: str = '') -> List:
  """Runs the trials of one submission on one workload into `log_dir`; returns their TrialResults."""
  from algoperf import rules as rules_lib  # pylint: disable=import-outside-toplevel
  from algoperf import submission_loader  # pylint: disable=import-outside-toplevel
  from algoperf import trials as trials_lib  # pylint: disable=import-outside-toplevel
  from algoperf import training_loop  # pylint: disable=import-outside-toplevel
  from algoperf import tuning  # pylint: disable=import-outside-toplevel
  from workloads import registry  # pylint: disable=import-outside-toplevel

  submission = submission_loader.load_submission(submission_path)
  rules = rules_lib.get_rules(rules_version)
  if ruleset == 'external':
    if not search_space_path:
      raise ValueError('External tuning needs --tuning_search_space=FILE.json.')
    space = tuning.load_search_space(search_space_path)
    points = tuning.trials_for_run(space, num_tuning_trials, rng_seed, search_space_path)
  else:
    if search_space_path:
      raise ValueError('Self-tuning takes no search space; drop --tuning_search_space.')
    points = [None]
  start = hparam_start_index or 0
  end = len(points) if hparam_end_index is None else min(hparam_end_index, len(points))

  def make_workload():
    return registry.import_workload(workload_name, framework, scale=scale, rules_version=rules_version)

  probe = make_workload()
  if hasattr(probe, 'check_data'):
    probe.check_data(data_dir)  # A missing dataset stops here, with the command that builds it.
  batch_sizes = trials_lib.get_batch_sizes(submission, workload_name, registry.get_base_workload_name(workload_name),
                                           probe, num_devices(framework))
  config = training_loop.TrialConfig(framework=framework, ruleset=ruleset, rules=rules, data_dir=data_dir,
                                     imagenet_v2_data_dir=imagenet_v2_data_dir, max_global_steps=max_global_steps,
                                     save_checkpoints=save_checkpoints, skip_evals=skip_evals)
  results = []
  submission_name = os.path.basename(os.path.dirname(os.path.abspath(submission_path)))
  for i in range(start, end):
    trial_dir = os.path.join(log_dir, f'trial_{i + 1}')
    seed = tuning.trial_seed(rng_seed, submission_name, workload_name, seed_key, i)
    print(f'Trial {i + 1}/{len(points)} of {submission_name} on {workload_name} ({framework}, seed {seed})')
    result = trials_lib.run_trial(make_workload, submission, batch_sizes, points[i], seed, trial_dir, config,
                                  flag_values)
    print(f'Trial {i + 1}: {result.status}{" (" + result.reason + ")" if result.reason else ""}, '
          f'{result.global_step} steps, {result.submission_time:.1f}s of submission time.')
    results.append(result)
  return results
