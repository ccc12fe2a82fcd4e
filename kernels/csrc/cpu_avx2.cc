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
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();  // lanes 0-3, 4-7
  V ld(int l) const { return _mm256_loadu_ps(reinterpret_cast<const float*>(base[l]) + i); }
  V ld_h(int l) const { return load_h(reinterpret_cast<const uint16_t*>(base[l]) + i); }
  void st(int l, V x) const { _mm256_storeu_ps(reinterpret_cast<float*>(base[l]) + i, x.x); }
  void st_h(int l, V x) const { store_h(reinterpret_cast<uint16_t*>(base[l]) + i, x); }
  void acc_sq(V x) {
    const __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(x.x));
    const __m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(x.x, 1));
    lo = _mm256_fmadd_pd(a, a, lo);
    hi = _mm256_fmadd_pd(b, b, hi);
  }
  // Hands the vector lanes to the scalar tail, which continues each lane in index order.
  void spill() {
    _mm256_storeu_pd(acc->lane, lo);
    _mm256_storeu_pd(acc->lane + 4, hi);
  }
};

struct Avx2Isa {
  static constexpr int W = 8;
  using VecIO = apk::cpu::VecIO;
};

}  // namespace

namespace avx2 {
void run(const Call& c, const WorkItem* items, int64_t n_items, double* partials, bool parallel) {
  Loops<Avx2Isa>::run(c, items, n_items, partials, parallel);
}
}  // namespace avx2

}  // namespace apk::cpu
