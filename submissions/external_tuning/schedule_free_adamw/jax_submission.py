"""Schedule-Free AdamW (JAX), external tuning: submissions.md §2.2.

The same two forms as pytorch_submission.py (whose docstring gives the v0.5/v0.6 differences), chosen by the
rules in force as update_params sees them (a train_state is passed only under v0.6). The optimizer state
holds the training point (x under v0.5, y under v0.6) with z and v; update_params trains from it and returns
it, so under v0.5 the runner evaluates x; under v0.6 prepare_for_eval (timed) returns x as a new array and
training resumes on the stored y bit for bit. The step runs on the fused sf_step kernel inside one jitted
update with the state donated (ALGOPERF_KERNELS=off: the same formula in jax.numpy).
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

from algoperf import spec
from submissions.common import averaging_hparams
from submissions.common import jax_grads
from submissions.common import rules_form
from submissions.common import schedule_free_jax
from submissions.common import sf_lawa_batch_sizes

R_BY_FORM = {'v0.5': 0.75, 'v0.6': 0.0}


def get_batch_size(workload_name: str) -> int:
  return sf_lawa_batch_sizes.lookup(sf_lawa_batch_sizes.SCHEDULE_FREE_ADAMW, workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  averaging_hparams.check_schedule_free(hyperparameters)
  steps = schedule_free_jax.ScheduleFreeSteps(
      workload, lr=hyperparameters.learning_rate, beta1=1.0 - hyperparameters.one_minus_beta1,
      beta2=hyperparameters.beta2, weight_decay=hyperparameters.weight_decay,
      warmup_steps=int(hyperparameters.warmup_factor * workload.step_hint),
      label_smoothing=getattr(hyperparameters, 'label_smoothing', 0.0),
      dropout_rate=getattr(hyperparameters, 'dropout_rate', None), r_by_form=R_BY_FORM)
  return {'state': schedule_free_jax.init_state(model_params), 'steps': steps}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_param_container, current_params_types, hyperparameters, loss_type, eval_results
  steps = optimizer_state['steps']
  train_step = steps.train_step(rules_form.rules_in_force(train_state), global_step)
  state, new_model_state, loss = train_step(optimizer_state['state'], model_state, batch, rng)
  jax_grads.log_loss_every(workload, global_step, loss)
  return {'state': state, 'steps': steps}, state['params'], new_model_state


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  """Only the v0.6 runner calls this: the state holds y, and x is evaluated."""
  del workload, current_param_container, current_params_types, hyperparameters, loss_type, eval_results
  del global_step, rng
  return optimizer_state, optimizer_state['steps'].eval_point(optimizer_state['state']), model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
