"""The NAdamW baseline (PyTorch): NAdamW with linear warmup and cosine decay to 0 at step_hint.

spec/harness.md §5.1; the schedule is the JAX baseline's (see submissions/common/schedules.py).
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

from algoperf import spec
from submissions.common import baseline_batch_sizes
from submissions.common import pytorch_nadamw


def get_batch_size(workload_name: str) -> int:
  return baseline_batch_sizes.get_batch_size(workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  optimizer = pytorch_nadamw.NAdamW(
      model_params.parameters(), lr=hyperparameters.learning_rate,
      betas=(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2), eps=1e-8,
      weight_decay=hyperparameters.weight_decay)
  warmup_steps = int(hyperparameters.warmup_factor * workload.step_hint)
  scheduler = pytorch_nadamw.warmup_cosine_scheduler(optimizer, warmup_steps, workload.step_hint)
  return {'optimizer': optimizer, 'scheduler': scheduler}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, train_state
  loss, grad_norm, new_model_state = pytorch_nadamw.train_step(
      workload, current_param_container, model_state, batch, optimizer_state['optimizer'], rng,
      label_smoothing=getattr(hyperparameters, 'label_smoothing', 0.0),
      dropout_rate=getattr(hyperparameters, 'dropout_rate', None),
      grad_clip=getattr(hyperparameters, 'grad_clip', None))
  optimizer_state['optimizer'].step()
  optimizer_state['scheduler'].step()
  pytorch_nadamw.log_every(workload, global_step, loss, grad_norm)
  return optimizer_state, current_param_container, new_model_state


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
