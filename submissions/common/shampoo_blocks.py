"""How Shampoo and CASPR cut parameters into preconditioned blocks: one plan, used by both frameworks.

Framework-neutral (plain Python over shapes): the JAX and PyTorch twins build the same `ParamPlan` for a
parameter and differ only in the array code that follows it.

Shampoo (submissions.md §2.1): squeeze size-1 dims, greedily merge adjacent dims while the product stays
<= max_preconditioner_dim, split every dim into chunks of <= max_preconditioner_dim; a block of order o
gets o Kronecker factors. Parameters with a dimension >= 1,000,000 never get Shampoo (the published
submission sends them to a grafting-only instance).

CASPR (§2.8): merge to 2-D ((a,b,c,d) -> (abc, d); (a,b,c) -> (a, bc) if b < a else (ab, c)); 1-D
parameters and those with a merged dim > 40,000 use NAdam; the rest are tiled into <= 1024 x 1024 blocks.

Layouts: the published Shampoo is PyTorch (weights (out, in), convs OIHW) and the published CASPR is JAX
(kernels (in, out), convs HWIO). CASPR is not transpose-symmetric and both depend on the order of merged
dims, so each twin views a weight in its algorithm's published layout (`to_canonical_axes`).
"""
import dataclasses
import math
from typing import List, Optional, Sequence, Tuple

# A dimension this large (the Criteo embedding) gets the grafting update only (submissions.md §2.1 (a)).
SHAMPOO_GRAFT_ONLY_DIM = 1_000_000
CASPR_BLOCK = 1024
CASPR_MAX_DIM = 40_000

Range = Tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Block:
  """One preconditioned block: its ranges in the merged shape, and the slot of each Kronecker factor
  (factor k of this block is matrix `slots[k]` of the size-`shape[k]` group)."""
  ranges: Tuple[Range, ...]
  slots: Tuple[int, ...] = ()

  @property
  def shape(self) -> Tuple[int, ...]:
    return tuple(b - a for a, b in self.ranges)

  @property
  def order(self) -> int:
    return len(self.ranges)


@dataclasses.dataclass(frozen=True)
class ParamPlan:
  name: str
  shape: Tuple[int, ...]            # native shape
  axes: Tuple[int, ...]             # native -> canonical transpose (identity if none)
  merged: Tuple[int, ...]           # canonical shape reshaped (merged dims)
  blocks: Tuple[Block, ...]         # empty: no preconditioner (grafting / NAdam only)
  reason: str = ''                  # why the parameter is not preconditioned, when it is not

  @property
  def canonical_shape(self) -> Tuple[int, ...]:
    return tuple(self.shape[a] for a in self.axes)

  @property
  def inverse_axes(self) -> Tuple[int, ...]:
    return tuple(sorted(range(len(self.axes)), key=lambda i: self.axes[i]))


def merge_small_dims(shape: Sequence[int], max_dim: int) -> Tuple[int, ...]:
  """Drops size-1 dims, then merges adjacent dims greedily while the product stays <= max_dim.

  A scalar (or all-ones shape) becomes (1,): a 1x1 factor.
  """
  dims = [d for d in shape if d != 1]
  if not dims:
    return (1,)
  merged = [dims[0]]
  for d in dims[1:]:
    if merged[-1] * d <= max_dim:
      merged[-1] *= d
    else:
      merged.append(d)
  return tuple(merged)


def split_ranges(n: int, size: int) -> List[Range]:
  """[0, n) in chunks of `size` (the last may be shorter), as torch.split does."""
  return [(a, min(a + size, n)) for a in range(0, n, size)]


def tile(merged: Sequence[int], size: int) -> List[Tuple[Range, ...]]:
  """Every block of the grid that cuts each dim into chunks of <= size, in row-major order."""
  out = [()]
  for n in merged:
    out = [prefix + (r,) for prefix in out for r in split_ranges(n, size)]
  return out


