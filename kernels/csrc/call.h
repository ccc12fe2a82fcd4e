// One kernel call as the backends see it: which op, which lists, which scalars.
// Plain C++ (no CUDA, no Python), shared by the bindings, the CPU and the CUDA backends.
#pragma once

#include <cstdint>

namespace apk {

enum class OpKind : int {
  kAdam = 0,       // AdamW / AlgoPerf NAdamW / NadamP       lists p g m v [master]
  kSfStep = 1,     // schedule-free AdamW step               lists y g z v [master]
  kSfSwap = 2,     // schedule-free train/eval swap          lists y z [master]
  kEma = 3,        // ema <- lerp(ema, p, 1-beta)            lists ema p
  kLawaPush = 4,   // LAWA queue push, running sum           lists sum slot p
  kScaleCopy = 5,  // out <- src * s (LAWA average)          lists out src [master]
  kSgd = 6,        // momentum SGD                           lists p g buf [master]
  kGraft = 7,      // Shampoo Adam grafting                  lists g m a d mt
  kTriad = 8,      // STREAM triad a <- b + s c (benchmark)  lists a b c
  kSinv6 = 9,      // Sinv6's relative Adam-style step       lists p g m rms
  kNumOps = 10,
};

enum : uint32_t {
  kFlagBf16 = 1u,       // params (and grads) bf16 with an fp32 master list; for EMA/LAWA: p is bf16
  kFlagNesterov = 2u,   // Adam: NAdamW numerator; SGD: Nesterov direction; graft: NAdam filter
  kFlagRoot = 4u,       // Adam: NadamP (v/bc2)^(1/p) instead of sqrt (p != 2)
  kFlagMomentum = 8u,   // graft: keep a filtered gradient m (b1 != 0)
  kFlagWriteMt = 16u,   // graft: also write the bias-corrected filtered gradient
};

struct Call {
  OpKind op = OpKind::kAdam;
  uint32_t flags = 0;
  int depth = 0;                  // number of lists
  int64_t n = 0;                  // tensors per list
  const uint64_t* ptrs = nullptr; // depth x n addresses, list-major: ptrs[l * n + t]
  const int64_t* sizes = nullptr; // n element counts
  const double* hyper = nullptr;  // fixed hyper-parameters (host)
  int n_hyper = 0;
  const double* dyn = nullptr;    // per-step scalars (host); the CUDA capturable path reads floats on the device
  int n_dyn = 0;
  double* sums = nullptr;         // graft: per-tensor sum of d^2 (n doubles, backend's memory)
  double* partials = nullptr;     // graft on CUDA: per-chunk workspace (num_chunks doubles, device)
};

// Expected hyper-parameter and per-step scalar counts of each op (list masks: op_info.h).
inline int expected_hyper(OpKind op) {
  switch (op) {
    case OpKind::kAdam: return 5;
    case OpKind::kSfStep: return 4;
    case OpKind::kSgd: return 6;
    case OpKind::kGraft: return 3;
    case OpKind::kSinv6: return 5;
    default: return 0;
  }
}
inline int expected_dyn(OpKind op) {
  switch (op) {
    case OpKind::kAdam: return 2;
    case OpKind::kSfStep: return 3;
    case OpKind::kSgd: return 2;
    case OpKind::kLawaPush: return 0;
    default: return 1;  // swap/EMA weight, scale, graft step, triad scalar
  }
}

}  // namespace apk
