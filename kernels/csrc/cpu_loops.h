// The CPU element loops, templated on an ISA description. Included by cpu_generic.cc and
// cpu_avx2.cc, each with its own Isa type in an anonymous namespace.
//
// Isa provides: V (vector of W floats), W, and an IO type VecIO over V. The scalar tail always
// uses ScalarIO below, so its rounding matches the vector lanes exactly (same v* functions).
// Reductions (graft) accumulate d^2 in 8 double lanes, lane = index % 8 within the work item,
// each lane in index order, then combine the lanes in a fixed tree: the same bits for any ISA
// and any thread count.
#pragma once

#include <cstdint>

#include "kernels/csrc/cpu_backend.h"
#include "kernels/csrc/op_defs.h"

namespace apk::cpu {
namespace {  // per translation unit: the AVX2 and generic copies must never be merged

struct Lanes {
  double lane[8];
};

inline double combine_lanes(const Lanes& a) {
  return ((a.lane[0] + a.lane[1]) + (a.lane[2] + a.lane[3])) +
         ((a.lane[4] + a.lane[5]) + (a.lane[6] + a.lane[7]));
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
  void acc_sq(V x) const {
    const double d = static_cast<double>(x);
    acc->lane[i & 7] = __builtin_fma(d, d, acc->lane[i & 7]);
  }
};

template <class Isa>
struct Loops {
  template <class Op>
  static void chunk(const Call& c, const typename Op::Coeffs& k, const WorkItem& w, double* partial) {
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
    if constexpr (Op::kReduce) *partial = combine_lanes(lanes);
  }

  struct Runner {
    using Result = void;
    const Call& c;
    const WorkItem* items;
    int64_t n_items;
    double* partials;
    bool parallel;
    template <class Op>
    void run() {
      const typename Op::Coeffs k = Op::derive(c.hyper, c.dyn);
      const Call& cc = c;
      const WorkItem* it = items;
      double* part = partials;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
      for (int64_t j = 0; j < n_items; ++j) {
        chunk<Op>(cc, k, it[j], part ? part + j : nullptr);
      }
    }
    void bad_op() {}
  };

  static void run(const Call& c, const WorkItem* items, int64_t n_items, double* partials, bool parallel) {
    Runner r{c, items, n_items, partials, parallel};
    dispatch_op(c, r);
  }
};

}  // namespace
}  // namespace apk::cpu
