"""Writing files so that a kill at any instant leaves either the old complete file or the new complete file.

Every log, status and checkpoint file of a trial goes through `atomic_write`: the content goes to a temporary
file beside the target, is flushed and fsynced, and then renamed over the target (rename is atomic on POSIX
file systems), and the folder is fsynced so the rename itself survives a crash. A full disk raises
DiskFullError naming the file; the target keeps its previous content.
"""
import contextlib
import errno
import os
from typing import IO, Iterator


class DiskFullError(OSError):
  """The disk filled up (ENOSPC) while writing a trial's file; the previous version of the file is intact."""


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w', **open_kwargs) -> Iterator[IO]:
  """`with atomic_write(path) as f: f.write(...)`: the file at `path` changes only if the block completes."""
  tmp = f'{path}.tmp.{os.getpid()}'
  try:
    with open(tmp, mode, **open_kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
      raise DiskFullError(errno.ENOSPC, f'the disk is full (ENOSPC) while writing {path}; free space and '
                          'resume the run with --resume_last_run') from e
    raise
  _fsync_folder(os.path.dirname(os.path.abspath(path)))


def _fsync_folder(folder: str) -> None:
  with contextlib.suppress(OSError):  # Some file systems cannot fsync a folder; the rename still happened.
    fd = os.open(folder, os.O_RDONLY)
    try:
      os.fsync(fd)
    finally:
      os.close(fd)
