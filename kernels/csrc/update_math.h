// Update math shared by the CPU (scalar, AVX2) and CUDA backends.
//
// Every rounding step is explicit: vadd/vsub/vmul/vdiv/vsqrt/vfma round once each (IEEE
// round-to-nearest), and the build disables implicit contraction (-ffp-contract=off; the CUDA
// path uses the __f*_rn intrinsics, which nvcc never fuses). So the scalar, AVX2 and CUDA
// backends produce the same bits for the same inputs. Deliberate FMAs are marked vfma and sit
// exactly where torch's CPU kernels use one (lerp, addcmul, add/sub with alpha), and the rest of
// each formula follows torch's eager op order, so AdamW equals torch.optim.AdamW(fused=True) on
// the CPU bit for bit. A reference that rounds a*b and then a*b+c differs by a few ulp.
// Exception: vpow (NadamP with p != 2) uses each platform's powf, which is not correctly
// rounded, so p != 2 agrees across backends to a few ulp, not bit for bit.
//
// Math templates take a value type V: float here, a SIMD wrapper in the AVX2 backend. The
// wrapper overloads the same v* functions and converts from float by broadcasting.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define APK_HD static __host__ __device__ __forceinline__
#else
// static: each translation unit (generic, AVX2) keeps its own copy, so the linker never
// swaps an AVX2-compiled body into the generic path.
#define APK_HD static inline __attribute__((always_inline))
#endif

namespace apk {

// ---------------------------------------------------------------------------------------------
// Scalar primitives.
APK_HD float vadd(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
APK_HD float vsub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
APK_HD float vmul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
APK_HD float vdiv(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
APK_HD float vsqrt(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return __builtin_sqrtf(a);
#endif
}
APK_HD float vfma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return __builtin_fmaf(a, b, c);
#endif
}
APK_HD float vneg(float a) { return -a; }
APK_HD float vpow(float a, float e) {
#if defined(__CUDA_ARCH__)
  return powf(a, e);
#else
  return __builtin_powf(a, e);
#endif
}

// ---------------------------------------------------------------------------------------------
// bf16 <-> fp32 (round to nearest even; NaN stays a quiet NaN).
APK_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
#endif
}
APK_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
#endif
}
APK_HD float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }
APK_HD uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// ---------------------------------------------------------------------------------------------
// torch.lerp's two-branch form: a + w(b-a) for |w| < 0.5, else b - (b-a)(1-w). The second
// branch makes lerp(a, b, 1) == b exactly. The branch is uniform over a launch.
struct Lerp {
  float w, omw;  // w and 1-w
  bool small;
};
APK_HD Lerp make_lerp(double w) {
  Lerp l;
  l.w = static_cast<float>(w);
  l.omw = vsub(1.0f, l.w);
  l.small = l.w < 0.5f && l.w > -0.5f;
  return l;
}
template <class V>
APK_HD V lerp(V a, V b, const Lerp& l) {
  V d = vsub(b, a);
  if (l.small) return vfma(V(l.w), d, a);
  return vfma(vneg(d), V(l.omw), b);
}

// ---------------------------------------------------------------------------------------------
// Coefficients. Hyper-parameters that stay fixed come in `hyper` (double); values that change
// per step (lr, step, ...) come in `dyn`. derive_* runs once per call on the host, or once per
// thread on the device in the capturable CUDA path (dyn then lives in device memory).
APK_HD double dpow(double a, double b) { return pow(a, b); }

