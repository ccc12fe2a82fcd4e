"""Sinv6 75 (self-tuning, PyTorch): a learned optimizer whose LSTM scheduler sets one global lr multiplier.

spec/submissions.md §3.4/3.5; the features, network and update are described once in
submissions/common/sinv6/features.py. The scheduler plans for num_steps = int(0.75 step_hint); that is the only difference from sinv6/. The weights are ours, meta-trained by
`bazel run //tools:meta_train` (provenance next to them in submissions/common/sinv6/); set
ALGOPERF_SINV6_WEIGHTS=path to use another file in the published layout (e.g. the published theta.state).
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

from algoperf import spec
from submissions.common.sinv6 import pytorch_submission_lib as lib

NUM_STEPS_FRACTION = 0.75

get_batch_size = lib.get_batch_size


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, hyperparameters, rng
  return lib.init_optimizer_state(workload, model_params, NUM_STEPS_FRACTION)


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  return lib.update_params(workload, current_param_container, model_state, batch, optimizer_state, global_step, rng)


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  del workload, current_params_types, hyperparameters, loss_type, eval_results, global_step, rng
  return optimizer_state, current_param_container, model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return lib.data_selection(input_queue)
