"""The benchmark's inputs and a tiny end-to-end run (not a performance test)."""
import json

import pytest

from benchmark import main as bench
from benchmark import resnet50


def test_resnet50_parameter_list():
  shapes = resnet50.param_shapes()
  assert len(shapes) == 161
  assert sum(resnet50.param_sizes()) == 25_557_032
  assert shapes[0] == (64, 3, 7, 7) and shapes[-2:] == [(1000, 2048), (1000,)]


def test_resnet50_flax_layout_moves_the_output_channels_last():
  torch_shapes, flax_shapes = resnet50.param_shapes('torch'), resnet50.param_shapes('flax')
  assert flax_shapes[0] == (7, 7, 3, 64) and flax_shapes[-2:] == [(2048, 1000), (1000,)]
  assert (3, 3, 64, 64) in flax_shapes and (64, 64, 3, 3) not in flax_shapes
  assert [sorted(s) for s in flax_shapes] == [sorted(s) for s in torch_shapes]


def test_quick_run_writes_rows(tmp_path):
  out = tmp_path / 'bench.json'
  bench.main(['--sizes=1e5', '--kernels=adamw', '--reps=1', '--warmup=1', '--triad-elems=100000',
              f'--out={out}'])
  data = json.loads(out.read_text())
  keys = {'kernel', 'backend', 'framework', 'n_params', 'n_tensors', 'ms', 'gbps', 'pct_of_triad',
          'ratio_vs_torch_fused', 'ratio_vs_torch_foreach', 'ratio_vs_optax', 'peak_extra_mb'}
  assert data['meta']['triad_gbps'] > 0
  ours = [r for r in data['rows'] if r['backend'] == 'cpu']
  assert {r['framework'] for r in ours} >= {'torch', 'jax', 'jax-dropin', 'jax-dropin-apply'}
  for r in data['rows']:
    assert keys <= set(r) and r['n_params'] == 100_000 and r['ms'] > 0
  adamw = next(r for r in ours if r['kernel'] == 'adamw' and r['framework'] == 'torch')
  assert adamw['ratio_vs_torch_fused'] > 0 and adamw['ratio_vs_optax'] > 0
  by_framework = {r['framework']: r for r in ours}
  dropin, in_place = by_framework['jax-dropin'], by_framework['jax']
  assert dropin['ratio_vs_jit_step'] == pytest.approx(in_place['ms'] / dropin['ms'], rel=0.01)  # ms are rounded
  assert in_place['ratio_vs_jit_step'] is None and by_framework['torch']['ratio_vs_jit_step'] is None