// AdamW / AlgoPerf NAdamW / NadamP. hyper: b1, b2, eps, wd, power. dyn: lr, step (1-based).
enum { kAdamB1, kAdamB2, kAdamEps, kAdamWd, kAdamPower, kAdamNumHyper };
enum { kAdamLr, kAdamStep, kAdamNumDyn };
struct AdamCoeffs {
  Lerp m_lerp;          // m <- lerp(m, g, 1-b1); also the Nesterov numerator
  float b2, omb2;       // v <- b2 v + (1-b2) g^2
  float decay;          // p <- p (1 - lr wd)   (decoupled, before the step, as torch.optim.AdamW)
  float neg_step;       // -lr / (1 - b1^t)
  float sqrt_bc2;       // sqrt(1 - b2^t)
  float bc2;            // 1 - b2^t                (p-th root path)
  float inv_power;      // 1 / p                   (p-th root path)
  float eps;
};
template <class D>
APK_HD AdamCoeffs derive_adam(const double* h, const D* dyn) {
  const double lr = static_cast<double>(dyn[kAdamLr]), t = static_cast<double>(dyn[kAdamStep]);
  const double bc1 = 1.0 - dpow(h[kAdamB1], t), bc2 = 1.0 - dpow(h[kAdamB2], t);
  AdamCoeffs k;
  k.m_lerp = make_lerp(1.0 - h[kAdamB1]);
  k.b2 = static_cast<float>(h[kAdamB2]);
  k.omb2 = static_cast<float>(1.0 - h[kAdamB2]);
  k.decay = static_cast<float>(1.0 - lr * h[kAdamWd]);
  k.neg_step = static_cast<float>(-lr / bc1);
  k.sqrt_bc2 = static_cast<float>(sqrt(bc2));
  k.bc2 = static_cast<float>(bc2);
  k.inv_power = static_cast<float>(1.0 / h[kAdamPower]);
  k.eps = static_cast<float>(h[kAdamEps]);
  return k;
}

// Second-moment EMA, as torch's v.mul_(b2).addcmul_(g, g, value=1-b2): b2 v + ((1-b2) g) g.
template <class V>
APK_HD V second_moment(V v, V g, float b2, float omb2) {
  return vfma(vmul(V(omb2), g), g, vmul(V(b2), v));
}

// One AdamW (kNesterov=false) or AlgoPerf NAdamW (kNesterov=true) step on one element.
// kSqrt: denominator sqrt(v)/sqrt(bc2) + eps; otherwise NadamP's (v/bc2)^(1/p) + eps.
// p <- p + (-lr/bc1) num / den, rounded as torch's fused CPU kernel does.
template <bool kNesterov, bool kSqrt, class V>
APK_HD void adam_elem(V& p, V g, V& m, V& v, const AdamCoeffs& k) {
  p = vmul(p, V(k.decay));
  m = lerp(m, g, k.m_lerp);
  v = second_moment(v, g, k.b2, k.omb2);
  V num = m;
  if constexpr (kNesterov) num = lerp(m, g, k.m_lerp);  // b1 m_t + (1-b1) g
  V den;
  if constexpr (kSqrt) {
    den = vadd(vdiv(vsqrt(v), V(k.sqrt_bc2)), V(k.eps));
  } else {
    den = vadd(vpow(vdiv(v, V(k.bc2)), k.inv_power), V(k.eps));
  }
  p = vadd(p, vdiv(vmul(V(k.neg_step), num), den));
}

// Schedule-free AdamW (published form; p holds y while training).
// hyper: b1, b2, eps, wd. dyn: lr (warmup-scaled), step, c = weight_k / weight_sum.
enum { kSfB1, kSfB2, kSfEps, kSfWd, kSfNumHyper };
enum { kSfLr, kSfStep, kSfC, kSfNumDyn };
struct SfCoeffs {
  float b2, omb2, bc2, eps, wd;
  Lerp y_lerp;    // y <- lerp(y, z, c)
  float y_coef;   // lr (b1 (1-c) - 1)
  float neg_lr;
};
template <class D>
APK_HD SfCoeffs derive_sf(const double* h, const D* dyn) {
  const double lr = static_cast<double>(dyn[kSfLr]), t = static_cast<double>(dyn[kSfStep]);
  const double c = static_cast<double>(dyn[kSfC]);
  SfCoeffs k;
  k.b2 = static_cast<float>(h[kSfB2]);
  k.omb2 = static_cast<float>(1.0 - h[kSfB2]);
  k.bc2 = static_cast<float>(1.0 - dpow(h[kSfB2], t));
  k.eps = static_cast<float>(h[kSfEps]);
  k.wd = static_cast<float>(h[kSfWd]);
  k.y_lerp = make_lerp(c);
  k.y_coef = static_cast<float>(lr * (h[kSfB1] * (1.0 - c) - 1.0));
  k.neg_lr = static_cast<float>(-lr);
  return k;
}
template <class V>
APK_HD void sf_elem(V& y, V g, V& z, V& v, const SfCoeffs& k) {
  v = second_moment(v, g, k.b2, k.omb2);
  V den = vadd(vsqrt(vdiv(v, V(k.bc2))), V(k.eps));  // sqrt(v/bc2) + eps
  V gh = vfma(V(k.wd), y, vdiv(g, den));              // g / den + wd y
  y = lerp(y, z, k.y_lerp);
  y = vfma(V(k.y_coef), gh, y);
  z = vfma(V(k.neg_lr), gh, z);
}

