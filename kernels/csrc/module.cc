// Python module algoperf_kernels._C: raw-pointer entry points (no torch, jax or numpy needed),
// backend facts, the CUDA launch planner (for tests without a GPU), and the XLA FFI capsules.
// Tensor validation with readable messages lives in the Python package; this layer checks only
// what it can see (op, list count, scalar counts, null pointers).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/csrc/call.h"
#include "kernels/csrc/cpu_backend.h"
#include "kernels/csrc/cuda_backend.h"
#include "kernels/csrc/ffi_handlers.h"
#include "kernels/csrc/launch_plan.h"
#include "kernels/csrc/op_info.h"

namespace py = pybind11;

namespace apk {
namespace {

// Runs one call. ptrs/sizes/sums/partials/dyn_device are addresses (ints), so callers can pass
// cached int64 tables from array.array, numpy, torch or ctypes.
void apply(int op, uint32_t flags, int depth, int64_t n, uintptr_t ptrs, uintptr_t sizes,
           const std::vector<double>& hyper, const std::vector<double>& dyn, const std::string& device,
           int device_index, uintptr_t stream, uintptr_t dyn_device, uintptr_t sums, uintptr_t partials) {
  Call c;
  c.op = static_cast<OpKind>(op);
  c.flags = flags;
  c.depth = depth;
  c.n = n;
  c.ptrs = reinterpret_cast<const uint64_t*>(ptrs);
  c.sizes = reinterpret_cast<const int64_t*>(sizes);
  c.hyper = hyper.data();
  c.n_hyper = static_cast<int>(hyper.size());
  c.dyn = dyn.data();
  c.n_dyn = static_cast<int>(dyn.size());
  c.sums = reinterpret_cast<double*>(sums);
  c.partials = reinterpret_cast<double*>(partials);
  if (c.ptrs == nullptr || c.sizes == nullptr) throw py::value_error("null pointer or size table");
  if (dyn_device != 0) {
    const int want = expected_dyn(c.op) * static_cast<int>(per_tensor_dyn(c.op) ? n : 1);
    if (c.n_dyn != 0 && c.n_dyn != want) throw py::value_error("wrong number of per-step scalars for this op");
    c.n_dyn = want;  // read on the device
  }
  if (const char* e = check_call_shape(c); *e) throw py::value_error(e);
  std::string err;
  if (device == "cpu") {
    py::gil_scoped_release release;
    err = cpu::run(c);
  } else if (device == "cuda") {
    if (op_info(c.op, c.flags).reduce && c.partials == nullptr) {
      throw py::value_error("reducing ops on CUDA need a partials workspace");
    }
    py::gil_scoped_release release;
    err = cuda::run(c, reinterpret_cast<void*>(stream), device_index, reinterpret_cast<const float*>(dyn_device));
  } else {
    throw py::value_error("device must be 'cpu' or 'cuda', got '" + device + "'");
  }
  if (!err.empty()) throw std::runtime_error(err);
}

py::list plan_py(const std::vector<int64_t>& sizes, int depth, int64_t chunk, int max_blocks) {
  py::list out;
  for (const plan::Launch& l : plan::plan_launches(sizes.data(), static_cast<int64_t>(sizes.size()), depth, chunk, max_blocks)) {
    std::vector<std::tuple<int, int64_t>> blocks;
    for (const plan::Block& b : l.blocks) blocks.emplace_back(b.slot, b.chunk);
    out.append(py::make_tuple(l.tensors, blocks));
  }
  return out;
}

}  // namespace
}  // namespace apk

// C entry point for ctypes (CPU only): returns 0, or 1 with a message in err.
extern "C" __attribute__((visibility("default"))) int apk_apply_cpu(
    int op, uint32_t flags, int depth, int64_t n, const uint64_t* ptrs, const int64_t* sizes,
    const double* hyper, int n_hyper, const double* dyn, int n_dyn, double* sums, char* err, int err_len) {
  apk::Call c;
  c.op = static_cast<apk::OpKind>(op);
  c.flags = flags;
  c.depth = depth;
  c.n = n;
  c.ptrs = ptrs;
  c.sizes = sizes;
  c.hyper = hyper;
  c.n_hyper = n_hyper;
  c.dyn = dyn;
  c.n_dyn = n_dyn;
  c.sums = sums;
  std::string e = (ptrs && sizes) ? apk::check_call_shape(c) : "null pointer or size table";
  if (e.empty()) e = apk::cpu::run(c);
  if (e.empty()) return 0;
  if (err && err_len > 0) {
    const size_t k = e.size() < static_cast<size_t>(err_len - 1) ? e.size() : static_cast<size_t>(err_len - 1);
    e.copy(err, k);
    err[k] = '\0';
  }
  return 1;
}

