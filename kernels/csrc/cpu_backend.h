// CPU backend: one parallel_for (thread_pool.h) over a flattened (tensor, chunk) work list per call.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/csrc/call.h"
#include "kernels/csrc/thread_pool.h"

namespace apk::cpu {

// Elements per work item. A multiple of 8 (the AVX2 width) so reduction lanes line up, and
// fixed, so results (including reductions) never depend on the thread count.
constexpr int64_t kChunk = 1 << 16;

struct WorkItem {
  int64_t t, off, len;
};

// Runs `c` on the host, helped by `ex`'s threads if given, else by the kernels' own pool. Returns an
// error message, empty on success.
std::string run(const Call& c, const Executor* ex = nullptr);

// "avx2" or "generic": the code path run() takes now.
const char* isa();
// Whether this CPU can run the AVX2 path.
bool has_avx2();
// Forces "generic" or "auto" (AVX2 when the CPU has it); for tests and benchmarks.
bool set_isa(const std::string& name);

int num_threads();
void set_num_threads(int n);

// Below this many elements a call runs on the calling thread: waking the workers costs more
// than it saves (and much more on an oversubscribed machine).
constexpr int64_t kParallelMin = 1 << 17;

// ISA entry points (cpu_generic.cc, cpu_avx2.cc).
namespace generic {
void run(const Call& c, const WorkItem* items, int64_t n_items, double* partials, bool parallel,
         const Executor* ex);
}
namespace avx2 {
void run(const Call& c, const WorkItem* items, int64_t n_items, double* partials, bool parallel,
         const Executor* ex);
}

}  // namespace apk::cpu
