"""Fused optimizer kernels for AlgoPerf: CPU (AVX2, own thread pool) and CUDA (multi-tensor apply).

`import algoperf_kernels` needs neither torch, jax nor numpy. Front ends, imported on demand:
  algoperf_kernels.torch_ops / torch_optim  - in-place ops and torch.optim.Optimizer classes
  algoperf_kernels.jax_ops / optax_ops      - XLA FFI calls and optax-style transforms
  algoperf_kernels.numpy_ops                - in-place ops on numpy arrays (CPU)
  algoperf_kernels.core.run_raw             - raw addresses (array.array, ctypes)
"""
from algoperf_kernels import _C
from algoperf_kernels._version import __version__  # generated from //:version.bzl


def built_with_cuda() -> bool:
  """Whether the extension was compiled with nvcc (else the CUDA entry points raise)."""
  return _C.built_with_cuda()


def cuda_device_count() -> int:
  """CUDA devices the driver reports; 0 without a driver or GPU (the import never fails)."""
  return _C.cuda_device_count()


def cuda_available() -> bool:
  """Whether the CUDA kernels can run here: built with nvcc and a device present."""
  return built_with_cuda() and cuda_device_count() > 0


def cpu_isa() -> str:
  """'avx2' or 'generic': the CPU code path chosen at run time."""
  return _C.cpu_isa()


def set_cpu_isa(name: str) -> None:
  """'auto' (default), 'generic' (portable path; same bits) or 'avx2'."""
  _C.set_cpu_isa(name)


def num_threads() -> int:
  return _C.num_threads()


def set_num_threads(n: int) -> None:
  """Threads per CPU kernel call, the caller included; results do not depend on it."""
  _C.set_num_threads(n)