// Lerp-only ops. dyn: w.
//   schedule-free swap: y <- lerp(y, z, w), w = 1-1/b1 (train -> eval) or 1-b1 (eval -> train)
//   EMA:                ema <- lerp(ema, p, 1-beta)
struct LerpCoeffs {
  Lerp l;
};
template <class D>
APK_HD LerpCoeffs derive_lerp(const double*, const D* dyn) {
  LerpCoeffs k;
  k.l = make_lerp(static_cast<double>(dyn[0]));
  return k;
}

// LAWA queue push with a running sum: sum += p - slot; slot = p.
template <class V>
APK_HD void lawa_push_elem(V& sum, V& slot, V p) {
  sum = vadd(sum, vsub(p, slot));
  slot = p;
}

// out = src * scale (LAWA average: scale = 1/k). dyn: scale. Also the STREAM triad a = b + s c.
struct ScaleCoeffs {
  float s;
};
template <class D>
APK_HD ScaleCoeffs derive_scale(const double*, const D* dyn) {
  ScaleCoeffs k;
  k.s = static_cast<float>(dyn[0]);
  return k;
}

// Momentum SGD covering torch.optim.SGD (coupled wd, dampening, heavy-ball or Nesterov),
// optax.trace (no dampening) + add_decayed_weights, and Shampoo's EMA-Nesterov momentum.
//   d   = g + wd_c p
//   buf = mom buf + damp d            (first torch step: mom=0, damp=1, so buf = d)
//   dir = kNesterov ? dir_d d + dir_buf buf : buf
//   p   = p - lr (dir + wd_d p)
// hyper: momentum, dampening, wd_coupled, wd_decoupled, dir_d, dir_buf. dyn: lr, first (0/1).
enum { kSgdMom, kSgdDampening, kSgdWdC, kSgdWdD, kSgdDirD, kSgdDirBuf, kSgdNumHyper };
enum { kSgdLr, kSgdFirst, kSgdNumDyn };
struct SgdCoeffs {
  float wd_c, mom, damp, dir_d, dir_buf, neg_lr, wd_d;
};
template <class D>
APK_HD SgdCoeffs derive_sgd(const double* h, const D* dyn) {
  const bool first = static_cast<double>(dyn[kSgdFirst]) != 0.0;
  SgdCoeffs k;
  k.wd_c = static_cast<float>(h[kSgdWdC]);
  k.mom = first ? 0.0f : static_cast<float>(h[kSgdMom]);
  k.damp = first ? 1.0f : static_cast<float>(1.0 - h[kSgdDampening]);
  k.dir_d = static_cast<float>(h[kSgdDirD]);
  k.dir_buf = static_cast<float>(h[kSgdDirBuf]);
  k.neg_lr = static_cast<float>(-static_cast<double>(dyn[kSgdLr]));
  k.wd_d = static_cast<float>(h[kSgdWdD]);
  return k;
}
template <bool kNesterov, class V>
APK_HD void sgd_elem(V& p, V g, V& buf, const SgdCoeffs& k) {
  V d = vfma(V(k.wd_c), p, g);
  buf = vfma(V(k.damp), d, vmul(V(k.mom), buf));  // torch: buf.mul_(mom).add_(d, alpha=1-dampening)
  V dir = buf;
  if constexpr (kNesterov) dir = vfma(V(k.dir_buf), buf, vmul(V(k.dir_d), d));
  p = vfma(V(k.neg_lr), vfma(V(k.wd_d), p, dir), p);
}

