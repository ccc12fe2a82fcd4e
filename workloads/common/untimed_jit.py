"""`jax.jit` for the workload programs the clock does not time (model init, evals), shared across trials.

A worker process runs many trials of one workload in a row (tools:benchmark), and each builds a new workload
object whose jitted closures are new functions to JAX, so each trial compiled the same init and eval programs
again: ~1.6 s of untimed wall per lite OGBG trial, more than the trial's evals themselves. Here the compiled
executable is looked up by the program's lowered text, so a later trial that lowers the identical program
reuses it. Only untimed programs may use this: the rules time the compilation of the submission's own
steps (spec/harness.md §1.4), and those keep plain `jax.jit`.
"""
import collections
import hashlib
import threading
from typing import Any, Callable

import jax

MAX_PROGRAMS = 64  # Compiled executables kept per process (the least recently used go first).

_PROGRAMS: 'collections.OrderedDict[str, Any]' = collections.OrderedDict()
_LOCK = threading.Lock()


def _signature(leaves, treedef) -> tuple:
  """What makes JAX lower a function differently: the argument tree and each leaf's type and placement."""
  return (treedef,) + tuple(
      (jax.typeof(leaf), getattr(leaf, 'sharding', None)) if hasattr(leaf, 'shape') else (type(leaf), leaf)
      for leaf in leaves)


def _compiled(lowered) -> Any:
  text = lowered.as_text()
  key = hashlib.sha256(text.encode()).hexdigest()
  with _LOCK:
    program = _PROGRAMS.get(key)
    if program is not None:
      _PROGRAMS.move_to_end(key)
      return program
  program = lowered.compile()
  with _LOCK:
    _PROGRAMS[key] = program
    while len(_PROGRAMS) > MAX_PROGRAMS:
      _PROGRAMS.popitem(last=False)
  return program


def untimed_jit(fn: Callable, **jit_kwargs) -> Callable:
  """Like `jax.jit(fn, **jit_kwargs)` for positional array arguments, with the compiled program shared by
  every function of this process that lowers to the same text."""
  jitted = jax.jit(fn, **jit_kwargs)
  by_signature = {}

  def call(*args):
    leaves, treedef = jax.tree_util.tree_flatten(args)
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
      return jitted(*args)  # Under a transformation (jax.eval_shape of init_model_fn): nothing to run.
    signature = _signature(leaves, treedef)
    program = by_signature.get(signature)
    if program is None:
      program = by_signature[signature] = _compiled(jitted.lower(*args))
    return program(*args)

  call.__wrapped__ = fn
  return call
