"""Framework-neutral core: op specs, list validation and the call into the extension.

The extension takes address tables, not tensors, so it links no libtorch and no numpy. Every
front end (torch, numpy, JAX) describes each list with a `ListInfo`, and this module checks them
once, with messages that name the list and index at fault.
"""
import array
import dataclasses
from typing import NamedTuple, Optional, Sequence

from algoperf_kernels import _C

OPS = dict(_C.OPS)
FLAGS = dict(_C.FLAGS)


@dataclasses.dataclass(frozen=True)
class OpSpec:
  """Names of an op's lists (in kernel order), fixed hyper-parameters and per-step scalars."""
  lists: tuple
  hyper: tuple
  dyn: tuple
  master: bool  # whether bf16 mode appends an fp32 master list


SPECS = {
    'adam': OpSpec(('params', 'grads', 'exp_avgs', 'exp_avg_sqs'),
                   ('beta1', 'beta2', 'eps', 'weight_decay', 'power'), ('lr', 'step'), True),
    'sf_step': OpSpec(('params', 'grads', 'zs', 'exp_avg_sqs'),
                      ('beta1', 'beta2', 'eps', 'weight_decay'), ('lr', 'step', 'c'), True),
    'sf_swap': OpSpec(('params', 'zs'), (), ('weight',), True),
    'ema': OpSpec(('emas', 'params'), (), ('weight',), False),
    'lawa_push': OpSpec(('sums', 'slots', 'params'), (), (), False),
    'scale_copy': OpSpec(('outs', 'srcs'), (), ('scale',), True),
    'sgd': OpSpec(('params', 'grads', 'momentum_buffers'),
                  ('momentum', 'dampening', 'weight_decay', 'decoupled_weight_decay', 'dir_grad',
                   'dir_buf'), ('lr', 'first'), True),
    'graft': OpSpec(('grads', 'exp_avgs', 'graft_sqs', 'directions', 'filtered'),
                    ('beta1', 'beta2', 'eps'), ('step',), False),
    'triad': OpSpec(('a', 'b', 'c'), (), ('scalar',), False),
    'sinv6': OpSpec(('params', 'grads', 'ms', 'rmss'), ('beta1', 'beta2', 'eps', 'eps_root', 'clip'),
                    ('scale',), False),
    'adamg': OpSpec(('params', 'grads', 'exp_avgs', 'exp_avg_sqs', 'numerators'),
                    ('beta1', 'beta2', 'beta3', 'eps', 'p_num', 'q_num'), ('lr', 'step'), True),
    # optax drop-in: AdamW writing the update over `grads` (params read only; see update_math.h).
    'adam_update': OpSpec(('params', 'grads', 'exp_avgs', 'exp_avg_sqs'), (),
                          ('lr', 'step', 'beta1', 'beta2', 'eps', 'eps_root', 'weight_decay', 'power'), False),
    # Two-pass reducing ops (fp32 only). amos_*: per-tensor scalars (one value per tensor for each dyn name).
    'amos_sums': OpSpec(('grads', 'mus', 'nus'), ('beta1', 'beta2'), ('scale', 'v_prev', 'c_now'), False),
    'amos_step': OpSpec(('params', 'grads', 'mus', 'nus'), ('beta1', 'beta2'),
                        ('scale', 'v_prev', 'v_hat', 'weight_decay', 'e', 'd'), False),
    'prodigy_sums': OpSpec(('grads', 'x0s', 'zs', 'exp_avg_sqs', 'ss'), ('beta2', 'sqrt_beta2'), ('vc', 'ddl'), False),
    'prodigy_step': OpSpec(('params', 'grads', 'zs', 'exp_avg_sqs'), (), ('wd_dl', 'step', 'eps_d', 'c', 'moved'),
                           False),
}


def op_info(op: str, flags: int) -> dict:
  return _C.op_info(OPS[op], flags)


def list_names(op: str, flags: int) -> tuple:
  spec = SPECS[op]
  names = spec.lists
  if spec.master and flags & FLAGS['bf16']:
    names = names + ('masters',)
  return names


