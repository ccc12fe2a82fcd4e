"""CUDA backend: bit-for-bit agreement with the CPU kernels, launch coverage, CUDA graphs, JAX.

Skipped (with the reason) without a GPU; kernels/tools/gpu_check.sh runs it on a GPU machine.
The CUDA path uses the same update math with explicit round-to-nearest intrinsics (no implicit
FMA contraction), so every op must match the CPU path bit for bit. Exceptions, with looser
bounds: NadamP's powf (not correctly rounded on either side), and the graft norms (a different
but fixed summation tree: rtol 1e-12).
"""
import numpy as np
import pytest
import torch

import algoperf_kernels as ak
from algoperf_kernels import torch_ops
from algoperf_kernels import torch_optim

pytestmark = pytest.mark.skipif(
    not (ak.cuda_available() and torch.cuda.is_available()),
    reason=(f'needs a CUDA device (built_with_cuda={ak.built_with_cuda()}, '
            f'devices={ak.cuda_device_count()}); run kernels/tools/gpu_check.sh on a GPU machine'))

SIZES = [1, 3, 4, 1000, 65536, 65536 * 3 + 7, 1 << 20]


def randn(sizes, seed, dtype=torch.float32, positive=False):
  g = torch.Generator().manual_seed(seed)
  out = [torch.randn(s, generator=g) for s in sizes]
  return [(x.abs() if positive else x).to(dtype) for x in out]


def misaligned(t):
  """The same values at an address 4 bytes (2 for bf16) off the allocation: the scalar path."""
  buf = torch.empty(t.numel() + 1, dtype=t.dtype, device='cuda')
  view = buf[1:]
  view.copy_(t)
  return view


def to_cuda(lists, skew=False):
  return [None if l is None else [misaligned(t) if skew and i % 2 else t.cuda() for i, t in enumerate(l)]
          for l in lists]


def compare(fn, lists, exact=True, **kw):
  """Runs fn on CPU copies and CUDA copies (aligned and misaligned) and compares every list."""
  for skew in (False, True):
    cpu = [None if l is None else [t.clone() for t in l] for l in lists]
    gpu = to_cuda(lists, skew)
    out_cpu = fn(*cpu, **kw)
    out_gpu = fn(*gpu, **kw)
    torch.cuda.synchronize()
    for a, b in zip(cpu, gpu):
      if a is None:
        continue
      for x, y in zip(a, b):
        if exact:
          assert torch.equal(x.view(torch.int16) if x.dtype == torch.bfloat16 else x,
                             (y.cpu().view(torch.int16) if y.dtype == torch.bfloat16 else y.cpu()))
        else:
          torch.testing.assert_close(x, y.cpu(), rtol=1e-6, atol=1e-6 * float(x.abs().max()))
    if out_cpu is not None:
      torch.testing.assert_close(out_cpu, out_gpu.cpu(), rtol=1e-12, atol=0)


