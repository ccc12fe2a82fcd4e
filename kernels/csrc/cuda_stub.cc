// The CUDA entry points when the module is built without nvcc.
#include "kernels/csrc/cuda_backend.h"

#if !defined(ALGOPERF_WITH_CUDA)
namespace apk::cuda {

bool built() { return false; }
int device_count() { return 0; }
std::string run(const Call&, void*, int, const float*) {
  return "algoperf_kernels was built without CUDA (no nvcc at build time)";
}
std::string copy_async(void*, const void*, size_t, void*) { return "built without CUDA"; }
std::string sums_to_f32(const double*, float*, int64_t, void*) { return "built without CUDA"; }

}  // namespace apk::cuda
#endif