def to_canonical_axes(kind: str, ndim: int, layout: str) -> Tuple[int, ...]:
  """The transpose that shows a weight in `layout` ('torch' or 'flax').

  kind: 'dense' (torch (out, in), flax (in, out)), 'conv' (torch OI..., flax ...IO), or anything else
  (the shapes already agree). `kind` names the native framework's weight: 'torch_dense', 'flax_conv', ...
  """
  native, _, what = kind.partition('_')
  if native == layout or what not in ('dense', 'conv') or ndim < 2:
    return tuple(range(ndim))
  if what == 'dense' and ndim == 2:
    return (1, 0)
  if what == 'conv':
    spatial = tuple(range(2, ndim)) if native == 'torch' else tuple(range(ndim - 2))
    if native == 'torch':  # O I S... -> S... I O
      return spatial + (1, 0)
    return (ndim - 1, ndim - 2) + spatial  # S... I O -> O I S...
  return tuple(range(ndim))


def flax_kind(path: str, ndim: int) -> str:
  """Flax names every Dense and Conv weight 'kernel': 2-D is a Dense, 3-D+ a convolution."""
  if not path.endswith('kernel'):
    return 'other'
  return 'flax_dense' if ndim == 2 else 'flax_conv'


def torch_kind(module) -> str:
  import torch  # pylint: disable=import-outside-toplevel
  if isinstance(module, torch.nn.Linear):
    return 'torch_dense'
  if isinstance(module, torch.nn.modules.conv._ConvNd):  # pylint: disable=protected-access
    return 'torch_conv'
  return 'other'


def torch_named_kinds(model) -> List[Tuple[str, object, str]]:
  """(name, parameter, kind) for every trainable parameter of a torch model (DDP unwrapped)."""
  model = getattr(model, 'module', model)
  out = []
  for module_name, module in model.named_modules():
    for pname, p in module.named_parameters(recurse=False):
      if p.requires_grad:
        kind = torch_kind(module) if pname == 'weight' else 'other'
        out.append((f'{module_name}.{pname}' if module_name else pname, p, kind))
  return out


def own_shape(name: str, shape: Sequence[int]) -> Tuple[int, ...]:
  """The rules_shape_fn default: the size rules see the parameter's own shape."""
  del name
  return tuple(int(d) for d in shape)


def full_scale_shape(workload, name: str, shape: Sequence[int]) -> Tuple[int, ...]:
  """The shape the published size rules see: `shape` with its rows multiplied by the workload's
  full_scale_rows_factor(name) (the Criteo embedding table at a reduced scale: 256x at lite), else as is.
  Those rules (Shampoo's graft-only dimension, CASPR's NAdam limit) exist to catch that table; applied to a
  lite table's 16,384 rows they would precondition it in 1024-row blocks, which the published
  configurations never do (a lite Criteo Shampoo step was 14x NAdamW's)."""
  shape = tuple(int(d) for d in shape)
  factor = workload.full_scale_rows_factor(name) if hasattr(workload, 'full_scale_rows_factor') else 1.0
  if factor == 1.0 or not shape:
    return shape
  return (round(shape[0] * factor),) + shape[1:]


def shampoo_plan(name: str, shape: Sequence[int], kind: str, max_preconditioner_dim: int,
                 rules_shape: Optional[Sequence[int]] = None) -> ParamPlan:
  """rules_shape: the shape the graft-only rule sees (full_scale_shape), `shape` by default."""
  shape = tuple(int(d) for d in shape)
  axes = to_canonical_axes(kind, len(shape), 'torch')
  canonical = tuple(shape[a] for a in axes)
  merged = merge_small_dims(canonical, max_preconditioner_dim)
  rules_shape = shape if rules_shape is None else tuple(rules_shape)
  if any(d >= SHAMPOO_GRAFT_ONLY_DIM for d in rules_shape):
    scaled = '' if rules_shape == shape else ' at full scale'
    return ParamPlan(name, shape, axes, merged, (),
                     f'a dimension of {max(rules_shape):,}{scaled} is >= {SHAMPOO_GRAFT_ONLY_DIM:,}')
  blocks = tuple(Block(r) for r in tile(merged, max_preconditioner_dim))
  return ParamPlan(name, shape, axes, merged, blocks)


