"""API functions that most submissions implement the same way, in either framework."""
from typing import Dict, Iterator, List, Tuple

from algoperf import spec


def hparam(hyperparameters, name: str, default=None):
  """hyperparameters.name, or `default` when the search space does not have it (or for self-tuning: None)."""
  return getattr(hyperparameters, name, default)


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  """Evaluates the parameters as they are."""
  del workload, current_params_types, hyperparameters, loss_type, eval_results, global_step, rng
  return optimizer_state, current_param_container, model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  """The next batch of the workload's input queue."""
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
