"""//:wheel: two valid, reproducible wheels with honest metadata that install into fresh venvs.

algoperf-kernels installs into a venv with nothing else (no numpy, torch or jax) and runs a kernel
on array.array buffers; its extension needs only libraries of the manylinux policy (the kernels
run on their own thread pool, with no OpenMP runtime to bundle) and `auditwheel show` agrees with
its manylinux tag. algoperf (pure Python) installs next to it; a second venv sees this
build venv's site-packages (exactly the lock's closure) through a .pth file, where `pip check`
proves every Requires-Dist range is met by the lock, and the installed packages run.
"""
import base64
import csv
import glob
import hashlib
import io
import os
import re
import site
import subprocess
import sys
import zipfile

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

TAG = 'cp%d%d' % sys.version_info[:2]
ALGOPERF_PACKAGES = ('algoperf', 'algorithmic_efficiency', 'scoring', 'submissions', 'workloads')


def _runfiles_root():
  if 'TEST_SRCDIR' in os.environ:
    return os.path.join(os.environ['TEST_SRCDIR'], os.environ.get('TEST_WORKSPACE', 'algoperf'))
  return os.getcwd()


def wheel(target):
  found = glob.glob(os.path.join(_runfiles_root(), target, '*.whl'))
  assert len(found) == 1, (target, found)
  return found[0]


KERNELS, ALGOPERF = 'algoperf_kernels_wheel', 'algoperf_wheel'


def lock_pins():
  pins = {}
  with open(os.path.join(_runfiles_root(), 'requirements_lock.txt')) as f:
    for line in f:
      line = line.split('#')[0].strip()
      if '==' in line:
        name, version = line.split('==')
        pins[re.sub(r'[-_.]+', '-', name).lower()] = version
  return pins


def read_wheel(path):
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
    dist_info = next(n.split('/')[0] for n in names if n.endswith('.dist-info/WHEEL'))
    meta = zf.read(f'{dist_info}/METADATA').decode()
    wheel_meta = zf.read(f'{dist_info}/WHEEL').decode()
  return names, dist_info, meta, wheel_meta


def check_reproducible_layout(path):
  with zipfile.ZipFile(path) as zf:
    names, infos = zf.namelist(), zf.infolist()
    dist_info = next(n.split('/')[0] for n in names if n.endswith('.dist-info/WHEEL'))
    payload = [n for n in names if not n.startswith(dist_info)]
    assert payload == sorted(payload)
    assert names[-1] == f'{dist_info}/RECORD'
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    shared = re.compile(r'\.so(\.\d+)*$')
    assert all((i.external_attr >> 16) & 0o777 == (0o755 if shared.search(i.filename) else 0o644) for i in infos)
    assert not any('__pycache__' in n or n.endswith('_test.py') or n.startswith('kernels/') for n in names)
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


def check_license(names, dist_info, meta, path):
  """PEP 639: the SPDX expression, and the repository's LICENSE (the Apache License 2.0 text)
  under <dist-info>/licenses/, named by a License-File line."""
  lines = meta.splitlines()
  assert 'Metadata-Version: 2.4' in lines and 'License-Expression: Apache-2.0' in lines
  assert 'License-File: LICENSE' in lines and not any(line.startswith('License: ') for line in lines)
  assert f'{dist_info}/licenses/LICENSE' in names
  with zipfile.ZipFile(path) as zf:
    text = zf.read(f'{dist_info}/licenses/LICENSE')
  with open(os.path.join(_runfiles_root(), 'LICENSE'), 'rb') as f:
    assert text == f.read()
  assert b'Apache License\n                           Version 2.0, January 2004' in text
  assert b'END OF TERMS AND CONDITIONS' in text


def requirements(meta):
  return [line.split(': ', 1)[1] for line in meta.splitlines() if line.startswith('Requires-Dist: ')]


def check_ranges(reqs, pins):
  """Every range starts at the lock's pin and stops before the next major (minor for 0.x)."""
  for req in reqs:
    m = re.fullmatch(r'([A-Za-z0-9_.-]+)>=([^,]+),<([0-9.]+)( ; extra == "\w+")?', req)
    assert m, req
    name, low, high = m.group(1), m.group(2), m.group(3)
    assert low == pins[re.sub(r'[-_.]+', '-', name).lower()], req
    major, minor = (int(x) for x in low.split('.')[:2])
    assert high == (str(major + 1) if major else f'0.{minor + 1}'), req


