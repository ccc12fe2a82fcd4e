"""Checkpointable state for the PyTorch Shampoo and CASPR optimizers.

Both keep their preconditioner state (factor statistics, roots, grafting moments, momentum) in their own
attributes rather than in torch's per-parameter `state`, so torch's `state_dict()` alone would drop it and a
resumed trial would restart the statistics. `PreconditionerStateDict` adds that state under one extra key.

Blocks are saved under `<parameter index>:<block ranges>`, so a block is found again whatever the rank order.
Under DDP only the primary rank writes checkpoints and each rank owns a share of the blocks, so a resumed
non-primary rank finds its blocks missing: they restart from zero statistics, with a warning naming them.
"""
import logging
from typing import Any, Dict, Iterable, List, Tuple

import torch

log = logging.getLogger(__name__)

EXTRA_KEY = 'preconditioner'


def _copy(value: Any) -> Any:
  if isinstance(value, torch.Tensor):
    return value.detach().clone()
  if isinstance(value, list):
    return [_copy(v) for v in value]
  return value


def _load_into(current: Any, saved: Any) -> Any:
  """The saved value on the current value's device (tensors copied in place where the shapes agree)."""
  if isinstance(current, torch.Tensor) and isinstance(saved, torch.Tensor) and current.shape == saved.shape:
    current.copy_(saved)
    return current
  if isinstance(saved, torch.Tensor):
    device = current.device if isinstance(current, torch.Tensor) else saved.device
    return saved.detach().clone().to(device)
  if isinstance(saved, list):
    like = current if isinstance(current, list) and len(current) == len(saved) else [None] * len(saved)
    return [_load_into(c, s) for c, s in zip(like, saved)]
  return saved


class PreconditionerStateDict:
  """Mixin for a torch.optim.Optimizer whose state lives in attributes.

  The class lists `PARAM_LISTS` (attributes holding one tensor per parameter, or None) and `BLOCK_SLOTS`
  (attributes of each block object), and implements `_named_blocks()` -> (key prefix, blocks).
  """
  PARAM_LISTS: Tuple[str, ...] = ()
  BLOCK_SLOTS: Tuple[str, ...] = ()

  def _named_blocks(self) -> Iterable[Tuple[str, List[Any]]]:
    raise NotImplementedError

  def _block_items(self):
    for prefix, blocks in self._named_blocks():
      for s in blocks:
        yield f'{prefix}{s.index}:{s.block.ranges}', s

  def state_dict(self) -> Dict[str, Any]:
    out = super().state_dict()  # pytype: disable=attribute-error
    out[EXTRA_KEY] = {
        'step_count': self.step_count,
        'param_lists': {name: _copy(getattr(self, name)) for name in self.PARAM_LISTS},
        'blocks': {key: {slot: _copy(getattr(s, slot)) for slot in self.BLOCK_SLOTS}
                   for key, s in self._block_items()},
    }
    return out

  def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
    state_dict = dict(state_dict)
    extra = state_dict.pop(EXTRA_KEY, None)
    super().load_state_dict(state_dict)  # pytype: disable=attribute-error
    if extra is None:
      log.warning('%s: the checkpoint holds no preconditioner state (written by an older version); the '
                  'statistics restart from zero.', type(self).__name__)
      return
    self.step_count = extra['step_count']
    for name, saved in extra['param_lists'].items():
      setattr(self, name, _load_into(getattr(self, name), saved))
    missing = []
    for key, s in self._block_items():
      saved = extra['blocks'].get(key)
      if saved is None:
        missing.append(key)
        continue
      for slot in self.BLOCK_SLOTS:
        setattr(s, slot, _load_into(getattr(s, slot), saved[slot]))
    if missing:
      log.warning('%s: %d block(s) of this rank are not in the checkpoint (under DDP only the primary rank '
                  'saves); they restart from zero statistics: %s.', type(self).__name__, len(missing),
                  ', '.join(missing[:5]) + (' ...' if len(missing) > 5 else ''))
