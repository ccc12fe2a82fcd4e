"""Where a tool writes files that belong in the repository: under `bazel run` the running code sits in the
runfiles tree, but the file must land in the user's checkout (BUILD_WORKSPACE_DIRECTORY)."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # The repository root as this process sees it.


def source_tree_path(path: str) -> str:
  """`path` (a file of this repository, as this process sees it) in the checkout `bazel run` was called from."""
  workspace = os.environ.get('BUILD_WORKSPACE_DIRECTORY')
  return os.path.join(workspace, os.path.relpath(path, ROOT)) if workspace else path
