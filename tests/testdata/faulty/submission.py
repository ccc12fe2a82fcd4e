"""A PyTorch submission whose behaviour a hyperparameter picks (harness and fault-injection tests).

Modes: sleep, diverge, crash (raises), complete (TrainingCompleteError), and faults that kill the process
itself at step 3: abort (os.abort), segfault (reads address 0), oom (allocates until stopped), hang.
"""
import ctypes
import math
import os
import time

import torch

from algoperf import spec


def get_batch_size(workload_name):
  del workload_name
  return 32


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
  del workload, model_state, rng
  return {'optimizer': torch.optim.SGD(model_params.parameters(), lr=0.1), 'mode': hyperparameters.mode}


def update_params(workload, current_param_container, current_params_types, model_state, hyperparameters, batch,
                  loss_type, optimizer_state, eval_results, global_step, rng, train_state=None):
  del current_params_types, loss_type, eval_results, train_state
  mode = optimizer_state['mode']
  if mode == 'sleep':
    time.sleep(hyperparameters.sleep_sec)
  if mode == 'crash' and global_step == 3:
    raise RuntimeError('deliberate failure at step 3')
  if mode == 'complete' and global_step == 4:
    raise spec.TrainingCompleteError()
  if global_step == 3 and mode in _PROCESS_FAULTS:
    _PROCESS_FAULTS[mode]()
  model = current_param_container
  optimizer_state['optimizer'].zero_grad()
  logits, model_state = workload.model_fn(model, batch, model_state, spec.ForwardPassMode.TRAIN, rng, True)
  loss = workload.loss_fn(batch['targets'], logits, batch.get('weights'))
  (loss['summed'] / loss['n_valid_examples']).backward()
  optimizer_state['optimizer'].step()
  if mode == 'diverge' and global_step == 2:
    with torch.no_grad():
      for p in model.parameters():
        p.fill_(math.nan)
  return optimizer_state, model, model_state


def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state, hyperparameters,
                   global_step, rng):
  del workload, optimizer_state, current_param_container, model_state, hyperparameters, global_step, rng
  return next(input_queue)


def _allocate_forever():
  hog = []
  while True:
    hog.append(b'\x01' * 2**28)  # 256 MiB, written (so resident), per pass.
    time.sleep(0.01)


_PROCESS_FAULTS = {
    'abort': os.abort,
    'segfault': lambda: ctypes.string_at(0),
    'oom': _allocate_forever,
    'hang': lambda: time.sleep(10**6),
}
