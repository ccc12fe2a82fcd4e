"""The LAWA submissions' JAX body (queue and EMA), for both rules versions: the behaviour of lawa_torch.py.

The state holds the training weights ('params'), the NAdamW state (optax_ops.nadamw on the fused kernel, in
one jitted step with params and state donated; ALGOPERF_KERNELS=off: the plain path of jax_optimizers) and the average
(averaging_jax). update_params trains from the stored weights, so the averaged weights the runner evaluates
never leak into training. The queue slot and the snapshot count follow from the local step.
"""
from typing import Optional

import jax

from algoperf import jax_sharding_utils
from submissions.common import averaging_hparams
from submissions.common import averaging_jax
from submissions.common import jax_grads
from submissions.common import jax_optimizers
from submissions.common import lawa
from submissions.common import rules_form


class LawaSteps:
  """The trial's jitted NAdamW step. Callable (returns itself): checkpoints keep the fresh one."""

  def __init__(self, workload, hyperparameters):
    warmup = int(hyperparameters.warmup_factor * workload.step_hint)
    schedule = lambda count: lawa.warm_cosine(count, hyperparameters.learning_rate, warmup, workload.step_hint,
                                              xp=jax.numpy)
    kwargs = dict(b1=1.0 - hyperparameters.one_minus_beta1, b2=hyperparameters.beta2, eps=1e-8,
                  weight_decay=hyperparameters.weight_decay)
    # The kernel NAdamW, or its plain path under ALGOPERF_KERNELS=off (jax_optimizers picks).
    self.optimizer = jax_optimizers.nadamw(schedule, **kwargs)
    apply = self.optimizer.step

    label_smoothing = getattr(hyperparameters, 'label_smoothing', 0.0)
    dropout_rate: Optional[float] = getattr(hyperparameters, 'dropout_rate', None)

    def step(params, opt_state, model_state, batch, rng):
      loss, grads, new_model_state = jax_grads.loss_and_grads(workload, params, model_state, batch, rng,
                                                              label_smoothing, dropout_rate)
      new_params, new_opt_state = apply(grads, opt_state, params)
      return new_params, new_opt_state, new_model_state, loss

    self.step = jax.jit(step, donate_argnums=(0, 1))

  def __call__(self):
    return self


def init_optimizer_state(workload, model_params, hyperparameters, averaging: str):
  averaging_hparams.check_lawa(hyperparameters, averaging)
  steps = LawaSteps(workload, hyperparameters)
  params = jax.tree.map(lambda p: jax.numpy.array(p, copy=True), model_params)
  if averaging == 'queue':
    average = averaging_jax.new_queue(params, int(hyperparameters.k))
  else:
    average = {'shadow': averaging_jax.zeros_like_tree(params)}
  state = {'params': params, 'opt': steps.optimizer.init(params), 'average': average}
  return {'state': jax_sharding_utils.replicate(state), 'steps': steps}


def _ready(hyperparameters, schedule, t: int) -> bool:
  need = int(hyperparameters.k) if hasattr(hyperparameters, 'k') else 1
  return schedule.snapshots_before(t) >= need


def _average(hyperparameters, average):
  if 'shadow' in average:
    return average['shadow']
  return averaging_jax.average(average, int(hyperparameters.k))


def update_params(workload, model_state, hyperparameters, batches, optimizer_state, global_step, rng, train_state):
  form = rules_form.rules_in_force(train_state)
  schedule = lawa.LawaSchedule.for_trial(workload, hyperparameters)
  steps, state = optimizer_state['steps'], optimizer_state['state']
  params, opt_state, average = state['params'], state['opt'], state['average']
  n = schedule.steps_per_call if form == 'v0.5' else 1
  t = global_step * n
  for i in range(n):
    step_rng = jax.random.fold_in(rng, i) if n > 1 else rng
    params, opt_state, model_state, loss = steps.step(params, opt_state, model_state, next(batches), step_rng)
    if schedule.is_snapshot(t):
      count = schedule.snapshots_before(t)
      if 'shadow' in average:
        average = {'shadow': averaging_jax.ema_push(average['shadow'], params,
                                                     lawa.ema_decay(hyperparameters.lawa_beta, form), count == 0)}
      else:
        average = averaging_jax.push(average, params, count % int(hyperparameters.k))
    jax_grads.log_loss_every(workload, t, loss)
    t += 1
  new_state = {'params': params, 'opt': opt_state, 'average': average}
  evaluated = params
  if form == 'v0.5' and t >= schedule.start and _ready(hyperparameters, schedule, t):
    evaluated = _average(hyperparameters, average)
  return {'state': new_state, 'steps': steps}, evaluated, model_state


def prepare_for_eval(model_state, hyperparameters, optimizer_state, global_step, workload):
  """v0.6 only: evaluate the average once it exists, else the training weights."""
  schedule = lawa.LawaSchedule.for_trial(workload, hyperparameters)
  state = optimizer_state['state']
  evaluated = state['params']
  if _ready(hyperparameters, schedule, global_step):
    evaluated = _average(hyperparameters, state['average'])
  return optimizer_state, evaluated, model_state
