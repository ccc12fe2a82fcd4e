// Per-op list layout and element glue around update_math.h, shared by the CPU and CUDA backends.
//
// An op reads and writes list elements through an IO object: io.ld(l) / io.st(l, x) for fp32
// lists, io.ld_h(l) / io.st_h(l, x) for bf16 lists, io.acc*(j, ...) into sum j for reductions. The backends
// supply the IO (AVX2 registers, scalars, CUDA registers). kRead/kWrite/kHalf are bit masks over
// the lists so a backend can load exactly what is read and store exactly what is written.
#pragma once

#include <type_traits>

#include "kernels/csrc/call.h"
#include "kernels/csrc/update_math.h"

namespace apk {
// Anonymous: each backend translation unit (generic, AVX2, CUDA) gets its own copies, so code
// compiled for AVX2 is never merged into the generic path by the linker.
namespace {

constexpr unsigned bit(int l) { return 1u << l; }

// A parameter lives in list p (fp32), or in list master (fp32) with a bf16 copy in list p.
template <bool kBf16, class IO>
APK_HD typename IO::V ld_param(IO& io, int p, int master) {
  if constexpr (kBf16) return io.ld(master);
  else return io.ld(p);
}
template <bool kBf16, class IO>
APK_HD void st_param(IO& io, int p, int master, typename IO::V x) {
  if constexpr (kBf16) {
    io.st(master, x);
    io.st_h(p, x);
  } else {
    io.st(p, x);
  }
}
template <bool kBf16, class IO>
APK_HD typename IO::V ld_maybe_half(IO& io, int l) {
  if constexpr (kBf16) return io.ld_h(l);
  else return io.ld(l);
}

// Lists: 0 p, 1 g, 2 m, 3 v, [4 master].
template <bool kBf16, bool kNesterov, bool kRoot>
struct AdamOp {
  using Coeffs = AdamCoeffs;
  static constexpr int kDepth = kBf16 ? 5 : 4;
  static constexpr unsigned kHalf = kBf16 ? bit(0) | bit(1) : 0u;
  static constexpr unsigned kRead = kBf16 ? bit(1) | bit(2) | bit(3) | bit(4) : bit(0) | bit(1) | bit(2) | bit(3);
  static constexpr unsigned kWrite = kBf16 ? bit(0) | bit(2) | bit(3) | bit(4) : bit(0) | bit(2) | bit(3);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_adam(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V p = ld_param<kBf16>(io, 0, 4), g = ld_maybe_half<kBf16>(io, 1), m = io.ld(2), v = io.ld(3);
    adam_elem<kNesterov, !kRoot>(p, g, m, v, k);
    st_param<kBf16>(io, 0, 4, p);
    io.st(2, m);
    io.st(3, v);
  }
};

// Lists: 0 y, 1 g, 2 z, 3 v, [4 master].
template <bool kBf16>
struct SfStepOp {
  using Coeffs = SfCoeffs;
  static constexpr int kDepth = kBf16 ? 5 : 4;
  static constexpr unsigned kHalf = kBf16 ? bit(0) | bit(1) : 0u;
  static constexpr unsigned kRead = kBf16 ? bit(1) | bit(2) | bit(3) | bit(4) : bit(0) | bit(1) | bit(2) | bit(3);
  static constexpr unsigned kWrite = kBf16 ? bit(0) | bit(2) | bit(3) | bit(4) : bit(0) | bit(2) | bit(3);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_sf(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V y = ld_param<kBf16>(io, 0, 4), g = ld_maybe_half<kBf16>(io, 1), z = io.ld(2), v = io.ld(3);
    sf_elem(y, g, z, v, k);
    st_param<kBf16>(io, 0, 4, y);
    io.st(2, z);
    io.st(3, v);
  }
};

// Lists: 0 y, 1 z, [2 master].
template <bool kBf16>
struct SfSwapOp {
  using Coeffs = LerpCoeffs;
  static constexpr int kDepth = kBf16 ? 3 : 2;
  static constexpr unsigned kHalf = kBf16 ? bit(0) : 0u;
  static constexpr unsigned kRead = kBf16 ? bit(1) | bit(2) : bit(0) | bit(1);
  static constexpr unsigned kWrite = kBf16 ? bit(0) | bit(2) : bit(0);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_lerp(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    st_param<kBf16>(io, 0, 2, lerp(ld_param<kBf16>(io, 0, 2), io.ld(1), k.l));
  }
};

// Lists: 0 ema, 1 p (fp32 or bf16, read only).
template <bool kBf16>
struct EmaOp {
  using Coeffs = LerpCoeffs;
  static constexpr int kDepth = 2;
  static constexpr unsigned kHalf = kBf16 ? bit(1) : 0u;
  static constexpr unsigned kRead = bit(0) | bit(1);
  static constexpr unsigned kWrite = bit(0);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_lerp(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    io.st(0, lerp(io.ld(0), ld_maybe_half<kBf16>(io, 1), k.l));
  }
};

// Lists: 0 sum, 1 slot (the snapshot leaving the queue, replaced by p), 2 p (fp32 or bf16).
template <bool kBf16>
struct LawaPushOp {
  struct Coeffs {};
  static constexpr int kDepth = 3;
  static constexpr unsigned kHalf = kBf16 ? bit(2) : 0u;
  static constexpr unsigned kRead = bit(0) | bit(1) | bit(2);
  static constexpr unsigned kWrite = bit(0) | bit(1);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double*, const D*) { return Coeffs{}; }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs&) {
    using V = typename IO::V;
    V sum = io.ld(0), slot = io.ld(1), p = ld_maybe_half<kBf16>(io, 2);
    lawa_push_elem(sum, slot, p);
    io.st(0, sum);
    io.st(1, slot);
  }
};