// Shampoo's Adam grafting step on one block: filtered gradient and grafting direction.
//   m  = lerp(m, g, 1-b1);  mt = (kNesterov ? lerp(m, g, 1-b1) : m) / (1 - b1^t)   (kMomentum)
//   mt = g                                                                          (otherwise)
//   a  = b2 a + (1-b2) g^2
//   d  = mt / (sqrt(a / (1-b2^t)) + eps)
// The backend also returns sum(d^2) per tensor for the grafting norm.
// hyper: b1, b2, eps. dyn: step.
enum { kGraftB1, kGraftB2, kGraftEps, kGraftNumHyper };
struct GraftCoeffs {
  Lerp m_lerp;
  float bc1, b2, omb2, bc2, eps;
};
template <class D>
APK_HD GraftCoeffs derive_graft(const double* h, const D* dyn) {
  const double t = static_cast<double>(dyn[0]);
  GraftCoeffs k;
  k.m_lerp = make_lerp(1.0 - h[kGraftB1]);
  k.bc1 = static_cast<float>(1.0 - dpow(h[kGraftB1], t));
  k.b2 = static_cast<float>(h[kGraftB2]);
  k.omb2 = static_cast<float>(1.0 - h[kGraftB2]);
  k.bc2 = static_cast<float>(1.0 - dpow(h[kGraftB2], t));
  k.eps = static_cast<float>(h[kGraftEps]);
  return k;
}
template <bool kMomentum, bool kNesterov, class V>
APK_HD void graft_elem(V g, V& m, V& a, V& mt, V& d, const GraftCoeffs& k) {
  if constexpr (kMomentum) {
    m = lerp(m, g, k.m_lerp);
    V num = m;
    if constexpr (kNesterov) num = lerp(m, g, k.m_lerp);
    mt = vdiv(num, V(k.bc1));
  } else {
    mt = g;
  }
  a = second_moment(a, g, k.b2, k.omb2);
  d = vdiv(mt, vadd(vsqrt(vdiv(a, V(k.bc2))), V(k.eps)));
}

