// CUDA backend: multi-tensor apply over the shared update math. Host code only in this header.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/csrc/call.h"

namespace apk::cuda {

bool built();        // compiled with nvcc into this module
int device_count();  // 0 when there is no driver or no device

// Runs `c` on `stream` (a cudaStream_t; 0 is the legacy default stream) on device `device`
// (-1: the current one). Never synchronises with the host.
// dyn_device == nullptr: coefficients derive from c.dyn (host doubles) on the host.
// Otherwise every thread reads c.n_dyn floats from dyn_device (device memory): the capturable
// form, whose lr/step may change between replays of a CUDA graph.
// Graft: c.sums (n doubles) and c.partials (plan::chunk_bases(...)[n] doubles) are device memory.
std::string run(const Call& c, void* stream, int device, const float* dyn_device);

// out[i] = (float)in[i] for i < n, on `stream` (the XLA handler's float32 sums of reducing ops).
std::string sums_to_f32(const double* in, float* out, int64_t n, void* stream);

// cudaMemcpyAsync device to device on `stream`.
std::string copy_async(void* dst, const void* src, size_t bytes, void* stream);

}  // namespace apk::cuda
