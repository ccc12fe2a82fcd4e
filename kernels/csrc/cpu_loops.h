// The CPU element loops, templated on an ISA description. Included by cpu_generic.cc and
// cpu_avx2.cc, each with its own Isa type in an anonymous namespace.
//
// Isa provides: V (vector of W floats), W, and an IO type VecIO over V. The scalar tail always
// uses ScalarIO below, so its rounding matches the vector lanes exactly (same v* functions).
// Reductions (graft, amos_sums, prodigy_sums) accumulate each sum in 8 double lanes, lane = index % 8
// within the work item, each lane in index order, then combine the lanes in a fixed tree: the same
// bits for any ISA and any thread count.
#pragma once

#include <cstdint>

#include "kernels/csrc/cpu_backend.h"
#include "kernels/csrc/op_defs.h"
#include "kernels/csrc/thread_pool.h"

namespace apk::cpu {
namespace {  // per translation unit: the AVX2 and generic copies must never be merged

struct Lanes {
  double lane[kMaxSums][8];
};

inline double combine_lanes(const Lanes& a, int j) {
  return ((a.lane[j][0] + a.lane[j][1]) + (a.lane[j][2] + a.lane[j][3])) +
         ((a.lane[j][4] + a.lane[j][5]) + (a.lane[j][6] + a.lane[j][7]));
}

struct ScalarIO {
  using V = float;
  char* const* base;
  int64_t i;
  Lanes* acc;
  V ld(int l) const { return reinterpret_cast<const float*>(base[l])[i]; }
  V ld_h(int l) const { return bf16_to_f32(reinterpret_cast<const uint16_t*>(base[l])[i]); }
  void st(int l, V x) const { reinterpret_cast<float*>(base[l])[i] = x; }
  void st_h(int l, V x) const { reinterpret_cast<uint16_t*>(base[l])[i] = f32_to_bf16(x); }
  void acc_sq(int j, V x) const {
    const double d = static_cast<double>(x);
    acc->lane[j][i & 7] = __builtin_fma(d, d, acc->lane[j][i & 7]);
  }
  void acc_add(int j, V x) const { acc->lane[j][i & 7] += static_cast<double>(x); }
  void acc_abs(int j, V x) const { acc->lane[j][i & 7] += __builtin_fabs(static_cast<double>(x)); }
  void acc_mul(int j, V a, V b) const {
    acc->lane[j][i & 7] = __builtin_fma(static_cast<double>(a), static_cast<double>(b), acc->lane[j][i & 7]);
  }
};

template <class Isa>
struct Loops {
  template <class Op>
  static void chunk(const Call& c, typename Op::Coeffs k, const WorkItem& w, double* partial) {
    if (per_tensor_dyn(c.op)) k = Op::derive(c.hyper, c.dyn + w.t * expected_dyn(c.op));
    char* base[Op::kDepth];
    for (int l = 0; l < Op::kDepth; ++l) {
      char* p = reinterpret_cast<char*>(static_cast<uintptr_t>(c.ptrs[l * c.n + w.t]));
      base[l] = p ? p + w.off * (((Op::kHalf >> l) & 1u) ? 2 : 4) : nullptr;
    }
    Lanes lanes = {};
    typename Isa::VecIO vio{base, 0, &lanes};
    int64_t i = 0;
    if constexpr (Isa::W > 1) {
      for (; i + Isa::W <= w.len; i += Isa::W) {
        vio.i = i;
        Op::apply(vio, k);
      }
      if constexpr (Op::kReduce) vio.spill();
    }
    ScalarIO sio{base, 0, &lanes};
    for (; i < w.len; ++i) {
      sio.i = i;
      Op::apply(sio, k);
    }
    if constexpr (Op::kReduce) {
      for (int j = 0; j < NumSums<Op>::value; ++j) partial[j] = combine_lanes(lanes, j);
    }
  }

  struct Runner {
    using Result = void;
    const Call& c;
    const WorkItem* items;
    int64_t n_items;
    double* partials;
    bool parallel;
    const Executor* ex;
    template <class Op>
    void run() {
      // Per-tensor ops derive again in each work item (from their tensor's row); row 0 here.
      const typename Op::Coeffs k = Op::derive(c.hyper, c.dyn);
      const Call& cc = c;
      const WorkItem* it = items;
      double* part = partials;
      auto one = [&](int64_t j) { chunk<Op>(cc, k, it[j], part ? part + j * NumSums<Op>::value : nullptr); };
      parallel_for(n_items, parallel, ex, one);
    }
    void bad_op() {}
  };

  static void run(const Call& c, const WorkItem* items, int64_t n_items, double* partials, bool parallel,
                  const Executor* ex) {
    Runner r{c, items, n_items, partials, parallel, ex};
    dispatch_op(c, r);
  }
};

}  // namespace
}  // namespace apk::cpu
