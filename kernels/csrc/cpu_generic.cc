// Portable CPU path (no ISA extensions): scalar loops over the same update math.
#include "kernels/csrc/cpu_loops.h"

namespace apk::cpu {
namespace {

struct GenericIsa {
  static constexpr int W = 1;
  using VecIO = ScalarIO;
};

}  // namespace

namespace generic {
void run(const Call& c, const WorkItem* items, int64_t n_items, double* partials, bool parallel,
         const Executor* ex) {
  Loops<GenericIsa>::run(c, items, n_items, partials, parallel, ex);
}
}  // namespace generic

}  // namespace apk::cpu