def caspr_merge(shape: Sequence[int]) -> Tuple[int, ...]:
  shape = tuple(shape)
  if len(shape) >= 4:
    return (math.prod(shape[:-1]), shape[-1])
  if len(shape) == 3:
    a, b, c = shape
    return (a, b * c) if b < a else (a * b, c)
  return shape


def caspr_plan(name: str, shape: Sequence[int], kind: str, rules_shape: Optional[Sequence[int]] = None) -> ParamPlan:
  """rules_shape: the shape the NAdam limit sees (full_scale_shape), `shape` by default."""
  shape = tuple(int(d) for d in shape)
  axes = to_canonical_axes(kind, len(shape), 'flax')
  canonical = tuple(shape[a] for a in axes)
  merged = caspr_merge(canonical)
  if len(merged) < 2:
    return ParamPlan(name, shape, axes, merged, (), 'one-dimensional (NAdam)')
  rules_merged = merged if rules_shape is None else caspr_merge(tuple(tuple(rules_shape)[a] for a in axes))
  if max(rules_merged) > CASPR_MAX_DIM:
    scaled = '' if rules_merged == merged else ' at full scale'
    return ParamPlan(name, shape, axes, merged, (),
                     f'a merged dimension of {max(rules_merged):,}{scaled} is > {CASPR_MAX_DIM:,}')
  blocks = tuple(Block(r) for r in tile(merged, CASPR_BLOCK))
  return ParamPlan(name, shape, axes, merged, blocks)


@dataclasses.dataclass(frozen=True)
class Layout:
  """Plans of every parameter with factor slots assigned, and the factor groups by matrix size.

  groups[d] = number of d x d matrices; `padded(d, shards)` rounds it up so that a group splits evenly.
  """
  params: Tuple[ParamPlan, ...]
  groups: Tuple[Tuple[int, int], ...]  # (size, count), sorted by size

  def count(self, d: int) -> int:
    return dict(self.groups)[d]


def assign_slots(plans: Sequence[ParamPlan], sides: Optional[Sequence[int]] = None) -> Layout:
  """Numbers the factors of every block within its size group, in parameter and block order.

  sides: which dims of a block get a factor (Shampoo: all; CASPR uses its own groups per side).
  """
  counts = {}
  out = []
  for plan in plans:
    blocks = []
    for block in plan.blocks:
      slots = []
      for k, d in enumerate(block.shape):
        if sides is not None and k not in sides:
          slots.append(-1)
          continue
        slots.append(counts.get(d, 0))
        counts[d] = counts.get(d, 0) + 1
      blocks.append(dataclasses.replace(block, slots=tuple(slots)))
    out.append(dataclasses.replace(plan, blocks=tuple(blocks)))
  return Layout(tuple(out), tuple(sorted(counts.items())))


def padded(count: int, shards: int) -> int:
  return max(shards, -(-count // shards) * shards)


def assign_owners(plans: Sequence[ParamPlan], world: int) -> List[List[int]]:
  """Greedy split of blocks over `world` ranks: largest cost first onto the least-loaded rank.

  Cost = sum of d^3 over the block's factors (the root computation). Deterministic, so every rank
  computes the same assignment. Returns owner[param][block].
  """
  items = []
  for i, plan in enumerate(plans):
    for j, block in enumerate(plan.blocks):
      items.append((-sum(d**3 for d in block.shape), i, j))
  load = [0] * world
  owners = [[0] * len(plan.blocks) for plan in plans]
  for neg_cost, i, j in sorted(items):
    rank = min(range(world), key=lambda r: (load[r], r))
    owners[i][j] = rank
    load[rank] -= neg_cost
  return owners


def root_exponent(order: int, inv_root_override: int, exponent_multiplier: float) -> float:
  """The e/r of Q = F^(-e/r): r = 2 * order unless inv_root_override (> 0) sets it for every block."""
  r = inv_root_override if inv_root_override > 0 else 2 * order
  return exponent_multiplier / r
