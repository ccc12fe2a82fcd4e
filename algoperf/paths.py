"""User paths under `bazel run`: relative to the folder the user ran Bazel from, not the runfiles tree."""
import os


def resolve_user_path(path: str) -> str:
  if path is None:
    return path
  path = os.path.expanduser(path)
  if os.path.isabs(path):
    return path
  user_dir = os.environ.get('BUILD_WORKING_DIRECTORY')
  if user_dir and os.path.exists(os.path.join(user_dir, path)):
    return os.path.join(user_dir, path)
  if user_dir and not os.path.exists(path):
    return os.path.join(user_dir, path)  # A new output folder, say.
  return os.path.abspath(path)