def test_kernels_wheel_metadata_tag_and_layout():
  path = wheel(KERNELS)
  m = re.fullmatch(rf'algoperf_kernels-([0-9.]+)-{TAG}-{TAG}-(manylinux_\d+_\d+_x86_64)\.whl', os.path.basename(path))
  assert m, path
  version, platform = m.groups()
  names, dist_info, meta, wheel_meta = read_wheel(path)
  check_reproducible_layout(path)
  assert f'Tag: {TAG}-{TAG}-{platform}' in wheel_meta and 'Root-Is-Purelib: false' in wheel_meta
  assert {n.split('/')[0] for n in names} == {'algoperf_kernels', dist_info}  # nothing bundled
  with zipfile.ZipFile(path) as zf:
    assert zf.read('algoperf_kernels/_version.py').decode().startswith(f"__version__ = '{version}'")
  check_license(names, dist_info, meta, path)
  for line in ('Name: algoperf-kernels', f'Version: {version}', 'Provides-Extra: torch',
               'Provides-Extra: jax', f'Requires-Python: =={sys.version_info[0]}.{sys.version_info[1]}.*'):
    assert line in meta.splitlines(), line
  assert 'Summary: Fused optimizer kernels' in meta
  reqs = requirements(meta)
  assert all('; extra == ' in r for r in reqs)  # imports with nothing else installed
  assert {r.split('>=')[0] for r in reqs if r.endswith('"torch"')} == {'torch'}
  assert {r.split('>=')[0] for r in reqs if r.endswith('"jax"')} == {'jax', 'jaxlib', 'numpy', 'optax'}
  check_ranges(reqs, lock_pins())


def test_algoperf_wheel_metadata_and_layout():
  path = wheel(ALGOPERF)
  m = re.fullmatch(r'algoperf-([0-9.]+)-py3-none-any\.whl', os.path.basename(path))
  assert m, path
  names, dist_info, meta, wheel_meta = read_wheel(path)
  check_reproducible_layout(path)
  assert 'Tag: py3-none-any' in wheel_meta and 'Root-Is-Purelib: true' in wheel_meta
  tops = {n.split('/')[0] for n in names} - {dist_info}
  assert tops == set(ALGOPERF_PACKAGES), tops
  assert not any(re.search(r'\.so(\.\d+)*$', n) or 'algoperf_kernels' in n for n in names)
  kernels_version = re.search(r'algoperf_kernels-([0-9.]+)-', os.path.basename(wheel(KERNELS))).group(1)
  assert m.group(1) == kernels_version  # one version source
  check_license(names, dist_info, meta, path)
  assert 'Summary: AlgoPerf' in meta
  reqs = requirements(meta)
  assert f'algoperf-kernels=={kernels_version}' in reqs
  others = [r for r in reqs if not r.startswith('algoperf-kernels')]
  assert {r.split('>=')[0] for r in others} >= {'jax', 'torch', 'flax', 'optax', 'numpy', 'absl-py'}
  check_ranges(others, lock_pins())


@pytest.mark.parametrize('target', [KERNELS, ALGOPERF])
def test_two_builds_are_byte_identical(target):
  a, b = wheel(target), wheel(target + '_repro_check')
  assert os.path.basename(a) == os.path.basename(b)
  assert open(a, 'rb').read() == open(b, 'rb').read()


def test_auditwheel_show_agrees_with_the_tag_and_the_extension_needs_only_system_libraries(tmp_path):
  path = wheel(KERNELS)
  out = subprocess.run([sys.executable, '-m', 'auditwheel', 'show', path], capture_output=True, text=True)
  assert out.returncode == 0, out.stderr
  text = ' '.join(out.stdout.split())
  print(out.stdout)
  platform = re.search(r'-(manylinux_\d+_\d+_x86_64)\.whl$', path).group(1)
  assert f'is consistent with the following platform tag: "{platform}"' in text, text
  with zipfile.ZipFile(path) as zf:
    ext = next(n for n in zf.namelist() if re.fullmatch(r'algoperf_kernels/_C\..*\.so', n))
    (tmp_path / 'C.so').write_bytes(zf.read(ext))
  with open(tmp_path / 'C.so', 'rb') as f:
    dyn = next(s for s in ELFFile(f).iter_sections() if isinstance(s, DynamicSection))
    needed = [t.needed for t in dyn.iter_tags('DT_NEEDED')]
  # The manylinux policy's libraries; no OpenMP runtime (libgomp) and nothing bundled.
  assert set(needed) <= {'libstdc++.so.6', 'libm.so.6', 'libgcc_s.so.1', 'libc.so.6', 'libpthread.so.0',
                         'libdl.so.2', 'librt.so.1', 'ld-linux-x86-64.so.2'}, needed


def make_venv(root):
  base = getattr(sys, '_base_executable', sys.executable)
  subprocess.run([base, '-m', 'venv', '--without-pip', str(root)], check=True)
  return str(root / 'bin' / 'python')