class BadItem(ValueError):
  """An object in a list that the front end cannot use; `call` adds the list's name."""

  def __init__(self, index: int, message: str):
    super().__init__(message)
    self.index = index
    self.message = message


class ListInfo(NamedTuple):
  """What validation needs to know about one list of tensors, column by column (cheap to build
  with list comprehensions, checked with C-level list operations)."""
  shapes: list       # tuples (torch.Size compares equal to tuples)
  dtypes: list       # names: 'float32', 'bfloat16', anything else is rejected
  devices: list      # comparable device objects or strings
  contiguous: list   # bools: dense (contiguous, or any permuted layout without gaps)
  ptrs: list         # data addresses
  numels: list       # element counts
  writeable: Optional[list] = None  # bools, None when always writeable
  # Strides of the dims of size > 1 (a tensor of layout facts), None when every tensor of the list
  # is contiguous: element i of every list must be the same element, so layouts must agree.
  strides: Optional[list] = None


_OP_CACHE = {}


def _op_facts(op, flags):
  key = (op, flags)
  if key not in _OP_CACHE:
    info = op_info(op, flags)
    used = info['read'] | info['write']
    first = next(l for l in range(info['depth']) if (used >> l) & 1)
    _OP_CACHE[key] = (info, list_names(op, flags), used, first)
  return _OP_CACHE[key]


def validate(op: str, flags: int, lists: Sequence[Optional[ListInfo]]) -> tuple:
  """Raises ValueError naming the offending list[index] and what was expected.

  Returns (op info, index of the first used list)."""
  info, names, used, first = _op_facts(op, flags)
  if len(lists) != len(names):
    raise ValueError(f'{op}: expected {len(names)} lists ({", ".join(names)}), got {len(lists)}')
  ref = lists[first]
  if ref is None or len(ref.shapes) == 0:
    raise ValueError(f'{op}: {names[first]} is empty; pass at least one tensor')
  n = len(ref.shapes)
  device0 = ref.devices[0]
  for l, (name, cols) in enumerate(zip(names, lists)):
    if not (used >> l) & 1:
      continue
    if cols is None:
      raise ValueError(f'{op}: {name} is required')
    if len(cols.shapes) != n:
      raise ValueError(f'{op}: {name} has {len(cols.shapes)} tensors, expected {n} (one per parameter)')
    want = 'bfloat16' if (info['half'] >> l) & 1 else 'float32'
    writes = (info['write'] >> l) & 1
    ok = (cols.dtypes.count(want) == n and cols.devices.count(device0) == n and cols.shapes == ref.shapes
          and all(cols.contiguous) and cols.strides == ref.strides and (not writes or cols.writeable is None or all(cols.writeable)))
    if ok and 0 in cols.ptrs:  # null is fine only for empty tensors
      ok = all(numel == 0 for numel, ptr in zip(cols.numels, cols.ptrs) if ptr == 0)
    if not ok:
      _explain(op, names, first, l, cols, ref, want, device0, writes)
  return info, first


def _explain(op, names, first, l, cols, ref, want, device0, writes):
  for i in range(len(cols.shapes)):
    where = f'{op}: {names[l]}[{i}]'
    if cols.dtypes[i] != want:
      raise ValueError(f'{where}: expected dtype {want}, got {cols.dtypes[i]}')
    if cols.devices[i] != device0:
      raise ValueError(f'{where}: expected device {device0} (same as the first tensor), got {cols.devices[i]}')
    if cols.shapes[i] != ref.shapes[i]:
      raise ValueError(f'{where}: expected shape {tuple(ref.shapes[i])} (same as {names[first]}[{i}]), '
                       f'got {tuple(cols.shapes[i])}')
    if not cols.contiguous[i]:
      raise ValueError(f'{where}: expected a dense tensor (contiguous, or a permuted layout such as '
                       'channels_last without gaps)')
    mine = cols.strides[i] if cols.strides is not None else 'contiguous'
    theirs = ref.strides[i] if ref.strides is not None else 'contiguous'
    if mine != theirs:
      raise ValueError(f'{where}: memory layout (strides {mine}) differs from {names[first]}[{i}] ({theirs}); '
                       'every list must share the parameter\'s layout')
    if cols.numels[i] and not cols.ptrs[i]:
      raise ValueError(f'{where}: null data pointer')
    if writes and cols.writeable is not None and not cols.writeable[i]:
      raise ValueError(f'{where}: this list is updated in place but the array is read-only')
  raise AssertionError('validation failed without a culprit')


