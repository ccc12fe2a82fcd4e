// CPU entry point: validates the call, builds the flattened work list, picks the ISA at run time.
#include <atomic>
#include <string>
#include <vector>

#include "kernels/csrc/cpu_backend.h"
#include "kernels/csrc/op_info.h"
#include "kernels/csrc/thread_pool.h"

namespace apk::cpu {
namespace {

std::atomic<bool> g_force_generic{false};

}  // namespace

bool has_avx2() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

const char* isa() { return (has_avx2() && !g_force_generic.load()) ? "avx2" : "generic"; }

bool set_isa(const std::string& name) {
  if (name == "generic") {
    g_force_generic = true;
    return true;
  }
  if (name == "auto" || (name == "avx2" && has_avx2())) {
    g_force_generic = false;
    return true;
  }
  return false;
}

int num_threads() { return pool_threads(); }
void set_num_threads(int n) { set_pool_threads(n); }

std::string run(const Call& c, const Executor* ex) {
  std::vector<WorkItem> items;
  int64_t total = 0;
  for (int64_t t = 0; t < c.n; ++t) {
    total += c.sizes[t];
    for (int64_t off = 0; off < c.sizes[t]; off += kChunk) {
      const int64_t left = c.sizes[t] - off;
      items.push_back({t, off, left < kChunk ? left : kChunk});
    }
  }
  const int ns = op_info(c.op, c.flags).num_sums;
  std::vector<double> partials(items.size() * ns);
  auto* fn = (has_avx2() && !g_force_generic.load()) ? &avx2::run : &generic::run;
  fn(c, items.data(), static_cast<int64_t>(items.size()), ns ? partials.data() : nullptr,
     total >= kParallelMin && items.size() > 1, ex);
  if (ns) {
    for (int64_t t = 0; t < c.n * ns; ++t) c.sums[t] = 0.0;
    for (size_t w = 0; w < items.size(); ++w) {  // index order
      for (int j = 0; j < ns; ++j) c.sums[items[w].t * ns + j] += partials[w * ns + j];
    }
  }
  return {};
}

}  // namespace apk::cpu
