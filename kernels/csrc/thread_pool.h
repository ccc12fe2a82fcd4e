// The CPU kernels' own worker threads (in place of OpenMP).
//
// Why not OpenMP: libgomp's workers spin for up to a few milliseconds after each parallel region
// before they sleep. Inside a jitted JAX step the next op after our kernel runs on XLA's own
// threads, which then wait for cores our idle workers hold. These workers spin for at most
// kSpinMicros, then block; and under XLA the kernel runs on XLA's own threads (Executor below).
// Also: a call that finds the pool busy (XLA runs several CPU devices' programs on parallel
// threads) runs on its own thread instead of oversubscribing the cores, and a forked child starts
// a fresh pool (its parent's worker threads do not exist there).
#pragma once

#include <cstdint>

namespace apk::cpu {

// Workers spin this long for the next job before they block.
constexpr int64_t kSpinMicros = 30;

// Threads a parallel_for uses, the caller included. Default: OMP_NUM_THREADS if set (the usual
// knob for CPU thread counts), else the CPUs this process may run on.
int pool_threads();
void set_pool_threads(int n);

// Someone else's threads to help on: XLA's intra-op pool, when the kernel runs as an XLA FFI call,
// so that the step's XLA ops and our kernel share one set of threads instead of two sets of
// spinning ones competing for the cores.
struct Executor {
  // Runs task(data) once, on some thread, possibly the caller's, possibly later.
  void (*schedule)(void* self, void (*task)(void* data), void* data);
  void* self;
  int threads;  // the caller included
};

// Calls fn(ctx, j) for every j in [0, n), each exactly once, on the calling thread and helper
// threads (the executor's if given, else the pool's workers; dynamic schedule); returns when all
// calls have returned. A helper that starts late finds no work left and never touches fn or ctx.
void parallel_for(int64_t n, void (*fn)(void* ctx, int64_t j), void* ctx, const Executor* ex = nullptr);

// parallel_for over a callable, run serially on the caller unless `parallel`.
template <class F>
void parallel_for(int64_t n, bool parallel, const Executor* ex, F& f) {
  if (!parallel || n < 2) {
    for (int64_t j = 0; j < n; ++j) f(j);
    return;
  }
  parallel_for(n, [](void* ctx, int64_t j) { (*static_cast<F*>(ctx))(j); }, &f, ex);
}

}  // namespace apk::cpu
