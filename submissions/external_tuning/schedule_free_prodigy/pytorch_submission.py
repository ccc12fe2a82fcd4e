"""Schedule-Free Prodigy (pytorch), external tuning: submissions.md §2.11 (the update: submissions/common/prodigy.py).

Only weight decay is tuned; label smoothing is fixed at 0.2 and dropout stays at the workload default, as
published. Each step runs the forward/backward pass twice, at x (result discarded; it still updates
batch-norm statistics) and at y, as the published closure did. The parameters hold x, the evaluated point,
between steps, so the v0.5 runner (no prepare_for_eval) and the v0.6 one (prepare_for_eval is the identity)
see the same algorithm.
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

from algoperf import spec
from submissions.common import averaging_hparams
from submissions.common import prodigy
from submissions.common import prodigy_torch
from submissions.common import pytorch_nadamw
from submissions.common import sf_lawa_batch_sizes


def get_batch_size(workload_name: str) -> int:
  return sf_lawa_batch_sizes.lookup(sf_lawa_batch_sizes.SCHEDULE_FREE_PRODIGY, workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  averaging_hparams.check_prodigy(hyperparameters)
  return {'optimizer': prodigy_torch.ScheduleFreeProdigy(
      model_params.parameters(), weight_decay=hyperparameters.weight_decay,
      warmup_steps=int(prodigy.WARMUP_FRACTION * workload.step_hint))}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, hyperparameters, loss_type, eval_results, train_state
  optimizer, model = optimizer_state['optimizer'], current_param_container
  kwargs = dict(label_smoothing=prodigy.LABEL_SMOOTHING, dropout_rate=None, grad_clip=None)
  pytorch_nadamw.train_step(workload, model, model_state, batch, optimizer, rng, compute_grad_norm=False,
                           **kwargs)  # At x, discarded.
  optimizer.to_y()
  loss, grad_norm, new_model_state = pytorch_nadamw.train_step(
      workload, model, model_state, batch, optimizer, rng,
      compute_grad_norm=pytorch_nadamw.logs_at(workload, global_step), **kwargs)  # The norm is only logged.
  optimizer.to_x()
  optimizer.step(global_step)
  pytorch_nadamw.log_every(workload, global_step, loss, grad_norm)
  return optimizer_state, model, new_model_state


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
  return next(input_queue)