// Lists: 0 out, 1 src, [2 master]. out = src * s.
template <bool kBf16>
struct ScaleCopyOp {
  using Coeffs = ScaleCoeffs;
  static constexpr int kDepth = kBf16 ? 3 : 2;
  static constexpr unsigned kHalf = kBf16 ? bit(0) : 0u;
  static constexpr unsigned kRead = bit(1);
  static constexpr unsigned kWrite = kBf16 ? bit(0) | bit(2) : bit(0);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_scale(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    st_param<kBf16>(io, 0, 2, vmul(io.ld(1), V(k.s)));
  }
};

// Lists: 0 p, 1 g, 2 buf, [3 master].
template <bool kBf16, bool kNesterov>
struct SgdOp {
  using Coeffs = SgdCoeffs;
  static constexpr int kDepth = kBf16 ? 4 : 3;
  static constexpr unsigned kHalf = kBf16 ? bit(0) | bit(1) : 0u;
  static constexpr unsigned kRead = kBf16 ? bit(1) | bit(2) | bit(3) : bit(0) | bit(1) | bit(2);
  static constexpr unsigned kWrite = kBf16 ? bit(0) | bit(2) | bit(3) : bit(0) | bit(2);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_sgd(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V p = ld_param<kBf16>(io, 0, 3), g = ld_maybe_half<kBf16>(io, 1), buf = io.ld(2);
    sgd_elem<kNesterov>(p, g, buf, k);
    st_param<kBf16>(io, 0, 3, p);
    io.st(2, buf);
  }
};

// Lists: 0 g, 1 m (kMomentum), 2 a, 3 d (out), 4 mt (out, kWriteMt). Reduces sum(d^2).
template <bool kMomentum, bool kNesterov, bool kWriteMt>
struct GraftOp {
  using Coeffs = GraftCoeffs;
  static constexpr int kDepth = 5;
  static constexpr unsigned kHalf = 0u;
  static constexpr unsigned kRead = bit(0) | bit(2) | (kMomentum ? bit(1) : 0u);
  static constexpr unsigned kWrite = bit(2) | bit(3) | (kMomentum ? bit(1) : 0u) | (kWriteMt ? bit(4) : 0u);
  static constexpr bool kReduce = true;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_graft(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V g = io.ld(0), a = io.ld(2), m = g, mt = g, d = g;
    if constexpr (kMomentum) m = io.ld(1);
    graft_elem<kMomentum, kNesterov>(g, m, a, mt, d, k);
    if constexpr (kMomentum) io.st(1, m);
    io.st(2, a);
    io.st(3, d);
    if constexpr (kWriteMt) io.st(4, mt);
    io.acc_sq(0, d);
  }
};

// Lists: 0 a, 1 b, 2 c. a = b + s c.
struct TriadOp {
  using Coeffs = ScaleCoeffs;
  static constexpr int kDepth = 3;
  static constexpr unsigned kHalf = 0u;
  static constexpr unsigned kRead = bit(1) | bit(2);
  static constexpr unsigned kWrite = bit(0);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_scale(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    io.st(0, vfma(V(k.s), io.ld(2), io.ld(1)));
  }
};

// Lists: 0 p, 1 g, 2 m, 3 rms (fp32). Sinv6's step (update_math.h).
struct Sinv6Op {
  using Coeffs = Sinv6Coeffs;
  static constexpr int kDepth = 4;
  static constexpr unsigned kHalf = 0u;
  static constexpr unsigned kRead = bit(0) | bit(1) | bit(2) | bit(3);
  static constexpr unsigned kWrite = bit(0) | bit(2) | bit(3);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_sinv6(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V p = io.ld(0), m = io.ld(2), rms = io.ld(3);
    sinv6_elem(p, io.ld(1), m, rms, k);
    io.st(0, p);
    io.st(2, m);
    io.st(3, rms);
  }
};

