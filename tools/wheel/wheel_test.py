"""//:wheel is a valid, reproducible wheel that installs into a fresh venv and runs a kernel.

The fresh venv has no numpy, torch or jax: the kernel runs on array.array buffers through the
raw-address entry point (and through ctypes). A second check adds this build venv's
site-packages to the fresh venv with a .pth file and runs the installed kernels on torch
tensors and through JAX's XLA FFI.
"""
import base64
import csv
import glob
import hashlib
import io
import os
import site
import subprocess
import sys
import sysconfig
import zipfile

import pytest



def _runfiles_root():
  """The workspace's runfiles directory (bazel test runs there)."""
  if 'TEST_SRCDIR' in os.environ:
    return os.path.join(os.environ['TEST_SRCDIR'], os.environ.get('TEST_WORKSPACE', 'algoperf'))
  return os.getcwd()


def wheels():
  root = _runfiles_root()
  found = sorted(glob.glob(os.path.join(root, '*.whl')) + glob.glob(os.path.join(root, '*', '*.whl')))
  assert found, 'no wheel in the runfiles'
  return found


@pytest.fixture(scope='module')
def wheel_path():
  return wheels()[0]


def test_wheel_layout_and_record(wheel_path):
  tag = 'cp%d%d' % sys.version_info[:2]
  assert os.path.basename(wheel_path).endswith(f'-{tag}-{tag}-linux_x86_64.whl')
  with zipfile.ZipFile(wheel_path) as zf:
    names = zf.namelist()
    infos = zf.infolist()
    dist_info = next(n.split('/')[0] for n in names if n.endswith('.dist-info/WHEEL'))
    wheel_meta = zf.read(f'{dist_info}/WHEEL').decode()
    assert 'Wheel-Version: 1.0' in wheel_meta and f'Tag: {tag}-{tag}-linux_x86_64' in wheel_meta
    assert 'Root-Is-Purelib: false' in wheel_meta
    meta = zf.read(f'{dist_info}/METADATA').decode()
    assert 'Metadata-Version: 2.1' in meta and 'Name: ' in meta and 'Version: ' in meta
    ext = 'algoperf_kernels/_C' + sysconfig.get_config_var('EXT_SUFFIX')
    for required in ('algoperf_kernels/__init__.py', ext, 'algoperf_kernels/torch_optim.py'):
      assert required in names, required
    for pkg in ('algoperf', 'algorithmic_efficiency'):
      if os.path.isfile(os.path.join(_runfiles_root(), pkg, '__init__.py')):
        assert f'{pkg}/__init__.py' in names, pkg
    assert not any(n.startswith('kernels/') or '__pycache__' in n or n.endswith('_test.py') for n in names)
    # Reproducible: sorted payload, fixed timestamps and modes.
    payload = [n for n in names if not n.startswith(dist_info)]
    assert payload == sorted(payload)
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert all((i.external_attr >> 16) & 0o777 == (0o755 if i.filename.endswith('.so') else 0o644) for i in infos)
    # RECORD: every file, with its hash and size; RECORD itself unhashed.
    rows = list(csv.reader(io.StringIO(zf.read(f'{dist_info}/RECORD').decode())))
    recorded = {r[0]: r for r in rows}
    assert set(recorded) == set(names)
    for name in names:
      if name.endswith('/RECORD'):
        assert recorded[name][1:] == ['', '']
        continue
      data = zf.read(name)
      digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
      assert recorded[name][1] == f'sha256={digest}' and int(recorded[name][2]) == len(data), name


def test_two_builds_are_byte_identical():
  paths = wheels()
  assert len(paths) == 2, paths
  a, b = (open(p, 'rb').read() for p in paths)
  assert a == b


@pytest.fixture(scope='module')
def fresh_venv(tmp_path_factory, wheel_path):
  root = tmp_path_factory.mktemp('venv')
  base = getattr(sys, '_base_executable', sys.executable)
  subprocess.run([base, '-m', 'venv', '--without-pip', str(root)], check=True)
  python = str(root / 'bin' / 'python')
  subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-index', '--no-deps',
                  '--disable-pip-version-check', '-q', wheel_path], check=True)
  return python


def run_in(python, code):
  env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
  out = subprocess.run([python, '-I', '-c', code], capture_output=True, text=True, env=env, cwd='/')
  assert out.returncode == 0, out.stderr
  return out.stdout


RAW_CALL = r'''
import array, ctypes, importlib.util, os, sys
assert importlib.util.find_spec('torch') is None and importlib.util.find_spec('numpy') is None
import algoperf_kernels as ak
from algoperf_kernels import core
assert os.path.realpath(ak.__file__).startswith(os.path.realpath(sys.prefix)), ak.__file__
n = 100
p, g = array.array('f', [1.0] * n), array.array('f', [0.5] * n)
m, v = array.array('f', [0.0] * n), array.array('f', [0.0] * n)
a = lambda b: b.buffer_info()[0]
core.run_raw('adam', [[a(p)], [a(g)], [a(m)], [a(v)]], [n],
             dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, power=2.0), dict(lr=0.1, step=1))
assert all(abs(x - 0.9) < 1e-6 for x in p), p[:3]
lib = ctypes.CDLL(ak._C.__file__)
c = array.array('f', [2.0] * n)
ptrs = (ctypes.c_uint64 * 3)(a(p), a(g), a(c))
rc = lib.apk_apply_cpu(core.OPS['triad'], 0, 3, ctypes.c_int64(1), ptrs, (ctypes.c_int64 * 1)(n), None, 0,
                       (ctypes.c_double * 1)(3.0), 1, None, None, 0)
assert rc == 0 and p[0] == 6.5
print('raw ok', ak.cpu_isa(), ak.built_with_cuda(), ak.cuda_device_count(), ak.cuda_available())
'''


def test_installed_wheel_runs_a_kernel_without_frameworks(fresh_venv):
  out = run_in(fresh_venv, RAW_CALL)
  assert out.startswith('raw ok')
  _, _, isa, built, count, available = out.split()
  assert isa in ('avx2', 'generic') and available == str(built == 'True' and int(count) > 0)


FRAMEWORK_CALL = r'''
import os, sys
import algoperf_kernels as ak
assert os.path.realpath(ak.__file__).startswith(os.path.realpath(sys.prefix)), ak.__file__
import torch
from algoperf_kernels import torch_optim
w = torch.nn.Parameter(torch.ones(64))
w.grad = torch.full((64,), 0.5)
torch_optim.AdamW([w], lr=0.1, weight_decay=0.0).step()
assert torch.allclose(w.detach(), torch.full((64,), 0.9))
import jax, jax.numpy as jnp
from algoperf_kernels import optax_ops
opt = optax_ops.adamw(0.1, weight_decay=0.0)
params = {'w': jnp.ones(64)}
new, _ = opt.jit_step()({'w': jnp.full(64, 0.5)}, opt.init(params), params)
assert abs(float(new['w'][0]) - 0.9) < 1e-6
print('frameworks ok')
'''


def test_installed_wheel_runs_on_torch_and_jax(fresh_venv):
  site_dir = run_in(fresh_venv, 'import sysconfig; print(sysconfig.get_paths()["purelib"])').strip()
  with open(os.path.join(site_dir, 'build_venv.pth'), 'w') as f:
    f.write('\n'.join(site.getsitepackages()) + '\n')
  assert run_in(fresh_venv, FRAMEWORK_CALL).strip() == 'frameworks ok'