def _first_used(used: int, depth: int) -> int:
  for l in range(depth):
    if (used >> l) & 1:
      return l
  raise ValueError('op uses no list')


class Table:
  """Address and size tables for one call, kept alive while the extension reads them."""

  def __init__(self, ptr_lists: Sequence[Optional[Sequence[int]]], sizes: Sequence[int]):
    n = len(sizes)
    flat = []
    for ptrs in ptr_lists:
      flat.extend(ptrs if ptrs is not None else [0] * n)
    self.depth = len(ptr_lists)
    self.n = n
    self._ptrs = array.array('Q', flat)
    self._sizes = array.array('q', sizes)
    self.ptrs_addr = self._ptrs.buffer_info()[0]
    self.sizes_addr = self._sizes.buffer_info()[0]


def flags_for(*, bf16=False, nesterov=False, root=False, momentum=False, write_mt=False, reduced=False) -> int:
  return ((FLAGS['bf16'] if bf16 else 0) | (FLAGS['nesterov'] if nesterov else 0) |
          (FLAGS['root'] if root else 0) | (FLAGS['momentum'] if momentum else 0) |
          (FLAGS['write_mt'] if write_mt else 0) | (FLAGS['reduced'] if reduced else 0))


def dyn_values(op: str, dyn: dict, n: int) -> list:
  """The per-step scalars in kernel order. Ops with per-tensor scalars (op_info's per_tensor_dyn) take a
  value or a sequence of n values per name and get n rows; the others one value per name."""
  spec = SPECS[op]
  if not _C.op_info(OPS[op], 0)['per_tensor_dyn']:
    return [float(dyn[k]) for k in spec.dyn]
  cols = []
  for k in spec.dyn:
    v = dyn[k]
    col = [float(x) for x in v] if isinstance(v, (list, tuple)) else [float(v)] * n
    if len(col) != n:
      raise ValueError(f'{op}: {k} has {len(col)} values, expected one per tensor ({n})')
    cols.append(col)
  return [cols[j][t] for t in range(n) for j in range(len(spec.dyn))]


def run(op: str, flags: int, table: Table, hyper: dict, dyn: dict, *, device='cpu', device_index=-1,
        stream=0, dyn_device=0, sums=0, partials=0) -> None:
  """Calls the kernel. hyper/dyn are dicts keyed by the names in SPECS[op]."""
  spec = SPECS[op]
  hyper_vals = [float(hyper[k]) for k in spec.hyper]
  dyn_vals = [] if dyn_device else dyn_values(op, dyn, table.n)
  _C.apply(OPS[op], flags, table.depth, table.n, table.ptrs_addr, table.sizes_addr, hyper_vals,
           dyn_vals, device=device, device_index=device_index, stream=stream, dyn_device=dyn_device,
           sums=sums, partials=partials)


def run_raw(op: str, lists: Sequence[Optional[Sequence[int]]], sizes: Sequence[int], hyper: dict,
            dyn: dict, flags: int = 0, sums: int = 0) -> None:
  """CPU call on raw addresses (array.array buffers, ctypes): no framework needed."""
  info = op_info(op, flags)
  if len(lists) != info['depth']:
    raise ValueError(f'{op}: expected {info["depth"]} address lists, got {len(lists)}')
  run(op, flags, Table(lists, sizes), hyper, dyn, sums=sums)
