"""Kept for submissions written against the first layout; new code imports pytorch_train and
pytorch_optimizers (where NAdamW has its one plain path and its kernel path)."""
from submissions.common import pytorch_optimizers
from submissions.common import pytorch_train
from submissions.common import schedules

train_step = pytorch_train.train_step
log_every = pytorch_train.log_every
logs_at = pytorch_train.logs_at


def NAdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, power=2.0):  # pylint: disable=invalid-name
  """The AlgoPerf NAdamW optimizer (kernel path by default, plain with ALGOPERF_KERNELS=off)."""
  return pytorch_optimizers.nadamw(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, power=power)


def warmup_cosine_scheduler(optimizer, warmup_steps: int, total_steps: int):
  """The (S-optax) schedule as a LambdaLR factor of the optimizer's peak lr."""
  return pytorch_optimizers.lambda_scheduler(
      optimizer, lambda count: schedules.warmup_cosine(count, 1.0, warmup_steps, total_steps))
