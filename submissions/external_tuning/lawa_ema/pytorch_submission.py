"""LAWA EMA (pytorch), external tuning: submissions.md §2.10.

NAdamW with the S-WarmCosine rate; the evaluated weights are an EMA of snapshots taken every ceil(0.005 step_hint) steps from ceil(0.02 step_hint); its decay is int(lawa_beta) = 0 under v0.5 (the published bug: the latest snapshot) and lawa_beta = 0.2 under v0.6.
The v0.5 form (n optimizer steps per update_params call, the average swapped in at the end of the call) and
the v0.6 form (one step per call, the average swapped in by prepare_for_eval and the training weights put
back bit for bit) are described in submissions/common/lawa_torch.py; which runs depends on whether the runner
passes train_state (submissions/common/rules_form.py). data_selection returns the input iterator itself, as
the published code did; update_params draws its batches from it.
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

from algoperf import spec
from submissions.common import lawa_torch
from submissions.common import sf_lawa_batch_sizes

AVERAGING = 'ema'


def get_batch_size(workload_name: str) -> int:
  return sf_lawa_batch_sizes.lookup(sf_lawa_batch_sizes.LAWA, workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  return lawa_torch.init_optimizer_state(workload, model_params, hyperparameters, AVERAGING)


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Iterator[Dict[str, spec.Tensor]],
                  loss_type: spec.LossType, optimizer_state: spec.OptimizerState,
                  eval_results: List[Tuple[int, float]], global_step: int, rng: spec.RandomState,
                  train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results
  return lawa_torch.update_params(workload, current_param_container, model_state, hyperparameters, batch,
                                  optimizer_state, global_step, rng, train_state)


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, rng
  del workload, hyperparameters, global_step
  return lawa_torch.prepare_for_eval(current_param_container, model_state, optimizer_state)


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Iterator[Dict[str, spec.Tensor]]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return input_queue