@pytest.mark.parametrize('nesterov,power', [(False, 2.0), (True, 2.0), (True, 1.5)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_adam_family(nesterov, power, dtype):
  ps, gs = randn(SIZES, 0, dtype), randn(SIZES, 1, dtype)
  ms, vs = randn(SIZES, 2), randn(SIZES, 3, positive=True)
  masters = randn(SIZES, 4) if dtype == torch.bfloat16 else None
  fn = lambda p, g, m, v, mm: torch_ops.adamw(p, g, m, v, masters=mm, lr=1e-3, step=7, weight_decay=0.1,
                                               nesterov=nesterov, power=power)
  compare(fn, [ps, gs, ms, vs, masters], exact=power == 2.0)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_schedule_free_ema_lawa_sgd(dtype):
  bf = dtype == torch.bfloat16
  ys, gs = randn(SIZES, 5, dtype), randn(SIZES, 6, dtype)
  zs, vs = randn(SIZES, 7), randn(SIZES, 8, positive=True)
  masters = randn(SIZES, 9) if bf else None
  compare(lambda y, g, z, v, mm: torch_ops.sf_adamw_step(y, g, z, v, masters=mm, lr=1e-2, step=5, c=0.2,
                                                         beta1=0.9, beta2=0.999, weight_decay=0.01),
          [ys, gs, zs, vs, masters])
  compare(lambda y, z, mm: torch_ops.sf_swap(y, z, masters=mm, weight=1 - 1 / 0.9), [ys, zs, masters])
  compare(lambda e, p: torch_ops.ema(e, p, decay=0.999), [randn(SIZES, 10), ys])
  compare(lambda s, o, p: torch_ops.lawa_push(s, o, p), [randn(SIZES, 11), randn(SIZES, 12), ys])
  compare(lambda o, s, mm: torch_ops.scale_copy(o, s, scale=0.1, masters=mm), [ys, randn(SIZES, 13), masters])
  compare(lambda p, g, b, mm: torch_ops.sgd(p, g, b, masters=mm, lr=0.1, momentum=0.9, nesterov=True,
                                            weight_decay=1e-4),
          [ys, gs, randn(SIZES, 14), masters])


def test_graft_and_triad():
  gs, ms, sq = randn(SIZES, 15), randn(SIZES, 16), randn(SIZES, 17, positive=True)
  compare(lambda g, m, a, d, mt: torch_ops.adam_graft(g, m, a, d, mt, step=3, beta1=0.9, beta2=0.99, eps=1e-8,
                                                      nesterov=True),
          [gs, ms, sq, randn(SIZES, 18), randn(SIZES, 19)])
  compare(lambda a, b, c: torch_ops.triad(a, b, c, scalar=3.0), [randn(SIZES, 20), gs, ms])


def test_many_small_tensors_and_a_large_one():
  sizes = [(i * 7919) % 5000 + 1 for i in range(1500)] + [25_000_000]
  ps, gs = randn(sizes, 21), randn(sizes, 22)
  ms, vs = randn(sizes, 23), randn(sizes, 24, positive=True)
  compare(lambda p, g, m, v: torch_ops.adamw(p, g, m, v, lr=1e-3, step=2), [ps, gs, ms, vs])


def test_current_stream_is_used():
  ps, gs = randn([1 << 22], 25), randn([1 << 22], 26)
  cpu = [t.clone() for t in ps]
  gpu = [t.cuda() for t in ps]
  ggpu = [t.cuda() for t in gs]
  m, v = [torch.zeros(1 << 22, device='cuda')], [torch.zeros(1 << 22, device='cuda')]
  s = torch.cuda.Stream()
  s.wait_stream(torch.cuda.current_stream())
  with torch.cuda.stream(s):
    torch_ops.adamw(gpu, ggpu, m, v, lr=1e-3, step=1)
  torch.cuda.current_stream().wait_stream(s)
  torch_ops.adamw(cpu, gs, [torch.zeros(1 << 22)], [torch.zeros(1 << 22)], lr=1e-3, step=1)
  assert torch.equal(cpu[0], gpu[0].cpu())


def test_capturable_adamw_in_a_cuda_graph():
  """lr and step live on the device: one captured step replays with new values, no host work."""
  shapes = [(512, 256), (1000,), (3, 3, 64, 64)]
  torch.manual_seed(0)
  init = [torch.randn(s) for s in shapes]
  grads = [[torch.randn(s) for s in shapes] for _ in range(5)]
  lrs = [1e-3, 2e-3, 3e-3, 2e-3, 1e-3]

  ref = [torch.nn.Parameter(t.cuda()) for t in init]
  ref_opt = torch_optim.AdamW(ref, lr=1e-3, weight_decay=0.1)
  for lr, gl in zip(lrs, grads):
    ref_opt.param_groups[0]['lr'] = lr
    for p, g in zip(ref, gl):
      p.grad = g.cuda()
    ref_opt.step()

  params = [torch.nn.Parameter(t.cuda()) for t in init]
  for p in params:
    p.grad = torch.zeros_like(p)
  lr_t = torch.tensor(lrs[0], device='cuda')
  opt = torch_optim.AdamW(params, lr=lr_t, weight_decay=0.1, capturable=True)
  for p in params:  # the state must exist before capture (no allocation inside the graph)
    opt._state(p, opt.param_groups[0])
  s = torch.cuda.Stream()
  s.wait_stream(torch.cuda.current_stream())
  graph = torch.cuda.CUDAGraph()
  with torch.cuda.stream(s):
    with torch.cuda.graph(graph, stream=s):
      opt.step()
  torch.cuda.current_stream().wait_stream(s)
  torch.cuda.synchronize()
  # Capture does not run the kernels; every replay is one real step.
  for lr, gl in zip(lrs, grads):
    lr_t.fill_(lr)
    for p, g in zip(params, gl):
      p.grad.copy_(g.cuda())
    graph.replay()
  torch.cuda.synchronize()
  for p, q in zip(params, ref):
    torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
  assert float(opt.state[params[0]]['step']) == 5.0


def test_jax_ffi_on_gpu():
  jax = pytest.importorskip('jax')
  try:
    gpu = jax.devices('gpu')[0]
  except RuntimeError:
    pytest.skip('jax has no GPU backend here')
  import jax.numpy as jnp
  from algoperf_kernels import optax_ops
  rng = np.random.default_rng(0)
  params = {'w': rng.standard_normal((1000, 300)).astype(np.float32), 'b': rng.standard_normal(300).astype(np.float32)}
  grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
  results = []
  for device in (jax.devices('cpu')[0], gpu):
    opt = optax_ops.nadamw(1e-3, weight_decay=0.1)
    p = jax.device_put(params, device)
    g = jax.device_put(grads, device)
    st = jax.device_put(opt.init(p), device)
    step = opt.jit_step()
    for _ in range(3):
      p, st = step(g, st, p)
    results.append(jax.tree.map(np.asarray, (p, st.mu, st.nu)))
  for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  del jnp


# Two-pass reducing ops: arrays bit for bit, the per-tensor sums to 1e-12 (a different fixed tree), the
# per-tensor scalars read on the device across launches (many tensors).
@pytest.mark.parametrize('reduced', [False, True])
def test_amos_two_pass(reduced):
  sizes = SIZES + [(i * 7919) % 5000 + 1 for i in range(100)]
  n = len(sizes)
  gs, mus, nus = randn(sizes, 30), randn(sizes, 31), randn(sizes, 32, positive=True)
  v_prev = [0.01 * (i % 3) for i in range(n)]
  compare(lambda g, mu, nu: torch_ops.amos_sums(g, mu, nu, scale=0.5, v_prev=v_prev if reduced else 0.3, c_now=0.7,
                                                beta1=0.9, beta2=0.98, reduced=reduced),
          [gs, None if reduced else mus, None if reduced else nus])
  wd, e, d = [-1e-3 * (i + 1) for i in range(n)], [0.1 / (i + 1) for i in range(n)], [1 + 0.01 * i for i in range(n)]
  compare(lambda p, g, mu, nu: torch_ops.amos_step(p, g, mu, nu, weight_decay=wd, e=e, d=d, beta1=0.9, beta2=0.98,
                                                   scale=0.5, v_prev=v_prev, v_hat=[0.02] * n, c_now=0.7,
                                                   reduced=reduced),
          [randn(sizes, 33), gs if reduced else None, mus, None if reduced else nus])


def test_prodigy_two_pass():
  gs, x0s, zs = randn(SIZES, 34), randn(SIZES, 35), randn(SIZES, 36)
  vs, ss = randn(SIZES, 37, positive=True), randn(SIZES, 38)
  compare(lambda g, x0, z, v, s: torch_ops.prodigy_sums(g, x0, z, v, s, vc=0.01, ddl=0.5, beta2=0.9955),
          [gs, x0s, zs, vs, ss])
  compare(lambda x, g, z, v: torch_ops.prodigy_step(x, g, z, v, wd_dl=1e-3, step=0.2, eps_d=1e-8, c=0.1),
          [randn(SIZES, 39), gs, zs, vs])


def test_jax_ffi_sums_on_gpu():
  jax = pytest.importorskip('jax')
  try:
    gpu = jax.devices('gpu')[0]
  except RuntimeError:
    pytest.skip('jax has no GPU backend here')
  from algoperf_kernels import jax_ops
  rng = np.random.default_rng(1)
  lists = [[rng.standard_normal(s).astype(np.float32) for s in (5, 300_001)] for _ in range(5)]
  lists[3] = [np.abs(x) for x in lists[3]]
  hyper = dict(beta2=0.9955, sqrt_beta2=0.9955**0.5)
  out = []
  for device in (jax.devices('cpu')[0], gpu):
    args = jax.device_put(lists, device)
    new, sums = jax.jit(lambda *a: jax_ops.apply('prodigy_sums', list(a), hyper, dict(vc=0.1, ddl=0.3)))(*args)
    out.append((np.asarray(sums), [np.asarray(x) for x in new[3] + new[4]]))
  np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6)
  for a, b in zip(out[0][1], out[1][1]):
    np.testing.assert_array_equal(a, b)
