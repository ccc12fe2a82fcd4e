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
  kAdamG = 10,     // AdamG                                  lists p g m v n [master]
  kAdamUpdate = 11, // optax drop-in AdamW: the update over g   lists p g/u m v (p read only)
  kAmosSums = 12,   // Amos pass 1: moments + per-tensor sums  lists g mu nu          (fp32; per-tensor dyn)
  kAmosStep = 13,   // Amos pass 2: the parameter step         lists p g mu nu        (fp32; per-tensor dyn)
  kProdigySums = 14, // SF Prodigy pass 1: v, s + two sums     lists g x0 z v s       (fp32)
  kProdigyStep = 15, // SF Prodigy pass 2: z step, x average   lists x g z v          (fp32)
  kNumOps = 16,
};

enum : uint32_t {
  kFlagBf16 = 1u,       // params (and grads) bf16 with an fp32 master list; for EMA/LAWA: p is bf16
  kFlagNesterov = 2u,   // Adam: NAdamW numerator; SGD: Nesterov direction; graft: NAdam filter
  kFlagRoot = 4u,       // Adam: NadamP (v/bc2)^(1/p) instead of sqrt (p != 2)
  kFlagMomentum = 8u,   // graft: keep a filtered gradient m (b1 != 0)
  kFlagWriteMt = 16u,   // graft: also write the bias-corrected filtered gradient
  kFlagReduced = 32u,   // Amos: style "reduced" (nu and b one scalar per tensor) instead of "adam"
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
  // Reducing ops (graft, amos_sums, prodigy_sums): S sums per tensor, sums[t * S + j] (n * S doubles,
  // backend's memory); on CUDA also a per-chunk workspace (num_chunks * S doubles, device).
  // Ops with per-tensor scalars (amos_*) take n_dyn = n * expected_dyn(op), row t for tensor t.
  double* sums = nullptr;
  double* partials = nullptr;
};

// Expected hyper-parameter and per-step scalar counts of each op (list masks: op_info.h).
inline int expected_hyper(OpKind op) {
  switch (op) {
    case OpKind::kAdam: return 5;
    case OpKind::kSfStep: return 4;
    case OpKind::kSgd: return 6;
    case OpKind::kGraft: return 3;
    case OpKind::kSinv6: return 5;
    case OpKind::kAdamG: return 6;
    case OpKind::kAmosSums: return 2;      // b1, b2
    case OpKind::kAmosStep: return 2;      // b1, b2
    case OpKind::kProdigySums: return 2;   // b2, sqrt(b2)
    default: return 0;
  }
}
inline int expected_dyn(OpKind op) {
  switch (op) {
    case OpKind::kAdam: return 2;
    case OpKind::kSfStep: return 3;
    case OpKind::kSgd: return 2;
    case OpKind::kLawaPush: return 0;
    case OpKind::kAdamG: return 2;
    case OpKind::kAdamUpdate: return 8;  // lr, step, b1, b2, eps, eps_root, wd, power (traceable in JAX)
    case OpKind::kAmosSums: return 3;     // per tensor: scale, c_prev (adam) / v_prev (reduced), c_now
    case OpKind::kAmosStep: return 6;     // per tensor: scale, v_prev, c_now (adam) / v_hat (reduced), wd, E, D
    case OpKind::kProdigySums: return 2;  // (1-b2) d^2, d dl
    case OpKind::kProdigyStep: return 5;  // wd dl, d_new dl, d_new eps, c, moved (0: leave x and z)
    default: return 1;  // swap/EMA weight, scale, graft step, triad scalar
  }
}

// Ops whose per-step scalars differ per tensor: dyn holds n rows of expected_dyn(op) values.
inline bool per_tensor_dyn(OpKind op) { return op == OpKind::kAmosSums || op == OpKind::kAmosStep; }

}  // namespace apk
