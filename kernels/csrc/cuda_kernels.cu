// CUDA backend: apex-style multi-tensor apply over the shared update math (op_defs.h).
//
// One launch covers up to plan::max_tensors(depth) tensors and plan::kMaxBlocks chunks of
// 65536 elements; the tensor addresses travel by value in the kernel parameters, so a launch
// needs no device allocation or host synchronisation and can be captured in a CUDA graph.
// Each thread keeps kILP elements of every list in registers; when every used pointer is
// aligned, it moves them with one vector load/store per list.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/csrc/cuda_backend.h"
#include "kernels/csrc/launch_plan.h"
#include "kernels/csrc/op_defs.h"

namespace apk::cuda {
namespace {

constexpr int kBlock = 512;
constexpr int kILP = 4;
constexpr int64_t kChunk = plan::kCudaChunk;
constexpr int kMaxBlocks = plan::kMaxBlocks;
constexpr int kSegBlock = 256;
constexpr int kSegMax = 256;

template <int D>
struct Meta {
  static constexpr int kTensors = plan::max_tensors(D);
  void* addr[D][kTensors];
  int64_t size[kTensors];
  int chunk_base[kTensors];  // reducing ops: global chunk index of the slot's chunk 0
  int tensor[kTensors];      // per-tensor ops: the slot's tensor index (its row of scalars)
  unsigned char block_slot[kMaxBlocks];
  int block_chunk[kMaxBlocks];
};

struct HyperArgs {
  double h[8];
};

template <int D>
struct RegIO {
  using V = float;
  float (*r)[kILP];
  int ii;
  double* acc;  // kMaxSums accumulators
  __host__ __device__ __forceinline__ float ld(int l) const { return r[l][ii]; }
  __host__ __device__ __forceinline__ float ld_h(int l) const { return r[l][ii]; }
  __host__ __device__ __forceinline__ void st(int l, float x) const { r[l][ii] = x; }
  __host__ __device__ __forceinline__ void st_h(int l, float x) const { r[l][ii] = x; }
  __host__ __device__ __forceinline__ void acc_sq(int j, float x) const {
    const double d = static_cast<double>(x);
    acc[j] = fma(d, d, acc[j]);
  }
  __host__ __device__ __forceinline__ void acc_add(int j, float x) const { acc[j] += static_cast<double>(x); }
  __host__ __device__ __forceinline__ void acc_abs(int j, float x) const { acc[j] += fabs(static_cast<double>(x)); }
  __host__ __device__ __forceinline__ void acc_mul(int j, float a, float b) const {
    acc[j] = fma(static_cast<double>(a), static_cast<double>(b), acc[j]);
  }
};

template <class Op>
__device__ __forceinline__ bool is_half(int l) {
  return (Op::kHalf >> l) & 1u;
}

template <class Op, bool kCapt>
__global__ void __launch_bounds__(kBlock)
    mta_kernel(Meta<Op::kDepth> meta, typename Op::Coeffs k, HyperArgs hy, const float* dyn,
               double* partials, int dyn_stride) {
  constexpr int D = Op::kDepth;
  constexpr unsigned kUsed = Op::kRead | Op::kWrite;
  constexpr int NS = NumSums<Op>::value;
  const int slot = meta.block_slot[blockIdx.x];
  if constexpr (kCapt) k = Op::derive(hy.h, dyn + static_cast<int64_t>(meta.tensor[slot]) * dyn_stride);
  const int64_t chunk = meta.block_chunk[blockIdx.x];
  const int64_t off = chunk * kChunk;
  const int64_t left = meta.size[slot] - off;
  const int64_t n = left < kChunk ? left : kChunk;

  char* base[D];
  bool aligned = (n % kILP) == 0;
#pragma unroll
  for (int l = 0; l < D; ++l) {
    const int64_t es = is_half<Op>(l) ? 2 : 4;
    char* p = static_cast<char*>(meta.addr[l][slot]);
    base[l] = p ? p + off * es : nullptr;
    if ((kUsed >> l) & 1u) aligned = aligned && (reinterpret_cast<uintptr_t>(base[l]) % (kILP * es) == 0);
  }

  float r[D][kILP];
  double acc[kMaxSums] = {0.0, 0.0};
  if (aligned) {
    for (int64_t i = static_cast<int64_t>(threadIdx.x) * kILP; i < n; i += static_cast<int64_t>(blockDim.x) * kILP) {
#pragma unroll
      for (int l = 0; l < D; ++l) {
        if (!((Op::kRead >> l) & 1u)) continue;
        if (is_half<Op>(l)) {
          const uint2 u = *reinterpret_cast<const uint2*>(reinterpret_cast<const uint16_t*>(base[l]) + i);
          r[l][0] = bf16_to_f32(static_cast<uint16_t>(u.x & 0xffffu));
          r[l][1] = bf16_to_f32(static_cast<uint16_t>(u.x >> 16));
          r[l][2] = bf16_to_f32(static_cast<uint16_t>(u.y & 0xffffu));
          r[l][3] = bf16_to_f32(static_cast<uint16_t>(u.y >> 16));
        } else {
          const float4 f = *reinterpret_cast<const float4*>(reinterpret_cast<const float*>(base[l]) + i);
          r[l][0] = f.x;
          r[l][1] = f.y;
          r[l][2] = f.z;
          r[l][3] = f.w;
        }
      }
#pragma unroll
      for (int ii = 0; ii < kILP; ++ii) {
        RegIO<D> io{r, ii, acc};
        Op::apply(io, k);
      }
#pragma unroll
      for (int l = 0; l < D; ++l) {
        if (!((Op::kWrite >> l) & 1u)) continue;
        if (is_half<Op>(l)) {
          uint2 u;
          u.x = static_cast<uint32_t>(f32_to_bf16(r[l][0])) | (static_cast<uint32_t>(f32_to_bf16(r[l][1])) << 16);
          u.y = static_cast<uint32_t>(f32_to_bf16(r[l][2])) | (static_cast<uint32_t>(f32_to_bf16(r[l][3])) << 16);
          *reinterpret_cast<uint2*>(reinterpret_cast<uint16_t*>(base[l]) + i) = u;
        } else {
          *reinterpret_cast<float4*>(reinterpret_cast<float*>(base[l]) + i) =
              make_float4(r[l][0], r[l][1], r[l][2], r[l][3]);
        }
      }
    }
  } else {
    for (int64_t i0 = 0; i0 < n; i0 += static_cast<int64_t>(blockDim.x) * kILP) {
#pragma unroll
      for (int ii = 0; ii < kILP; ++ii) {
        const int64_t i = i0 + threadIdx.x + static_cast<int64_t>(ii) * blockDim.x;
        if (i >= n) continue;
#pragma unroll
        for (int l = 0; l < D; ++l) {
          if (!((Op::kRead >> l) & 1u)) continue;
          r[l][ii] = is_half<Op>(l) ? bf16_to_f32(reinterpret_cast<const uint16_t*>(base[l])[i])
                                    : reinterpret_cast<const float*>(base[l])[i];
        }
      }
#pragma unroll
      for (int ii = 0; ii < kILP; ++ii) {
        const int64_t i = i0 + threadIdx.x + static_cast<int64_t>(ii) * blockDim.x;
        if (i >= n) continue;
        RegIO<D> io{r, ii, acc};
        Op::apply(io, k);
      }
#pragma unroll
      for (int ii = 0; ii < kILP; ++ii) {
        const int64_t i = i0 + threadIdx.x + static_cast<int64_t>(ii) * blockDim.x;
        if (i >= n) continue;
#pragma unroll
        for (int l = 0; l < D; ++l) {
          if (!((Op::kWrite >> l) & 1u)) continue;
          if (is_half<Op>(l)) reinterpret_cast<uint16_t*>(base[l])[i] = f32_to_bf16(r[l][ii]);
          else reinterpret_cast<float*>(base[l])[i] = r[l][ii];
        }
      }
    }
  }

  if constexpr (Op::kReduce) {
    // Fixed tree over the block: deterministic for a fixed launch shape.
    __shared__ double s[kBlock];
#pragma unroll
    for (int j = 0; j < NS; ++j) {
      s[threadIdx.x] = acc[j];
      __syncthreads();
      for (int stride = kBlock / 2; stride > 0; stride /= 2) {
        if (static_cast<int>(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
        __syncthreads();
      }
      if (threadIdx.x == 0) partials[(meta.chunk_base[slot] + chunk) * NS + j] = s[0];
      __syncthreads();
    }
  }
}

struct Segs {
  int start[kSegMax];
  int count[kSegMax];
  int out[kSegMax];
};

// sums[out[b] * ns + j] = sum of partials[(start[b] + i) * ns + j], i < count[b], in a fixed order.
__global__ void __launch_bounds__(kSegBlock) segment_sum(Segs s, const double* partials, double* sums, int ns, int jj) {
  __shared__ double sh[kSegBlock];
  const int b = blockIdx.x;
  double a = 0.0;
  for (int j = threadIdx.x; j < s.count[b]; j += kSegBlock) a += partials[static_cast<int64_t>(s.start[b] + j) * ns + jj];
  sh[threadIdx.x] = a;
  __syncthreads();
  for (int stride = kSegBlock / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) sh[threadIdx.x] += sh[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) sums[static_cast<int64_t>(s.out[b]) * ns + jj] = sh[0];
}

__global__ void to_f32(const double* in, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = static_cast<float>(in[i]);
}

std::string err(cudaError_t e, const char* what) {
  return std::string(what) + ": " + cudaGetErrorString(e);
}

struct Launcher {
  using Result = std::string;
  const Call& c;
  cudaStream_t stream;
  const float* dyn_device;

  template <class Op>
  std::string run() {
    constexpr int D = Op::kDepth;
    static_assert(sizeof(Meta<D>) + sizeof(typename Op::Coeffs) + sizeof(HyperArgs) + 2 * sizeof(void*) <= 4000,
                  "kernel parameters must fit CUDA's 4 KB limit");
    constexpr int NS = NumSums<Op>::value;
    const bool per_tensor = per_tensor_dyn(c.op);
    if (per_tensor && !dyn_device) return "ops with per-tensor scalars need them in device memory on CUDA";
    typename Op::Coeffs k{};
    if (!dyn_device) k = Op::derive(c.hyper, c.dyn);
    const int dyn_stride = per_tensor ? expected_dyn(c.op) : 0;
    HyperArgs hy{};
    for (int j = 0; j < c.n_hyper && j < 8; ++j) hy.h[j] = c.hyper[j];
    const std::vector<int64_t> bases = plan::chunk_bases(c.sizes, c.n);
    for (const plan::Launch& l : plan::plan_launches(c.sizes, c.n, D)) {
      Meta<D> meta;
      std::memset(&meta, 0, sizeof(meta));
      for (size_t s = 0; s < l.tensors.size(); ++s) {
        const int64_t t = l.tensors[s];
        for (int j = 0; j < D; ++j) meta.addr[j][s] = reinterpret_cast<void*>(static_cast<uintptr_t>(c.ptrs[j * c.n + t]));
        meta.size[s] = c.sizes[t];
        meta.chunk_base[s] = static_cast<int>(bases[t]);
        meta.tensor[s] = static_cast<int>(t);
      }
      for (size_t b = 0; b < l.blocks.size(); ++b) {
        meta.block_slot[b] = static_cast<unsigned char>(l.blocks[b].slot);
        meta.block_chunk[b] = static_cast<int>(l.blocks[b].chunk);
      }
      const dim3 grid(static_cast<unsigned>(l.blocks.size()));
      if (dyn_device) {
        mta_kernel<Op, true><<<grid, kBlock, 0, stream>>>(meta, k, hy, dyn_device, c.partials, dyn_stride);
      } else {
        mta_kernel<Op, false><<<grid, kBlock, 0, stream>>>(meta, k, hy, nullptr, c.partials, 0);
      }
      if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return err(e, "multi-tensor launch");
    }
    if constexpr (Op::kReduce) {
      for (int64_t t0 = 0; t0 < c.n; t0 += kSegMax) {
        Segs s;
        const int64_t cnt = c.n - t0 < kSegMax ? c.n - t0 : kSegMax;
        for (int64_t j = 0; j < cnt; ++j) {
          s.start[j] = static_cast<int>(bases[t0 + j]);
          s.count[j] = static_cast<int>(bases[t0 + j + 1] - bases[t0 + j]);
          s.out[j] = static_cast<int>(t0 + j);
        }
        for (int j = 0; j < NS; ++j) {
          segment_sum<<<static_cast<unsigned>(cnt), kSegBlock, 0, stream>>>(s, c.partials, c.sums, NS, j);
          if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return err(e, "segment sum launch");
        }
      }
    }
    return {};
  }
  std::string bad_op() { return "unknown op"; }
};

}  // namespace

bool built() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string run(const Call& c, void* stream, int device, const float* dyn_device) {
  int prev = -1;
  if (device >= 0) {
    if (cudaError_t e = cudaGetDevice(&prev); e != cudaSuccess) return err(e, "cudaGetDevice");
    if (prev != device) {
      if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) return err(e, "cudaSetDevice");
    }
  }
  Launcher l{c, static_cast<cudaStream_t>(stream), dyn_device};
  std::string out = dispatch_op(c, l);
  if (device >= 0 && prev != device) cudaSetDevice(prev);
  return out;
}

std::string sums_to_f32(const double* in, float* out, int64_t n, void* stream) {
  if (n <= 0) return {};
  to_f32<<<static_cast<unsigned>((n + 255) / 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(in, out, n);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : err(e, "sums conversion launch");
}

std::string copy_async(void* dst, const void* src, size_t bytes, void* stream) {
  const cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream));
  return e == cudaSuccess ? std::string() : err(e, "cudaMemcpyAsync");
}

}  // namespace apk::cuda