// ---------------------------------------------------------------------------------------------
// Sinv6 (submissions.md §3.4): a relative, Adam-style step without bias correction.
//   g   = clamp(g, -clip, clip)           (NaN stays NaN, as torch.clamp)
//   m   = b1 m + (1-b1) g
//   rms = b2 rms + (1-b2) g^2
//   p   = p - scale m / (eps + sqrt(rms + eps_root))
// scale = 0.001 lr_mult RMS(p) is per tensor, so a call carries one tensor (or tensors sharing it).
// hyper: b1, b2, eps, eps_root, clip. dyn: scale.
enum { kSinv6B1, kSinv6B2, kSinv6Eps, kSinv6EpsRoot, kSinv6Clip, kSinv6NumHyper };
struct Sinv6Coeffs {
  float b1, omb1, b2, omb2, eps, eps_root, clip, neg_scale;
};
template <class D>
APK_HD Sinv6Coeffs derive_sinv6(const double* h, const D* dyn) {
  Sinv6Coeffs k;
  k.b1 = static_cast<float>(h[kSinv6B1]);
  k.omb1 = static_cast<float>(1.0 - h[kSinv6B1]);
  k.b2 = static_cast<float>(h[kSinv6B2]);
  k.omb2 = static_cast<float>(1.0 - h[kSinv6B2]);
  k.eps = static_cast<float>(h[kSinv6Eps]);
  k.eps_root = static_cast<float>(h[kSinv6EpsRoot]);
  k.clip = static_cast<float>(h[kSinv6Clip]);
  k.neg_scale = static_cast<float>(-static_cast<double>(dyn[0]));
  return k;
}
APK_HD float vclamp(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
template <class V>
APK_HD void sinv6_elem(V& p, V g, V& m, V& rms, const Sinv6Coeffs& k) {
  g = vclamp(g, -k.clip, k.clip);
  m = vfma(V(k.omb1), g, vmul(V(k.b1), m));  // torch: m.mul_(b1).add_(g, alpha=1-b1)
  rms = second_moment(rms, g, k.b2, k.omb2);
  V den = vadd(vsqrt(vadd(rms, V(k.eps_root))), V(k.eps));
  p = vfma(V(k.neg_scale), vdiv(m, den), p);
}

// AdamG (Pang et al. 2024; submissions.md §3.6): a numerator function s(v) = p_num v^q_num of the
// updated second moment, averaged into n, scales the gradient inside the first moment.
//   v = b2 v + (1-b2) g^2                         (torch's mul_/addcmul_, as Adam)
//   n = b3 n + ((1-b3) p_num) v^q_num             (n.mul_(b3).add_(v.pow(q), alpha=(1-b3) p_num))
//   m = b1 m + (1-b1) (g n)                       (m.mul_(b1).add_(g*n, alpha=1-b1))
//   p = p + (-size/(1-b1^t)) m / (sqrt(v)/sqrt(1-b2^t) + eps),  size = min(1/sqrt(t), lr)
// vpow is each platform's powf (not correctly rounded): backends agree to a few ulp.
// hyper: b1, b2, b3, eps, p_num, q_num. dyn: lr, step (1-based).
enum { kAdamGB1, kAdamGB2, kAdamGB3, kAdamGEps, kAdamGPNum, kAdamGQNum, kAdamGNumHyper };
enum { kAdamGLr, kAdamGStep, kAdamGNumDyn };
struct AdamGCoeffs {
  float b1, omb1, b2, omb2, b3, n_coef, q, neg_step, sqrt_bc2, eps;
};
template <class D>
APK_HD AdamGCoeffs derive_adamg(const double* h, const D* dyn) {
  const double lr = static_cast<double>(dyn[kAdamGLr]), t = static_cast<double>(dyn[kAdamGStep]);
  const double inv_sqrt_t = 1.0 / sqrt(t);
  const double size = inv_sqrt_t < lr ? inv_sqrt_t : lr;
  AdamGCoeffs k;
  k.b1 = static_cast<float>(h[kAdamGB1]);
  k.omb1 = static_cast<float>(1.0 - h[kAdamGB1]);
  k.b2 = static_cast<float>(h[kAdamGB2]);
  k.omb2 = static_cast<float>(1.0 - h[kAdamGB2]);
  k.b3 = static_cast<float>(h[kAdamGB3]);
  k.n_coef = static_cast<float>((1.0 - h[kAdamGB3]) * h[kAdamGPNum]);
  k.q = static_cast<float>(h[kAdamGQNum]);
  k.neg_step = static_cast<float>(-size / (1.0 - dpow(h[kAdamGB1], t)));
  k.sqrt_bc2 = static_cast<float>(sqrt(1.0 - dpow(h[kAdamGB2], t)));
  k.eps = static_cast<float>(h[kAdamGEps]);
  return k;
}
template <class V>
APK_HD void adamg_elem(V& p, V g, V& m, V& v, V& n, const AdamGCoeffs& k) {
  v = second_moment(v, g, k.b2, k.omb2);
  n = vfma(V(k.n_coef), vpow(v, k.q), vmul(V(k.b3), n));
  m = vfma(V(k.omb1), vmul(g, n), vmul(V(k.b1), m));
  V den = vadd(vdiv(vsqrt(v), V(k.sqrt_bc2)), V(k.eps));
  p = vadd(p, vdiv(vmul(V(k.neg_step), m), den));
}

// optax drop-in AdamW: writes the update u instead of the new parameter (params are read only),
// in optax's order: u = -lr (m^ / (sqrt(v^ + eps_root) + eps) + wd p), m^ = num / bc1,
// v^ = v / bc2 (power != 2: NadamP's (v^ + eps_root)^(1/p)). Moments as adam_elem (same bits).
// Every hyper-parameter arrives as a per-step scalar, so optax.inject_hyperparams can trace all
// of them; the sqrt/pow choice is a branch uniform over the launch.
// dyn: lr, step (1-based), b1, b2, eps, eps_root, wd, power.
enum { kAdamUpdLr, kAdamUpdStep, kAdamUpdB1, kAdamUpdB2, kAdamUpdEps, kAdamUpdEpsRoot, kAdamUpdWd, kAdamUpdPower,
       kAdamUpdNumDyn };
struct AdamUpdateCoeffs {
  Lerp m_lerp;
  float b2, omb2;
  float neg_step;    // -lr / (1 - b1^t)
  float bc2;         // 1 - b2^t
  float eps_root, eps;
  float neg_lr_wd;   // -lr wd
  float inv_power;
  bool sqrt_path;    // power == 2
};
template <class D>
APK_HD AdamUpdateCoeffs derive_adam_update(const double*, const D* dyn) {
  const double lr = static_cast<double>(dyn[kAdamUpdLr]), t = static_cast<double>(dyn[kAdamUpdStep]);
  const double b1 = static_cast<double>(dyn[kAdamUpdB1]), b2 = static_cast<double>(dyn[kAdamUpdB2]);
  const double power = static_cast<double>(dyn[kAdamUpdPower]);
  AdamUpdateCoeffs k;
  k.m_lerp = make_lerp(1.0 - b1);
  k.b2 = static_cast<float>(b2);
  k.omb2 = static_cast<float>(1.0 - b2);
  k.neg_step = static_cast<float>(-lr / (1.0 - dpow(b1, t)));
  k.bc2 = static_cast<float>(1.0 - dpow(b2, t));
  k.eps_root = static_cast<float>(dyn[kAdamUpdEpsRoot]);
  k.eps = static_cast<float>(dyn[kAdamUpdEps]);
  k.neg_lr_wd = static_cast<float>(-lr * static_cast<double>(dyn[kAdamUpdWd]));
  k.inv_power = static_cast<float>(1.0 / power);
  k.sqrt_path = power == 2.0;
  return k;
}
template <bool kNesterov, class V>
APK_HD V adam_update_elem(V p, V g, V& m, V& v, const AdamUpdateCoeffs& k) {
  m = lerp(m, g, k.m_lerp);
  v = second_moment(v, g, k.b2, k.omb2);
  V num = m;
  if constexpr (kNesterov) num = lerp(m, g, k.m_lerp);
  const V vh = vadd(vdiv(v, V(k.bc2)), V(k.eps_root));
  const V den = vadd(k.sqrt_path ? vsqrt(vh) : vpow(vh, k.inv_power), V(k.eps));
  return vfma(V(k.neg_lr_wd), p, vdiv(vmul(V(k.neg_step), num), den));
}


// ---------------------------------------------------------------------------------------------
// Two-pass ops (reductions): Amos (submissions.md §2.7) and Schedule-Free Prodigy (§2.11). Pass 1
// updates the moments and returns per-tensor sums (in double, fixed order); the caller turns them
// into scalars (Amos: one set per tensor; Prodigy: d) and pass 2 applies the element-wise step.
// Each formula follows the plain framework path's op order (submissions/common/amos_rules.py,
// prodigy.py), every multiply and add rounded once: no FMAs, so these agree with the plain path to
// ~1e-7, not bit for bit (XLA and torch may reassociate their float32 sums).

// max(a, b) as jnp.maximum / torch.maximum: a NaN a stays NaN.
APK_HD float vmax(float a, float b) { return b > a ? b : a; }

// Amos's nu-clip ratio: rho = max(g^2 / (v_prev / (1-b2)), 1) where v_prev > 0, else 1.
APK_HD float amos_rho(float g2, float v_prev, float omb2) {
  if (!(v_prev > 0.0f)) return 1.0f;
  const float q = vdiv(g2, vdiv(v_prev, omb2));
  return 1.0f > q ? 1.0f : q;
}

// Amos pass 1. hyper: b1, b2. dyn (per tensor): scale (global-norm clip), c_prev (style adam: v_prev =
// c_prev nu per element) or v_prev (style reduced: nu is one scalar), c_now.
//   g <- g scale;  rho = amos_rho(g^2, v_prev);  gc = g / sqrt(rho);  g2 = g^2 / rho
//   adam:    mu = (1-b1) gc + b1 mu;  nu = b2 nu + g2;  sums: mu^2, c_now nu
//   reduced: sums: g2
enum { kAmosB1, kAmosB2, kAmosNumHyper };
enum { kAmosSumScale, kAmosSumVPrev, kAmosSumCNow, kAmosSumNumDyn };
struct AmosSumsCoeffs {
  float b1, omb1, b2, omb2, scale, v_prev, c_now;
};
template <class D>
APK_HD AmosSumsCoeffs derive_amos_sums(const double* h, const D* dyn) {
  AmosSumsCoeffs k;
  k.b1 = static_cast<float>(h[kAmosB1]);
  k.omb1 = static_cast<float>(1.0 - h[kAmosB1]);
  k.b2 = static_cast<float>(h[kAmosB2]);
  k.omb2 = static_cast<float>(1.0 - h[kAmosB2]);
  k.scale = static_cast<float>(dyn[kAmosSumScale]);
  k.v_prev = static_cast<float>(dyn[kAmosSumVPrev]);
  k.c_now = static_cast<float>(dyn[kAmosSumCNow]);
  return k;
}
// Style adam: updates mu and nu; returns mu (for mu^2) and v_hat = c_now nu through the arguments.
template <class V>
APK_HD void amos_adam_sums_elem(V g, V& mu, V& nu, V& v_hat, const AmosSumsCoeffs& k) {
  g = vmul(g, V(k.scale));
  const V gg = vmul(g, g);
  const V rho = amos_rho(gg, vmul(V(k.v_prev), nu), k.omb2);
  const V gc = vdiv(g, vsqrt(rho));
  mu = vadd(vmul(V(k.omb1), gc), vmul(V(k.b1), mu));
  nu = vadd(vmul(V(k.b2), nu), vdiv(gg, rho));
  v_hat = vmul(V(k.c_now), nu);
}
// Style reduced: returns the clipped g^2.
template <class V>
APK_HD V amos_reduced_sums_elem(V g, const AmosSumsCoeffs& k) {
  g = vmul(g, V(k.scale));
  const V gg = vmul(g, g);
  return vdiv(gg, amos_rho(gg, V(k.v_prev), k.omb2));
}

// Amos pass 2. hyper: b1, b2. dyn (per tensor): scale, v_prev (reduced), c_now (adam) or v_hat (reduced;
// already max(., tiny)), wd, E = eta xi_t, D = 1 + eta s l2r b_v  (the per-tensor scalars of amos_rules).
//   adam:    u = mu / sqrt(max(c_now nu, tiny));            p <- p + (wd p - E u) / D
//   reduced: u = gc / sqrt(v_hat) (gc as pass 1);  mu <- (1-b1) (wd p - E u) / D + b1 mu;  p <- p + mu
enum { kAmosStepScale, kAmosStepVPrev, kAmosStepVHat, kAmosStepWd, kAmosStepE, kAmosStepD, kAmosStepNumDyn };
constexpr float kAmosTiny = 1.17549435e-38f;  // float32's smallest normal (jnp.finfo(float32).tiny)
struct AmosStepCoeffs {
  float b1, omb1, omb2, scale, v_prev, v_hat, wd, e, d;
};
template <class D>
APK_HD AmosStepCoeffs derive_amos_step(const double* h, const D* dyn) {
  AmosStepCoeffs k;
  k.b1 = static_cast<float>(h[kAmosB1]);
  k.omb1 = static_cast<float>(1.0 - h[kAmosB1]);
  k.omb2 = static_cast<float>(1.0 - h[kAmosB2]);
  k.scale = static_cast<float>(dyn[kAmosStepScale]);
  k.v_prev = static_cast<float>(dyn[kAmosStepVPrev]);
  k.v_hat = static_cast<float>(dyn[kAmosStepVHat]);
  k.wd = static_cast<float>(dyn[kAmosStepWd]);
  k.e = static_cast<float>(dyn[kAmosStepE]);
  k.d = static_cast<float>(dyn[kAmosStepD]);
  return k;
}
template <class V>
APK_HD V amos_delta(V p, V u, const AmosStepCoeffs& k) {
  return vdiv(vsub(vmul(V(k.wd), p), vmul(V(k.e), u)), V(k.d));
}
template <class V>
APK_HD void amos_adam_step_elem(V& p, V mu, V nu, const AmosStepCoeffs& k) {
  const V u = vdiv(mu, vsqrt(vmax(vmul(V(k.v_hat), nu), V(kAmosTiny))));
  p = vadd(p, amos_delta(p, u, k));
}
template <class V>
APK_HD void amos_reduced_step_elem(V& p, V g, V& mu, const AmosStepCoeffs& k) {
  g = vmul(g, V(k.scale));
  const V gc = vdiv(g, vsqrt(amos_rho(vmul(g, g), V(k.v_prev), k.omb2)));
  const V u = vdiv(gc, vsqrt(V(k.v_hat)));
  mu = vadd(vmul(V(k.omb1), amos_delta(p, u, k)), vmul(V(k.b1), mu));
  p = vadd(p, mu);
}

// Schedule-Free Prodigy pass 1. hyper: b2, sqrt(b2). dyn: vc = (1-b2) d^2, ddl = d dl.
//   v <- b2 v + vc g g;  s <- sqrt(b2) s + ddl g;  sums: g (x0 - z), |s|
enum { kProdigyB2, kProdigySqrtB2, kProdigyNumHyper };
enum { kProdigyVc, kProdigyDdl, kProdigySumsNumDyn };
struct ProdigySumsCoeffs {
  float b2, sqrt_b2, vc, ddl;
};
template <class D>
APK_HD ProdigySumsCoeffs derive_prodigy_sums(const double* h, const D* dyn) {
  ProdigySumsCoeffs k;
  k.b2 = static_cast<float>(h[kProdigyB2]);
  k.sqrt_b2 = static_cast<float>(h[kProdigySqrtB2]);
  k.vc = static_cast<float>(dyn[kProdigyVc]);
  k.ddl = static_cast<float>(dyn[kProdigyDdl]);
  return k;
}
template <class V>
APK_HD void prodigy_sums_elem(V g, V& v, V& s, const ProdigySumsCoeffs& k) {
  v = vadd(vmul(V(k.b2), v), vmul(vmul(V(k.vc), g), g));
  s = vadd(vmul(V(k.sqrt_b2), s), vmul(V(k.ddl), g));
}

// Schedule-Free Prodigy pass 2. dyn: wd dl, d_new dl, d_new eps, c, moved.
//   z <- z - (wd dl) x - (d_new dl) g / (sqrt(v) + d_new eps);  x <- (1-c) x + c z
// moved = 0 (D_den was 0) leaves x and z untouched, as the published step does.
enum { kProdigyWdDl, kProdigyStepSize, kProdigyEpsD, kProdigyC, kProdigyMoved, kProdigyStepNumDyn };
struct ProdigyStepCoeffs {
  float wd_dl, step, eps_d, c, omc;
  bool moved;
};
template <class D>
APK_HD ProdigyStepCoeffs derive_prodigy_step(const double*, const D* dyn) {
  ProdigyStepCoeffs k;
  k.wd_dl = static_cast<float>(dyn[kProdigyWdDl]);
  k.step = static_cast<float>(dyn[kProdigyStepSize]);
  k.eps_d = static_cast<float>(dyn[kProdigyEpsD]);
  k.c = static_cast<float>(dyn[kProdigyC]);
  k.omc = vsub(1.0f, k.c);
  k.moved = static_cast<double>(dyn[kProdigyMoved]) != 0.0;
  return k;
}
template <class V>
APK_HD void prodigy_step_elem(V& x, V g, V& z, V v, const ProdigyStepCoeffs& k) {
  z = vsub(vsub(z, vmul(V(k.wd_dl), x)), vdiv(vmul(V(k.step), g), vadd(vsqrt(v), V(k.eps_d))));
  x = vadd(vmul(V(k.omc), x), vmul(V(k.c), z));
}

}  // namespace apk
