"""The LAWA submissions' PyTorch body (queue and EMA), for both rules versions (submissions.md §2.9, §2.10).

The base optimizer is NAdamW (the fused kernel's torch_optim.NAdamW; ALGOPERF_KERNELS=off: the plain
pytorch_nadamw.NAdamW) with the S-WarmCosine rate of lawa.py. data_selection hands over the input iterator
itself, as the published code did, and update_params draws its batches from it:

* v0.5 (no prepare_for_eval): each call runs n optimizer steps, so the runner's global_step counts calls.
  At the start of a call the training weights are put back if the model holds the average; at the end,
  once the average exists (queue full / EMA started) and local_step >= s0, the training weights are kept
  aside and the average is loaded, so the runner evaluates (and checkpoints) it. The EMA decay is
  int(lawa_beta) = 0 (the v0.5 bug).
* v0.6: one optimizer step per call; prepare_for_eval (timed) keeps the training weights aside and loads the
  average; the next update_params puts them back bit for bit. The EMA decay is lawa_beta.

The snapshots, their running sum or EMA and the kept-aside weights live in the optimizer state
(averaging_torch), so checkpoints carry them. Batch-norm buffers are not averaged (as published).
"""
from submissions.common import averaging_hparams
from submissions.common import averaging_torch
from submissions.common import kernel_switch
from submissions.common import lawa
from submissions.common import pytorch_nadamw
from submissions.common import rules_form


def _nadamw(params, hyperparameters):
  kwargs = dict(lr=hyperparameters.learning_rate, betas=(1.0 - hyperparameters.one_minus_beta1,
                                                         hyperparameters.beta2),
                eps=1e-8, weight_decay=hyperparameters.weight_decay)
  if kernel_switch.kernels_enabled():
    from algoperf_kernels import torch_optim  # pylint: disable=import-outside-toplevel
    return torch_optim.NAdamW(params, **kwargs)
  return pytorch_nadamw.NAdamW(params, **kwargs)


def init_optimizer_state(workload, model_params, hyperparameters, averaging: str):
  averaging_hparams.check_lawa(hyperparameters, averaging)
  params = list(model_params.parameters())
  if averaging == 'queue':
    average = averaging_torch.LawaQueue(params, int(hyperparameters.k))
  else:
    average = averaging_torch.ParamEMA(params, hyperparameters.lawa_beta)
  return {'optimizer': _nadamw(params, hyperparameters), 'average': average,
          'stash': averaging_torch.ParamStash(params)}


def _ready(average) -> bool:
  return average.full() if isinstance(average, averaging_torch.LawaQueue) else average.count > 0


def _load_average(average, model) -> None:
  if isinstance(average, averaging_torch.LawaQueue):
    average.average_into(model)
  else:
    average.copy_into(model)


def update_params(workload, model, model_state, hyperparameters, batches, optimizer_state, global_step, rng,
                  train_state):
  form = rules_form.rules_in_force(train_state)
  schedule = lawa.LawaSchedule.for_trial(workload, hyperparameters)
  optimizer, average, stash = optimizer_state['optimizer'], optimizer_state['average'], optimizer_state['stash']
  if isinstance(average, averaging_torch.ParamEMA):
    average.decay = lawa.ema_decay(hyperparameters.lawa_beta, form)
  stash.restore(model)
  n = schedule.steps_per_call if form == 'v0.5' else 1
  t = global_step * n
  warmup = int(hyperparameters.warmup_factor * workload.step_hint)
  for _ in range(n):
    batch = next(batches)
    loss, grad_norm, model_state = pytorch_nadamw.train_step(
        workload, model, model_state, batch, optimizer, rng,
        label_smoothing=getattr(hyperparameters, 'label_smoothing', 0.0),
        dropout_rate=getattr(hyperparameters, 'dropout_rate', None), grad_clip=None)
    for group in optimizer.param_groups:
      group['lr'] = lawa.warm_cosine(t, hyperparameters.learning_rate, warmup, workload.step_hint)
    optimizer.step()
    if schedule.is_snapshot(t):
      average.push(model)
    pytorch_nadamw.log_every(workload, t, loss, grad_norm)
    t += 1
  if form == 'v0.5' and t >= schedule.start and _ready(average):
    stash.stash(model)
    _load_average(average, model)
  return optimizer_state, model, model_state


def prepare_for_eval(model, model_state, optimizer_state):
  """v0.6 only: the model holds the average (once it exists) until the next update_params."""
  average, stash = optimizer_state['average'], optimizer_state['stash']
  if _ready(average) and not stash.holds_eval:
    stash.stash(model)
    _load_average(average, model)
  return optimizer_state, model, model_state