// Lists: 0 p, 1 g, 2 m, 3 v, 4 n, [5 master]. AdamG.
template <bool kBf16>
struct AdamGOp {
  using Coeffs = AdamGCoeffs;
  static constexpr int kDepth = kBf16 ? 6 : 5;
  static constexpr unsigned kHalf = kBf16 ? bit(0) | bit(1) : 0u;
  static constexpr unsigned kRead =
      kBf16 ? bit(1) | bit(2) | bit(3) | bit(4) | bit(5) : bit(0) | bit(1) | bit(2) | bit(3) | bit(4);
  static constexpr unsigned kWrite = kBf16 ? bit(0) | bit(2) | bit(3) | bit(4) | bit(5) : bit(0) | bit(2) | bit(3) | bit(4);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_adamg(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V p = ld_param<kBf16>(io, 0, 5), g = ld_maybe_half<kBf16>(io, 1), m = io.ld(2), v = io.ld(3), n = io.ld(4);
    adamg_elem(p, g, m, v, n, k);
    st_param<kBf16>(io, 0, 5, p);
    io.st(2, m);
    io.st(3, v);
    io.st(4, n);
  }
};

// Lists: 0 p (read only), 1 g in / u out (the update overwrites the gradient: inside a jitted
// train step the gradient is dead by then, so XLA aliases it at no cost), 2 m, 3 v.
// p and g/u are bf16 under kBf16 (no master: the optax form leaves params to optax.apply_updates).
template <bool kBf16, bool kNesterov>
struct AdamUpdateOp {
  using Coeffs = AdamUpdateCoeffs;
  static constexpr int kDepth = 4;
  static constexpr unsigned kHalf = kBf16 ? bit(0) | bit(1) : 0u;
  static constexpr unsigned kRead = bit(0) | bit(1) | bit(2) | bit(3);
  static constexpr unsigned kWrite = bit(1) | bit(2) | bit(3);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_adam_update(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V p = ld_maybe_half<kBf16>(io, 0), g = ld_maybe_half<kBf16>(io, 1), m = io.ld(2), v = io.ld(3);
    const V u = adam_update_elem<kNesterov>(p, g, m, v, k);
    if constexpr (kBf16) io.st_h(1, u);
    else io.st(1, u);
    io.st(2, m);
    io.st(3, v);
  }
};

// Lists: 0 g, 1 mu, 2 nu (fp32). Amos pass 1 (update_math.h); per-tensor dyn. Sums: style adam
// mu^2 and v_hat; style reduced (kReduced) the clipped g^2 (mu and nu are not touched).
template <bool kReduced>
struct AmosSumsOp {
  using Coeffs = AmosSumsCoeffs;
  static constexpr int kDepth = 3;
  static constexpr unsigned kHalf = 0u;
  static constexpr unsigned kRead = kReduced ? bit(0) : bit(0) | bit(1) | bit(2);
  static constexpr unsigned kWrite = kReduced ? 0u : bit(1) | bit(2);
  static constexpr bool kReduce = true;
  static constexpr int kNumSums = kReduced ? 1 : 2;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_amos_sums(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    if constexpr (kReduced) {
      io.acc_add(0, amos_reduced_sums_elem(io.ld(0), k));
    } else {
      V mu = io.ld(1), nu = io.ld(2), v_hat = mu;
      amos_adam_sums_elem(io.ld(0), mu, nu, v_hat, k);
      io.st(1, mu);
      io.st(2, nu);
      io.acc_sq(0, mu);
      io.acc_add(1, v_hat);
    }
  }
};

// Lists: 0 p, 1 g, 2 mu, 3 nu (fp32). Amos pass 2; per-tensor dyn. Style adam reads p, mu, nu and
// writes p; style reduced reads p, g, mu and writes p, mu.
template <bool kReduced>
struct AmosStepOp {
  using Coeffs = AmosStepCoeffs;
  static constexpr int kDepth = 4;
  static constexpr unsigned kHalf = 0u;
  static constexpr unsigned kRead = kReduced ? bit(0) | bit(1) | bit(2) : bit(0) | bit(2) | bit(3);
  static constexpr unsigned kWrite = kReduced ? bit(0) | bit(2) : bit(0);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_amos_step(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    V p = io.ld(0), mu = io.ld(2);
    if constexpr (kReduced) {
      amos_reduced_step_elem(p, io.ld(1), mu, k);
      io.st(2, mu);
    } else {
      amos_adam_step_elem(p, mu, io.ld(3), k);
    }
    io.st(0, p);
  }
};