PYBIND11_MODULE(_C, m) {
  using namespace apk;
  m.doc() = "Fused optimizer kernels (CPU: AVX2, own thread pool; CUDA: multi-tensor apply).";
  m.def("apply", &apply, py::arg("op"), py::arg("flags"), py::arg("depth"), py::arg("n"), py::arg("ptrs"),
        py::arg("sizes"), py::arg("hyper"), py::arg("dyn"), py::arg("device") = "cpu", py::arg("device_index") = -1,
        py::arg("stream") = 0, py::arg("dyn_device") = 0, py::arg("sums") = 0, py::arg("partials") = 0,
        "Runs one op over tensor lists given by address tables (see algoperf_kernels.core).");
  m.def("op_info", [](int op, uint32_t flags) {
    const OpInfo i = op_info(static_cast<OpKind>(op), flags);
    if (!i.valid()) throw py::value_error("unknown op " + std::to_string(op));
    py::dict d;
    d["depth"] = i.depth;
    d["read"] = i.read;
    d["write"] = i.write;
    d["half"] = i.half;
    d["reduce"] = i.reduce;
    d["num_sums"] = i.num_sums;
    d["per_tensor_dyn"] = i.per_tensor_dyn;
    d["n_hyper"] = expected_hyper(static_cast<OpKind>(op));
    d["n_dyn"] = expected_dyn(static_cast<OpKind>(op));
    return d;
  });
  m.def("cpu_isa", [] { return std::string(cpu::isa()); });
  m.def("cpu_has_avx2", &cpu::has_avx2);
  m.def("set_cpu_isa", [](const std::string& name) {
    if (!cpu::set_isa(name)) throw py::value_error("cpu isa must be 'auto', 'generic' or (on an AVX2 CPU) 'avx2'");
  });
  m.def("num_threads", &cpu::num_threads);
  m.def("set_num_threads", &cpu::set_num_threads);
  m.def("built_with_cuda", &cuda::built);
  m.def("cuda_device_count", &cuda::device_count);
  m.def("plan_launches", &plan_py, py::arg("sizes"), py::arg("depth"), py::arg("chunk") = plan::kCudaChunk,
        py::arg("max_blocks") = plan::kMaxBlocks,
        "The CUDA launch plan: [(slot -> tensor index, [(slot, chunk), ...]), ...].");
  m.def("chunk_bases", [](const std::vector<int64_t>& sizes, int64_t chunk) {
    return plan::chunk_bases(sizes.data(), static_cast<int64_t>(sizes.size()), chunk);
  }, py::arg("sizes"), py::arg("chunk") = plan::kCudaChunk);
  m.def("max_tensors", [](int depth) { return plan::max_tensors(depth); });
  m.def("ffi_capsule", [](const std::string& platform) {
    if (platform == "cpu") return py::capsule(reinterpret_cast<void*>(&apk_ffi_cpu));
    if (platform == "cuda") return py::capsule(reinterpret_cast<void*>(&apk_ffi_cuda));
    throw py::value_error("platform must be 'cpu' or 'cuda'");
  });
  m.attr("CPU_CHUNK") = cpu::kChunk;
  m.attr("CUDA_CHUNK") = plan::kCudaChunk;
  m.attr("CUDA_MAX_BLOCKS") = plan::kMaxBlocks;
  py::dict ops;
  ops["adam"] = static_cast<int>(OpKind::kAdam);
  ops["sf_step"] = static_cast<int>(OpKind::kSfStep);
  ops["sf_swap"] = static_cast<int>(OpKind::kSfSwap);
  ops["ema"] = static_cast<int>(OpKind::kEma);
  ops["lawa_push"] = static_cast<int>(OpKind::kLawaPush);
  ops["scale_copy"] = static_cast<int>(OpKind::kScaleCopy);
  ops["sgd"] = static_cast<int>(OpKind::kSgd);
  ops["graft"] = static_cast<int>(OpKind::kGraft);
  ops["triad"] = static_cast<int>(OpKind::kTriad);
  ops["sinv6"] = static_cast<int>(OpKind::kSinv6);
  ops["adamg"] = static_cast<int>(OpKind::kAdamG);
  ops["adam_update"] = static_cast<int>(OpKind::kAdamUpdate);
  ops["amos_sums"] = static_cast<int>(OpKind::kAmosSums);
  ops["amos_step"] = static_cast<int>(OpKind::kAmosStep);
  ops["prodigy_sums"] = static_cast<int>(OpKind::kProdigySums);
  ops["prodigy_step"] = static_cast<int>(OpKind::kProdigyStep);
  m.attr("OPS") = ops;
  py::dict flags;
  flags["bf16"] = static_cast<int>(kFlagBf16);
  flags["nesterov"] = static_cast<int>(kFlagNesterov);
  flags["root"] = static_cast<int>(kFlagRoot);
  flags["momentum"] = static_cast<int>(kFlagMomentum);
  flags["write_mt"] = static_cast<int>(kFlagWriteMt);
  flags["reduced"] = static_cast<int>(kFlagReduced);
  m.attr("FLAGS") = flags;
}
