"""Writes a PEP 427 wheel from a manifest of (source file, path in the wheel) lines.

Reproducible: entries are sorted, every timestamp is 1980-01-01, permissions are fixed (0755 for
shared objects, 0644 otherwise) and compression settings are constant, so the same inputs give
the same bytes. RECORD lists every file with its urlsafe-base64 sha256 and size.
Standard library only.
"""
import argparse
import base64
import hashlib
import sys
import zipfile

EPOCH = (1980, 1, 1, 0, 0, 0)


def record_hash(data: bytes) -> str:
  return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def add(zf: zipfile.ZipFile, arcname: str, data: bytes, mode: int) -> None:
  info = zipfile.ZipInfo(arcname, date_time=EPOCH)
  info.external_attr = (0o100000 | mode) << 16  # regular file + permissions
  info.compress_type = zipfile.ZIP_DEFLATED
  info.create_system = 3  # unix, whatever the host
  zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def metadata(name: str, version: str, requires_python: str, summary: str) -> bytes:
  lines = ['Metadata-Version: 2.1', f'Name: {name}', f'Version: {version}']
  if summary:
    lines.append(f'Summary: {summary}')
  if requires_python:
    lines.append(f'Requires-Python: {requires_python}')
  return ('\n'.join(lines) + '\n').encode()


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument('--out', required=True)
  p.add_argument('--name', required=True)
  p.add_argument('--version', required=True)
  p.add_argument('--tag', required=True, help='e.g. cp311-cp311-linux_x86_64')
  p.add_argument('--manifest', required=True, help='lines "source<TAB>path in wheel"')
  p.add_argument('--requires-python', default='')
  p.add_argument('--summary', default='')
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

  dist_info = f'{a.name.replace("-", "_")}-{a.version}.dist-info'
  files = []
  for dest in sorted(entries):
    with open(entries[dest], 'rb') as f:
      files.append((dest, f.read(), 0o755 if dest.endswith('.so') else 0o644))
  files.append((f'{dist_info}/METADATA', metadata(a.name, a.version, a.requires_python, a.summary), 0o644))
  wheel = f'Wheel-Version: 1.0\nGenerator: algoperf tools/wheel\nRoot-Is-Purelib: false\nTag: {a.tag}\n'
  files.append((f'{dist_info}/WHEEL', wheel.encode(), 0o644))

  record = [f'{dest},{record_hash(data)},{len(data)}' for dest, data, _ in files]
  record.append(f'{dist_info}/RECORD,,')
  with zipfile.ZipFile(a.out, 'w') as zf:
    for dest, data, mode in files:
      add(zf, dest, data, mode)
    add(zf, f'{dist_info}/RECORD', ('\n'.join(record) + '\n').encode(), 0o644)
  return 0


if __name__ == '__main__':
  sys.exit(main())
