"""One trial: the training loop and the clock, with the timing rules of spec/harness.md §2.3.

Timed (submission time): data_selection + update_params + loop overhead, and prepare_for_eval (v0.6).
Untimed: set-up, init_optimizer_state, every eval, logging and checkpoints. An eval is due when the
submission time since the last eval reaches the eval period, or when training completes (the first step
is always followed by one). Upstream gates on wall time since the last eval ended, which also counts the
untimed logging and checkpointing after it; gating on submission time keeps that out. The budget is
checked first, and no eval is recorded once the budget is spent. Training stops when the budget is spent,
when both the validation and test targets are reached, or when training completes (TrainingCompleteError,
max_global_steps).
"""
import dataclasses
import inspect
import math
import os
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

from algoperf import checkpoint_utils
from algoperf import logger_utils
from algoperf import loop_state
from algoperf import random_utils as prng
from algoperf import rules as rules_lib
from algoperf import spec
from algoperf.clock import Clock
from algoperf.step_rngs import StepRngs


class DivergedError(Exception):
  """The loss or an eval metric became NaN or infinite: the trial cannot reach a target any more."""


@dataclasses.dataclass
class TrialConfig:
  framework: str
  ruleset: str  # 'external' or 'self'.
  rules: rules_lib.Rules
  data_dir: str
  imagenet_v2_data_dir: Optional[str] = None
  max_global_steps: Optional[int] = None
  save_checkpoints: bool = True
  # Wall seconds between the checkpoints saved after evals (0: after every eval, as upstream); the end of the
  # trial always saves one. Short lite trials evaluate ~60 times, and a checkpoint after each cost the main
  # job ~35 s of its 19.4 minutes; a resumed trial then restarts at most this much earlier.
  checkpoint_period_sec: float = 0.0
  skip_evals: bool = False
  progress: Optional[Callable[[str], None]] = print  # One line per eval; None to stay quiet.


def _check_finite(metrics: Dict[str, Any]) -> None:
  for name, value in metrics.items():
    if isinstance(value, float) and not math.isfinite(value):
      raise DivergedError(f'eval metric {name} is {value}')


class _CountingQueue:
  """The training iterator as the submission sees it, counting the batches drawn (for exact resumes)."""

  def __init__(self, queue, already_drawn: int):
    self._queue = queue
    self.drawn = already_drawn

  def __iter__(self):
    return self

  def __next__(self):
    batch = next(self._queue)
    self.drawn += 1
    return batch


def _build_train_queue(workload: spec.Workload, data_rng, data_dir: str, batch_size: int, start_step: int):
  """The training iterator positioned after `start_step` batches (a resumed trial's), where the workload
  supports it by seeking, else by replaying them."""
  kwargs = {}
  if start_step and 'start_step' in inspect.signature(workload._build_input_queue).parameters:  # pylint: disable=protected-access
    kwargs['start_step'] = start_step
  queue = workload._build_input_queue(data_rng, 'train', data_dir=data_dir, global_batch_size=batch_size,  # pylint: disable=protected-access
                                      **kwargs)
  if start_step and not kwargs:
    for _ in range(start_step):  # Replays the batches the checkpointed run had consumed.
      next(queue)
  return queue


