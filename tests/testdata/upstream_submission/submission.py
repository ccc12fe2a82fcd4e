"""A submission written for upstream AlgoPerf v0.5: it imports `algorithmic_efficiency` and uses only the
public API. The harness must run it unchanged (tests/upstream_submission_test.py)."""
from typing import Dict, Iterator, List, Tuple

import torch

from algorithmic_efficiency import spec
from algorithmic_efficiency.pytorch_utils import pytorch_setup

USE_PYTORCH_DDP, RANK, DEVICE, N_GPUS = pytorch_setup()


def get_batch_size(workload_name):
  batch_sizes = {'mnist': 32}
  return batch_sizes[workload_name]


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  return {'optimizer': torch.optim.SGD(model_params.parameters(), lr=hyperparameters.learning_rate,
                                       momentum=hyperparameters.momentum)}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results, global_step
  current_model = current_param_container
  current_model.train()
  optimizer_state['optimizer'].zero_grad()
  logits_batch, new_model_state = workload.model_fn(
      params=current_model, augmented_and_preprocessed_input_batch=batch, model_state=model_state,
      mode=spec.ForwardPassMode.TRAIN, rng=rng, update_batch_norm=True)
  loss_dict = workload.loss_fn(label_batch=batch['targets'], logits_batch=logits_batch,
                               mask_batch=batch.get('weights'))
  loss = loss_dict['summed'] / loss_dict['n_valid_examples']
  loss.backward()
  optimizer_state['optimizer'].step()
  return (optimizer_state, current_param_container, new_model_state)


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
