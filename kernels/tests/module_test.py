"""The extension module itself: backend facts, raw-pointer entry points, the CUDA launch planner."""
import array
import ctypes
import os

import pytest

import algoperf_kernels as ak
from algoperf_kernels import _C
from algoperf_kernels import core


def test_backend_facts():
  assert ak.cpu_isa() in ('avx2', 'generic')
  assert ak.cuda_device_count() >= 0
  assert ak.cuda_available() == (ak.built_with_cuda() and ak.cuda_device_count() > 0)
  if not any(os.path.exists(f'/dev/nvidia{i}') for i in range(8)):
    assert ak.cuda_device_count() == 0 and not ak.cuda_available()
  with pytest.raises(ValueError):
    ak.set_cpu_isa('avx512')
  ak.set_cpu_isa('generic')
  assert ak.cpu_isa() == 'generic'
  ak.set_cpu_isa('auto')
  assert ak.cpu_isa() == ('avx2' if _C.cpu_has_avx2() else 'generic')


def test_op_info_matches_specs():
  for op, spec in core.SPECS.items():
    info = core.op_info(op, 0)
    assert info['depth'] == len(spec.lists) - (op == 'graft' and 0), op
    assert info['n_hyper'] == len(spec.hyper) and info['n_dyn'] == len(spec.dyn), op
    if spec.master:
      assert core.op_info(op, core.FLAGS['bf16'])['depth'] == len(spec.lists) + 1


def floats(values):
  return array.array('f', values)


def addr(buf):
  return buf.buffer_info()[0]


def test_raw_entry_point_on_array_buffers():
  """No numpy/torch: array.array buffers and their addresses (what the wheel test does)."""
  n = 37
  p, g = floats([1.0] * n), floats([0.5] * n)
  m, v = floats([0.0] * n), floats([0.0] * n)
  core.run_raw('adam', [[addr(p)], [addr(g)], [addr(m)], [addr(v)]], [n],
               dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, power=2.0), dict(lr=0.1, step=1))
  # First Adam step from zero state moves every element by lr (times sign(g)).
  assert all(abs(x - 0.9) < 1e-6 for x in p)
  assert all(abs(x - 0.05) < 1e-7 for x in m)


def test_ctypes_entry_point():
  lib = ctypes.CDLL(_C.__file__)
  fn = lib.apk_apply_cpu
  fn.restype = ctypes.c_int
  n = 10
  a, b, c = floats([0.0] * n), floats([1.0] * n), floats([2.0] * n)
  ptrs = (ctypes.c_uint64 * 3)(addr(a), addr(b), addr(c))
  sizes = (ctypes.c_int64 * 1)(n)
  dyn = (ctypes.c_double * 1)(3.0)
  err = ctypes.create_string_buffer(256)
  rc = fn(core.OPS['triad'], 0, 3, ctypes.c_int64(1), ptrs, sizes, None, 0, dyn, 1, None, err, 256)
  assert rc == 0, err.value
  assert list(a) == [7.0] * n
  rc = fn(core.OPS['triad'], 0, 2, ctypes.c_int64(1), ptrs, sizes, None, 0, dyn, 1, None, err, 256)
  assert rc == 1 and b'number of tensor lists' in err.value


def test_extension_rejects_malformed_calls():
  t = core.Table([[0], [0], [0]], [0])
  with pytest.raises(ValueError, match='unknown op'):
    _C.apply(99, 0, 3, 1, t.ptrs_addr, t.sizes_addr, [], [1.0])
  with pytest.raises(ValueError, match='per-step scalars'):
    _C.apply(core.OPS['triad'], 0, 3, 1, t.ptrs_addr, t.sizes_addr, [], [])
  with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
    _C.apply(core.OPS['triad'], 0, 3, 1, t.ptrs_addr, t.sizes_addr, [], [1.0], device='tpu')
  buf = floats([0.0] * 4)
  t = core.Table([[addr(buf)], [0], [addr(buf)]], [4])
  with pytest.raises(ValueError, match='null data pointer'):
    _C.apply(core.OPS['triad'], 0, 3, 1, t.ptrs_addr, t.sizes_addr, [], [1.0])
  if not ak.built_with_cuda():
    t = core.Table([[addr(buf)]] * 3, [4])
    with pytest.raises(RuntimeError, match='built without CUDA'):
      _C.apply(core.OPS['triad'], 0, 3, 1, t.ptrs_addr, t.sizes_addr, [], [1.0], device='cuda')


def check_plan(sizes, depth, chunk=_C.CUDA_CHUNK, max_blocks=_C.CUDA_MAX_BLOCKS):
  plan = _C.plan_launches(sizes, depth, chunk, max_blocks)
  seen = {}
  for tensors, blocks in plan:
    assert 0 < len(blocks) <= max_blocks
    assert len(tensors) <= _C.max_tensors(depth)
    for slot, c in blocks:
      t = tensors[slot]
      assert 0 <= c * chunk < sizes[t]
      seen[(t, c)] = seen.get((t, c), 0) + 1
  expected = {(t, c) for t, s in enumerate(sizes) for c in range(-(-s // chunk))}
  assert set(seen) == expected and all(v == 1 for v in seen.values())
  assert _C.chunk_bases(sizes, chunk)[-1] == len(expected)
  return plan


def test_cuda_launch_plan():
  """The host side of the CUDA multi-tensor apply, checked on any machine."""
  check_plan([1, 0, 65536, 65537, 10 ** 7], 4)
  check_plan([4096] * 1000, 5)
  check_plan([(i * 7919) % 200000 for i in range(300)], 3, chunk=1000, max_blocks=7)


def test_resnet50_launch_count():
  """ResNet-50's 161 tensors take a handful of launches per step (4 KB of kernel parameters each)."""
  from benchmark import resnet50
  plan = check_plan(resnet50.param_sizes(), 4)
  assert len(plan) <= 8
