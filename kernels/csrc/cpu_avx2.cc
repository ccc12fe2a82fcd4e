// AVX2 + FMA CPU path. This file alone is compiled with -mavx2 -mfma; cpu_dispatch.cc calls it
// only when the CPU has both. Everything here has internal linkage (see op_defs.h).
#include <immintrin.h>

#include "kernels/csrc/cpu_loops.h"

namespace apk::cpu {
namespace {

// Eight floats; converts from float by broadcasting, so the math templates' V(coef) works.
struct F8 {
  __m256 x;
  F8() = default;
  F8(__m256 v) : x(v) {}
  F8(float s) : x(_mm256_set1_ps(s)) {}
};

inline F8 vadd(F8 a, F8 b) { return _mm256_add_ps(a.x, b.x); }
inline F8 vsub(F8 a, F8 b) { return _mm256_sub_ps(a.x, b.x); }
inline F8 vmul(F8 a, F8 b) { return _mm256_mul_ps(a.x, b.x); }
inline F8 vdiv(F8 a, F8 b) { return _mm256_div_ps(a.x, b.x); }
inline F8 vsqrt(F8 a) { return _mm256_sqrt_ps(a.x); }
inline F8 vfma(F8 a, F8 b, F8 c) { return _mm256_fmadd_ps(a.x, b.x, c.x); }
inline F8 vneg(F8 a) { return _mm256_xor_ps(a.x, _mm256_set1_ps(-0.0f)); }
// x < lo ? lo : (x > hi ? hi : x), lane-wise; a NaN compares false and stays NaN (as the scalar form).
inline F8 vclamp(F8 x, float lo, float hi) {
  const __m256 l = _mm256_set1_ps(lo), h = _mm256_set1_ps(hi);
  const __m256 up = _mm256_blendv_ps(x.x, h, _mm256_cmp_ps(x.x, h, _CMP_GT_OQ));
  return _mm256_blendv_ps(up, l, _mm256_cmp_ps(x.x, l, _CMP_LT_OQ));
}
// NadamP's p-th root: lane-wise powf (no vector pow in AVX2); it is one op among many
// memory streams, and p != 2 is rare (one AlgoPerf config).
inline F8 vpow(F8 a, float e) {
  alignas(32) float t[8];
  _mm256_store_ps(t, a.x);
  for (int j = 0; j < 8; ++j) t[j] = __builtin_powf(t[j], e);
  return _mm256_load_ps(t);
}

inline F8 vmax(F8 a, F8 b) { return _mm256_max_ps(b.x, a.x); }  // b > a ? b : a; a NaN a stays (as scalar vmax)
// amos_rho lane-wise: v_prev > 0 ? max(g2 / (v_prev / omb2), 1) : 1 (same bits as the scalar form).
inline F8 amos_rho(F8 g2, F8 v_prev, float omb2) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 q = _mm256_div_ps(g2.x, _mm256_div_ps(v_prev.x, _mm256_set1_ps(omb2)));
  const __m256 m = _mm256_max_ps(one, q);  // 1 > q ? 1 : q; NaN q stays
  return _mm256_blendv_ps(one, m, _mm256_cmp_ps(v_prev.x, _mm256_setzero_ps(), _CMP_GT_OQ));
}

inline F8 load_h(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
// Round to nearest even, NaN -> quiet NaN: the same bits as apk::f32_to_bf16.
inline void store_h(uint16_t* p, F8 v) {
  const __m256i u = _mm256_castps_si256(v.x);
  const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
  // Pack 8 x u32 (each <= 0xffff) to 8 x u16: packus works per 128-bit lane, then gather.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
}

struct VecIO {
  using V = F8;
  char* const* base;
  int64_t i;
  Lanes* acc;
  __m256d lo[kMaxSums] = {_mm256_setzero_pd(), _mm256_setzero_pd()};  // per sum: lanes 0-3
  __m256d hi[kMaxSums] = {_mm256_setzero_pd(), _mm256_setzero_pd()};  // lanes 4-7
  V ld(int l) const { return _mm256_loadu_ps(reinterpret_cast<const float*>(base[l]) + i); }
  V ld_h(int l) const { return load_h(reinterpret_cast<const uint16_t*>(base[l]) + i); }
  void st(int l, V x) const { _mm256_storeu_ps(reinterpret_cast<float*>(base[l]) + i, x.x); }
  void st_h(int l, V x) const { store_h(reinterpret_cast<uint16_t*>(base[l]) + i, x); }
  static __m256d lo_pd(V x) { return _mm256_cvtps_pd(_mm256_castps256_ps128(x.x)); }
  static __m256d hi_pd(V x) { return _mm256_cvtps_pd(_mm256_extractf128_ps(x.x, 1)); }
  static __m256d abs_pd(__m256d x) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), x); }
  void acc_sq(int j, V x) {
    const __m256d a = lo_pd(x), b = hi_pd(x);
    lo[j] = _mm256_fmadd_pd(a, a, lo[j]);
    hi[j] = _mm256_fmadd_pd(b, b, hi[j]);
  }
  void acc_add(int j, V x) {
    lo[j] = _mm256_add_pd(lo[j], lo_pd(x));
    hi[j] = _mm256_add_pd(hi[j], hi_pd(x));
  }
  void acc_abs(int j, V x) {
    lo[j] = _mm256_add_pd(lo[j], abs_pd(lo_pd(x)));
    hi[j] = _mm256_add_pd(hi[j], abs_pd(hi_pd(x)));
  }
  void acc_mul(int j, V a, V b) {
    lo[j] = _mm256_fmadd_pd(lo_pd(a), lo_pd(b), lo[j]);
    hi[j] = _mm256_fmadd_pd(hi_pd(a), hi_pd(b), hi[j]);
  }
  // Hands the vector lanes to the scalar tail, which continues each lane in index order.
  void spill() {
    for (int j = 0; j < kMaxSums; ++j) {
      _mm256_storeu_pd(acc->lane[j], lo[j]);
      _mm256_storeu_pd(acc->lane[j] + 4, hi[j]);
    }
  }
};

struct Avx2Isa {
  static constexpr int W = 8;
  using VecIO = apk::cpu::VecIO;
};

}  // namespace

namespace avx2 {
void run(const Call& c, const WorkItem* items, int64_t n_items, double* partials, bool parallel,
         const Executor* ex) {
  Loops<Avx2Isa>::run(c, items, n_items, partials, parallel, ex);
}
}  // namespace avx2

}  // namespace apk::cpu