def train_once(workload: spec.Workload, submission: types.ModuleType, global_batch_size: int,
               global_eval_batch_size: int, hyperparameters: Any, rng_seed: int, trial_dir: str,
               config: TrialConfig) -> Tuple[float, Dict[str, Any]]:
  """Trains one trial; returns (accumulated_submission_time, {'eval_results', 'global_step'})."""
  framework = config.framework
  prng.set_framework(framework)
  rng = prng.PRNGKey(rng_seed)
  data_rng, opt_init_rng, model_init_rng, rng = prng.split(rng, 4)
  logger = logger_utils.MetricLogger(trial_dir)
  workload.attach_metrics_logger(logger)

  # Untimed set-up: model, optimizer, data.
  model_params, model_state = workload.init_model_fn(model_init_rng)
  optimizer_state = submission.init_optimizer_state(workload, model_params, model_state, hyperparameters,
                                                    opt_init_rng)
  state = loop_state.LoopState()
  eval_results: List[Tuple[int, Dict[str, Any]]] = []
  global_step, preemption_count = 0, 0
  restored = checkpoint_utils.restore_checkpoint(trial_dir, framework, model_params, model_state,
                                                 optimizer_state)
  if restored is not None:
    model_params, model_state = restored['model_params'], restored['model_state']
    optimizer_state = restored['optimizer_state']
    state = loop_state.LoopState.from_dict(restored['train_state'])
    eval_results = [tuple(r) for r in restored['eval_results']]
    global_step = restored['global_step']
    preemption_count = restored['preemption_count'] + 1
    # Rows logged after this checkpoint (a kill between an eval row and its checkpoint, or a fallback to
    # the previous checkpoint) are logged again by the resumed run.
    logger.eval_measurements.drop_rows_after(global_step)
    logger.measurements.drop_rows_after(global_step)
  batches_drawn = global_step if state.batches_drawn is None else state.batches_drawn
  input_queue = _CountingQueue(
      _build_train_queue(workload, data_rng, config.data_dir, global_batch_size, batches_drawn), batches_drawn)
  logger_utils.write_meta_data(trial_dir, preemption_count, workload, framework, rng_seed,
                               {'global_batch_size': global_batch_size, 'ruleset': config.ruleset,
                                'rules_version': config.rules.version})

  clock = Clock(framework)
  budget = rules_lib.budget_sec(workload.max_allowed_runtime_sec, config.ruleset, config.rules)
  step_rngs = StepRngs(rng, config.rules.rng_splits_per_step, framework)
  prepare_for_eval = getattr(submission, 'prepare_for_eval', None) if config.rules.has_prepare_for_eval else None
  pass_train_state = config.rules.passes_train_state and 'train_state' in inspect.signature(
      submission.update_params).parameters
  model_params_types = workload.model_params_types

  global_start_time = clock.now()
  # On resume the clock restarts; the accumulated times carry on from the checkpoint.
  state.last_step_end_time = global_start_time
  last_checkpoint_time = global_start_time

  while state.should_continue():
    step_keys = step_rngs(global_step)
    data_select_rng, update_rng = step_keys[0], step_keys[1]
    batch = submission.data_selection(workload, input_queue, optimizer_state, model_params, model_state,
                                      hyperparameters, global_step, data_select_rng)
    kwargs = {'train_state': loop_state.TrainStateView(state)} if pass_train_state else {}
    try:
      optimizer_state, model_params, model_state = submission.update_params(
          workload=workload, current_param_container=model_params, current_params_types=model_params_types,
          model_state=model_state, hyperparameters=hyperparameters, batch=batch,
          loss_type=workload.loss_type, optimizer_state=optimizer_state, eval_results=eval_results,
          global_step=global_step, rng=update_rng, **kwargs)
    except spec.TrainingCompleteError:
      state.training_complete = True
    global_step += 1
    if config.max_global_steps is not None and global_step >= config.max_global_steps:
      state.training_complete = True

    train_step_end_time = clock.lap((optimizer_state, model_params, model_state))
    state.accumulated_submission_time += train_step_end_time - state.last_step_end_time

    if loop_state.eval_due(state, workload.eval_period_time_sec, config.skip_evals):
      # Wait for the step's device work before the total is used (see Clock.lap).
      synced_end_time = clock.now((optimizer_state, model_params, model_state))
      state.accumulated_submission_time += synced_end_time - train_step_end_time
      if prepare_for_eval is not None:
        prep_start = clock.now()
        optimizer_state, model_params, model_state = prepare_for_eval(
            workload=workload, current_param_container=model_params, current_params_types=model_params_types,
            model_state=model_state, hyperparameters=hyperparameters, loss_type=workload.loss_type,
            optimizer_state=optimizer_state, eval_results=eval_results, global_step=global_step,
            rng=step_keys[2])
        state.accumulated_submission_time += clock.now((optimizer_state, model_params, model_state)) - prep_start
      state = loop_state.at_eval_gate(state, budget)
      if state.is_time_remaining:
        state = _run_eval(workload, global_eval_batch_size, model_params, model_state, step_keys[-1], config,
                          clock, state, eval_results, global_step, preemption_count, global_start_time, logger)
        log_start = clock.now()
        if config.save_checkpoints and log_start - last_checkpoint_time >= config.checkpoint_period_sec:
          last_checkpoint_time = log_start
          state.batches_drawn = input_queue.drawn
          checkpoint_utils.save_checkpoint(trial_dir, framework, model_params, model_state, optimizer_state,
                                           state.to_dict(), eval_results, global_step, preemption_count)
          state.accumulated_logging_time += clock.now() - log_start
    state.last_step_end_time = clock.lap()

  # The loop ends only at an eval gate, so the total is already synced; this adds any trailing work.
  end_time = clock.now((optimizer_state, model_params, model_state))
  state.accumulated_submission_time += end_time - state.last_step_end_time
  logger.measurements.append({'score': state.accumulated_submission_time, 'global_step': global_step,
                              'preemption_count': preemption_count})
  if config.save_checkpoints:
    state.batches_drawn = input_queue.drawn
    checkpoint_utils.save_checkpoint(trial_dir, framework, model_params, model_state, optimizer_state,
                                     state.to_dict(), eval_results, global_step, preemption_count)
  return state.accumulated_submission_time, {'eval_results': eval_results, 'global_step': global_step,
                                             'train_state': state}


def _run_eval(workload, eval_batch_size, model_params, model_state, eval_rng, config: TrialConfig, clock: Clock,
              state: loop_state.LoopState, eval_results, global_step, preemption_count, global_start_time,
              logger) -> loop_state.LoopState:
  """Evaluates (untimed), writes the eval row; returns the state with the goal flags and eval time."""
  eval_start = clock.now()
  metrics = workload.eval_model(eval_batch_size, model_params, model_state, eval_rng, config.data_dir,
                                config.imagenet_v2_data_dir, global_step)
  metrics = {k: float(v) for k, v in metrics.items()}
  eval_end = clock.now()
  state = loop_state.after_eval(state, eval_start, eval_end, workload.has_reached_validation_target(metrics),
                                workload.has_reached_test_target(metrics))
  metrics.update({
      'score': state.accumulated_submission_time,
      'total_duration': eval_end - global_start_time,
      'accumulated_submission_time': state.accumulated_submission_time,
      'accumulated_eval_time': state.accumulated_eval_time,
      'accumulated_logging_time': state.accumulated_logging_time,
  })
  eval_results.append((global_step, metrics))
  log_start = clock.now()
  logger.append_scalar_metrics(metrics, global_step, preemption_count, is_eval=True)
  if config.progress is not None:
    name = workload.target_metric_name
    config.progress(f'  step {global_step:>6}  submission time {state.accumulated_submission_time:8.2f}s'
                    f'  validation/{name} {metrics.get("validation/" + name, float("nan")):.4f}'
                    f'  (target {workload.validation_target_value})')
  state.accumulated_logging_time += clock.now() - log_start
  _check_finite(metrics)
  return state