// Lists: 0 g, 1 x0, 2 z, 3 v, 4 s (fp32). Schedule-Free Prodigy pass 1. Sums: g (x0 - z), |s|.
struct ProdigySumsOp {
  using Coeffs = ProdigySumsCoeffs;
  static constexpr int kDepth = 5;
  static constexpr unsigned kHalf = 0u;
  static constexpr unsigned kRead = bit(0) | bit(1) | bit(2) | bit(3) | bit(4);
  static constexpr unsigned kWrite = bit(3) | bit(4);
  static constexpr bool kReduce = true;
  static constexpr int kNumSums = 2;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_prodigy_sums(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    const V g = io.ld(0);
    V v = io.ld(3), s = io.ld(4);
    prodigy_sums_elem(g, v, s, k);
    io.st(3, v);
    io.st(4, s);
    io.acc_mul(0, g, vsub(io.ld(1), io.ld(2)));
    io.acc_abs(1, s);
  }
};

// Lists: 0 x, 1 g, 2 z, 3 v (fp32). Schedule-Free Prodigy pass 2 (a no-op when moved = 0).
struct ProdigyStepOp {
  using Coeffs = ProdigyStepCoeffs;
  static constexpr int kDepth = 4;
  static constexpr unsigned kHalf = 0u;
  static constexpr unsigned kRead = bit(0) | bit(1) | bit(2) | bit(3);
  static constexpr unsigned kWrite = bit(0) | bit(2);
  static constexpr bool kReduce = false;
  template <class D>
  APK_HD Coeffs derive(const double* h, const D* dyn) { return derive_prodigy_step(h, dyn); }
  template <class IO>
  APK_HD void apply(IO& io, const Coeffs& k) {
    using V = typename IO::V;
    if (!k.moved) return;  // uniform over the call; nothing is stored, so x and z keep their bits
    V x = io.ld(0), z = io.ld(2);
    prodigy_step_elem(x, io.ld(1), z, io.ld(3), k);
    io.st(0, x);
    io.st(2, z);
  }
};

// Sums per tensor of a reducing op: Op::kNumSums where it says, else 1 (graft) or 0.
template <class Op, class = void>
struct NumSums {
  static constexpr int value = Op::kReduce ? 1 : 0;
};
template <class Op>
struct NumSums<Op, std::void_t<decltype(Op::kNumSums)>> {
  static constexpr int value = Op::kNumSums;
};
constexpr int kMaxSums = 2;

// Turns runtime flags into template arguments: f.template run<Op<flags...>>().
template <template <bool...> class Op, bool... kDone>
struct BoolDispatch {
  template <class F, class... Rest>
  static auto go(F& f, bool b, Rest... rest) {
    if (b) return BoolDispatch<Op, kDone..., true>::go(f, rest...);
    return BoolDispatch<Op, kDone..., false>::go(f, rest...);
  }
  template <class F>
  static auto go(F& f) {
    return f.template run<Op<kDone...>>();
  }
};

// Calls f.template run<Op>() for the op and flags of `c`. F::Result is the return type.
template <class F>
typename F::Result dispatch_op(const Call& c, F& f) {
  const bool h = (c.flags & kFlagBf16) != 0, nes = (c.flags & kFlagNesterov) != 0;
  const bool root = (c.flags & kFlagRoot) != 0, mom = (c.flags & kFlagMomentum) != 0;
  const bool wmt = (c.flags & kFlagWriteMt) != 0;
  const bool red = (c.flags & kFlagReduced) != 0;
  switch (c.op) {
    case OpKind::kAdam: return BoolDispatch<AdamOp>::go(f, h, nes, root);
    case OpKind::kSfStep: return BoolDispatch<SfStepOp>::go(f, h);
    case OpKind::kSfSwap: return BoolDispatch<SfSwapOp>::go(f, h);
    case OpKind::kEma: return BoolDispatch<EmaOp>::go(f, h);
    case OpKind::kLawaPush: return BoolDispatch<LawaPushOp>::go(f, h);
    case OpKind::kScaleCopy: return BoolDispatch<ScaleCopyOp>::go(f, h);
    case OpKind::kSgd: return BoolDispatch<SgdOp>::go(f, h, nes);
    case OpKind::kGraft: return BoolDispatch<GraftOp>::go(f, mom, nes, wmt);
    case OpKind::kTriad: return f.template run<TriadOp>();
    case OpKind::kSinv6: return f.template run<Sinv6Op>();
    case OpKind::kAdamG: return BoolDispatch<AdamGOp>::go(f, h);
    case OpKind::kAdamUpdate: return BoolDispatch<AdamUpdateOp>::go(f, h, nes);
    case OpKind::kAmosSums: return BoolDispatch<AmosSumsOp>::go(f, red);
    case OpKind::kAmosStep: return BoolDispatch<AmosStepOp>::go(f, red);
    case OpKind::kProdigySums: return f.template run<ProdigySumsOp>();
    case OpKind::kProdigyStep: return f.template run<ProdigyStepOp>();
    default: return f.bad_op();
  }
}

}  // namespace
}  // namespace apk