def pip(python, *args):
  out = subprocess.run([sys.executable, '-m', 'pip', '--python', python, '--disable-pip-version-check', *args],
                       capture_output=True, text=True)
  assert out.returncode == 0, out.stdout + out.stderr
  return out.stdout


def run_in(python, code):
  env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
  out = subprocess.run([python, '-I', '-c', code], capture_output=True, text=True, env=env, cwd='/')
  assert out.returncode == 0, out.stderr
  return out.stdout


RAW_CALL = r'''
import array, ctypes, importlib.metadata, importlib.util, os, sys
assert importlib.util.find_spec('torch') is None and importlib.util.find_spec('numpy') is None
import algoperf_kernels as ak
from algoperf_kernels import core
assert os.path.realpath(ak.__file__).startswith(os.path.realpath(sys.prefix)), ak.__file__
assert importlib.metadata.version('algoperf-kernels') == ak.__version__
n = 100
p, g = array.array('f', [1.0] * n), array.array('f', [0.5] * n)
m, v = array.array('f', [0.0] * n), array.array('f', [0.0] * n)
a = lambda b: b.buffer_info()[0]
core.run_raw('adam', [[a(p)], [a(g)], [a(m)], [a(v)]], [n],
             dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, power=2.0), dict(lr=0.1, step=1))
assert all(abs(x - 0.9) < 1e-6 for x in p), p[:3]
ak.set_num_threads(2)
lib = ctypes.CDLL(ak._C.__file__)
c = array.array('f', [2.0] * n)
ptrs = (ctypes.c_uint64 * 3)(a(p), a(g), a(c))
rc = lib.apk_apply_cpu(core.OPS['triad'], 0, 3, ctypes.c_int64(1), ptrs, (ctypes.c_int64 * 1)(n), None, 0,
                       (ctypes.c_double * 1)(3.0), 1, None, None, 0)
assert rc == 0 and p[0] == 6.5
print('raw ok', ak.cpu_isa(), ak.built_with_cuda(), ak.cuda_device_count(), ak.cuda_available())
'''


def test_kernels_wheel_alone_in_a_fresh_venv(tmp_path):
  python = make_venv(tmp_path / 'alone')
  pip(python, 'install', '--no-index', '--no-deps', '-q', wheel(KERNELS))
  out = run_in(python, RAW_CALL)
  assert out.startswith('raw ok')
  _, _, isa, built, count, available = out.split()
  assert isa in ('avx2', 'generic') and available == str(built == 'True' and int(count) > 0)
  assert 'No broken requirements found' in pip(python, 'check')
  listed = pip(python, 'list', '--format=freeze')
  assert [l.split('==')[0] for l in listed.split()] == ['algoperf-kernels'], listed


FRAMEWORK_CALL = r'''
import os, sys
import algoperf, algorithmic_efficiency, scoring, submissions, workloads
import algoperf_kernels as ak
for mod in (algoperf, algorithmic_efficiency, scoring, submissions, workloads, ak):
  assert os.path.realpath(mod.__file__).startswith(os.path.realpath(sys.prefix)), mod.__file__
import torch
from algoperf_kernels import torch_optim
w = torch.nn.Parameter(torch.ones(64))
w.grad = torch.full((64,), 0.5)
torch_optim.AdamW([w], lr=0.1, weight_decay=0.0, fused=True).step()
assert torch.allclose(w.detach(), torch.full((64,), 0.9))
import jax, jax.numpy as jnp, optax
from algoperf_kernels import optax_ops
params = {'w': jnp.ones(64)}
tx = optax.chain(optax.clip_by_global_norm(10.0), optax_ops.adamw(0.1, weight_decay=0.0))
u, _ = jax.jit(tx.update)({'w': jnp.full(64, 0.5)}, tx.init(params), params)
assert abs(float(optax.apply_updates(params, u)['w'][0]) - 0.9) < 1e-6
print('frameworks ok')
'''


def test_both_wheels_with_the_locked_dependencies(tmp_path):
  python = make_venv(tmp_path / 'both')
  site_dir = run_in(python, 'import sysconfig; print(sysconfig.get_paths()["purelib"])').strip()
  with open(os.path.join(site_dir, 'build_venv.pth'), 'w') as f:
    f.write('\n'.join(site.getsitepackages()) + '\n')
  pip(python, 'install', '--no-index', '--no-deps', '-q', wheel(KERNELS), wheel(ALGOPERF))
  assert 'No broken requirements found' in pip(python, 'check')
  assert run_in(python, FRAMEWORK_CALL).strip() == 'frameworks ok'
