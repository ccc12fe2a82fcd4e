"""Schedule-Free AdamW (PyTorch), external tuning: submissions.md §2.2.

Which form runs depends on the rules in force, seen through the public API (submissions/common/rules_form.py:
update_params receives a train_state only under v0.6):

* v0.5 (no prepare_for_eval): the leaderboard's closure form. The model holds x between steps, moves to
  y = lerp(x, z, 1 - b1) for the forward/backward pass and back to x; gamma_k = lr_k sqrt(1 - b2^(k+1)) over
  sqrt(v) + eps, decay taken at x (and scaled by sqrt(bc2)), warmup (k+1)/W with a 1e-8 floor, averaging
  weight (k+1)^0.75 lr_max^2. The runner evaluates x as returned. Batch-norm statistics come from the passes
  at y (the v0.5 quirk; MNIST has none).
* v0.6 (prepare_for_eval, timed): the published optimizer, as the v0.6 successor (schedule_free_adamw_v2)
  corrected the early development version: the model holds y, denominator sqrt(v / bc2) + eps, decay taken
  at y, and no (k+1)^r weighting (r = 0; weight lr_max^2). prepare_for_eval keeps y aside and moves the
  model to x; the next update_params puts y back bit for bit. Not reproduced: v2's extra no-grad forward
  pass at x to refresh batch-norm statistics.

Both forms run on the fused sf_step/sf_swap kernels (ALGOPERF_KERNELS=off: the same math in torch ops).
Label smoothing and dropout come from the hyperparameters; no gradient clipping.
"""
from typing import Any, Dict, Iterator, List, Optional, Tuple

from algoperf import spec
from submissions.common import averaging_hparams
from submissions.common import averaging_torch
from submissions.common import pytorch_nadamw
from submissions.common import rules_form
from submissions.common import schedule_free_torch
from submissions.common import sf_lawa_batch_sizes

R_BY_FORM = {'v0.5': 0.75, 'v0.6': 0.0}


def get_batch_size(workload_name: str) -> int:
  return sf_lawa_batch_sizes.lookup(sf_lawa_batch_sizes.SCHEDULE_FREE_ADAMW, workload_name)


def init_optimizer_state(workload: spec.Workload, model_params: spec.ParameterContainer,
                         model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                         rng: spec.RandomState) -> spec.OptimizerState:
  del model_state, rng
  averaging_hparams.check_schedule_free(hyperparameters)
  optimizer = schedule_free_torch.ScheduleFreeAdamW(
      model_params.parameters(), lr=hyperparameters.learning_rate,
      betas=(1.0 - hyperparameters.one_minus_beta1, hyperparameters.beta2),
      weight_decay=hyperparameters.weight_decay,
      warmup_steps=int(hyperparameters.warmup_factor * workload.step_hint))
  return {'optimizer': optimizer, 'stash': averaging_torch.ParamStash(model_params.parameters())}


def update_params(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                  current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                  hyperparameters: spec.Hyperparameters, batch: Dict[str, spec.Tensor], loss_type: spec.LossType,
                  optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]], global_step: int,
                  rng: spec.RandomState, train_state: Optional[Dict[str, Any]] = None) -> spec.UpdateReturn:
  del current_params_types, loss_type, eval_results
  optimizer = optimizer_state['optimizer']
  if optimizer.form is None:
    optimizer.set_form(rules_form.rules_in_force(train_state))
    for group in optimizer.param_groups:
      group['r'] = R_BY_FORM[optimizer.form]
  model = current_param_container
  if optimizer.form == 'v0.6':
    optimizer_state['stash'].restore(model)  # Back to y if the last eval left x in the model.
  else:
    optimizer.to_y()
  loss, grad_norm, new_model_state = pytorch_nadamw.train_step(
      workload, model, model_state, batch, optimizer, rng,
      label_smoothing=getattr(hyperparameters, 'label_smoothing', 0.0),
      dropout_rate=getattr(hyperparameters, 'dropout_rate', None), grad_clip=None,
      compute_grad_norm=pytorch_nadamw.logs_at(workload, global_step))  # The norm is only logged.
  if optimizer.form == 'v0.5':
    optimizer.to_x()
  optimizer.step()
  pytorch_nadamw.log_every(workload, global_step, loss, grad_norm)
  return optimizer_state, model, new_model_state


def prepare_for_eval(workload: spec.Workload, current_param_container: spec.ParameterContainer,
                     current_params_types: spec.ParameterTypeTree, model_state: spec.ModelAuxiliaryState,
                     hyperparameters: spec.Hyperparameters, loss_type: spec.LossType,
                     optimizer_state: spec.OptimizerState, eval_results: List[Tuple[int, float]],
                     global_step: int, rng: spec.RandomState) -> spec.UpdateReturn:
  del workload, current_params_types, hyperparameters, loss_type, eval_results, global_step, rng
  optimizer, stash = optimizer_state['optimizer'], optimizer_state['stash']
  if optimizer.form == 'v0.6' and not stash.holds_eval:
    stash.stash(current_param_container)
    optimizer.to_x()
  return optimizer_state, current_param_container, model_state


def data_selection(workload: spec.Workload, input_queue: Iterator[Dict[str, spec.Tensor]],
                   optimizer_state: spec.OptimizerState, current_param_container: spec.ParameterContainer,
                   model_state: spec.ModelAuxiliaryState, hyperparameters: spec.Hyperparameters,
                   global_step: int, rng: spec.RandomState) -> Dict[str, spec.Tensor]:
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)
