// XLA FFI front end. Operands: a small f32 buffer of per-step scalars (lr, step, ...: buffers,
// not attributes, so changing them never recompiles), then the n tensors of every list the op
// uses, list by list. Results: the n tensors of every list the op writes, each aliased to its
// operand (input_output_aliases), so that with donation the update is in place. Write-only lists
// (the bf16 copy of a parameter) are operands too, only so that they can be aliased; or the caller
// leaves out the operands of every write-only list (the operand count says which form), and the
// results are fresh buffers or alias some other list's operands (triad a <- b + s c written over b:
// one buffer read and written; safe because every backend loads an element before storing it, in
// the same thread).
// Attributes (fixed per compiled step): op, flags, n and the hyper-parameters.
// Reducing ops (amos_sums, prodigy_sums, graft) return two more results after the lists: the sums as a
// float32 vector of n * num_sums (sums[t * num_sums + j], accumulated in double and rounded once; XLA
// needs no float64), then a float32 workspace of at least 2 * (chunks + n) * num_sums elements that
// holds the CUDA backend's float64 partials and sums (unused on the CPU).
#include "kernels/csrc/ffi_handlers.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/csrc/call.h"
#include "kernels/csrc/cpu_backend.h"
#include "kernels/csrc/cuda_backend.h"
#include "kernels/csrc/launch_plan.h"
#include "kernels/csrc/op_info.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace apk {
namespace {

ffi::Error invalid(const std::string& msg) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "algoperf_kernels: " + msg);
}

ffi::Error apply(bool on_gpu, void* stream, const cpu::Executor* ex, ffi::AnyBuffer dyn, ffi::RemainingArgs args,
                 ffi::RemainingRets rets, int64_t op, int64_t flags, int64_t n,
                 ffi::Span<const double> hyper) {
  Call c;
  c.op = static_cast<OpKind>(op);
  c.flags = static_cast<uint32_t>(flags);
  const OpInfo info = op_info(c.op, c.flags);
  if (!info.valid()) return invalid("unknown op");
  if (n <= 0) return invalid("empty tensor list");
  c.depth = info.depth;
  c.n = n;
  std::vector<double> hyp(hyper.begin(), hyper.end());
  c.hyper = hyp.data();
  c.n_hyper = static_cast<int>(hyp.size());

  if (dyn.element_type() != ffi::DataType::F32) return invalid("per-step scalars must be float32");
  c.n_dyn = static_cast<int>(dyn.element_count());
  std::vector<double> dyn_host;
  if (!on_gpu) {
    const float* d = static_cast<const float*>(dyn.untyped_data());
    dyn_host.assign(d, d + c.n_dyn);
    c.dyn = dyn_host.data();
  }

  unsigned used = info.read | info.write;
  int inputs = 0, writes = 0, write_only = 0;
  for (int l = 0; l < c.depth; ++l) {
    inputs += (used >> l) & 1u;
    writes += (info.write >> l) & 1u;
    write_only += ((info.write & ~info.read) >> l) & 1u;
  }
  if (write_only > 0 && args.size() == static_cast<size_t>((inputs - write_only) * n)) {
    used = info.read;  // the write-only lists came without operands
  } else if (args.size() != static_cast<size_t>(inputs * n)) {
    return invalid("operand count does not match op and n");
  }
  const size_t extra = info.reduce ? 2 : 0;
  if (rets.size() != static_cast<size_t>(writes * n) + extra) return invalid("result count does not match op and n");

  std::vector<uint64_t> ptrs(static_cast<size_t>(c.depth * n), 0);
  std::vector<int64_t> sizes(static_cast<size_t>(n), -1);
  int ri = 0, wi = 0;
  for (int l = 0; l < c.depth; ++l) {
    const bool rd = (used >> l) & 1u, wr = (info.write >> l) & 1u;
    const ffi::DataType want = ((info.half >> l) & 1u) ? ffi::DataType::BF16 : ffi::DataType::F32;
    for (int64_t t = 0; t < n && (rd || wr); ++t) {  // lists the op does not use stay null
      void* in = nullptr;
      void* out = nullptr;
      size_t count = 0, bytes = 0;
      ffi::DataType dt = want;
      if (rd) {
        auto b = args.get<ffi::AnyBuffer>(static_cast<size_t>(ri * n + t));
        if (b.has_error()) return b.error();
        in = b->untyped_data();
        count = b->element_count();
        bytes = b->size_bytes();
        dt = b->element_type();
      }
      if (wr) {
        auto r = rets.get<ffi::AnyBuffer>(static_cast<size_t>(wi * n + t));
        if (r.has_error()) return r.error();
        ffi::AnyBuffer b = **r;
        out = b.untyped_data();
        if (rd && b.element_count() != count) return invalid("aliased result size differs from its operand");
        count = b.element_count();
        bytes = b.size_bytes();
        dt = b.element_type();
      }
      if (dt != want) return invalid("list " + std::to_string(l) + " tensor " + std::to_string(t) + ": wrong dtype");
      if (sizes[t] < 0) sizes[t] = static_cast<int64_t>(count);
      if (sizes[t] != static_cast<int64_t>(count)) return invalid("tensor " + std::to_string(t) + ": lists differ in size");
      if (rd && wr && in != out && bytes > 0) {
        // XLA gives an aliased operand and result the same buffer; copy in case it ever does not.
        if (on_gpu) {
          const std::string e = cuda::copy_async(out, in, bytes, stream);
          if (!e.empty()) return ffi::Error(ffi::ErrorCode::kInternal, e);
        } else {
          std::memcpy(out, in, bytes);
        }
      }
      ptrs[static_cast<size_t>(l * n + t)] = reinterpret_cast<uintptr_t>(wr ? out : in);
    }
    ri += rd;
    wi += wr;
  }
  c.ptrs = ptrs.data();
  c.sizes = sizes.data();
  float* sums_out = nullptr;
  std::vector<double> host_sums;
  const int64_t n_sums = n * info.num_sums;
  if (info.reduce) {
    auto so = rets.get<ffi::AnyBuffer>(static_cast<size_t>(writes * n));
    auto wo = rets.get<ffi::AnyBuffer>(static_cast<size_t>(writes * n) + 1);
    if (so.has_error()) return so.error();
    if (wo.has_error()) return wo.error();
    ffi::AnyBuffer sb = **so, wb = **wo;
    if (sb.element_type() != ffi::DataType::F32 || static_cast<int64_t>(sb.element_count()) != n_sums) {
      return invalid("the sums result must be float32 with n * num_sums elements");
    }
    sums_out = static_cast<float*>(sb.untyped_data());
    if (on_gpu) {
      int64_t chunks = 0;
      for (int64_t t = 0; t < n; ++t) chunks += (sizes[t] + plan::kCudaChunk - 1) / plan::kCudaChunk;
      const int64_t need = (chunks + n) * info.num_sums * static_cast<int64_t>(sizeof(double));
      if (static_cast<int64_t>(wb.size_bytes()) < need) return invalid("the reduction workspace result is too small");
      c.sums = static_cast<double*>(wb.untyped_data());
      c.partials = c.sums + n_sums;
    } else {
      host_sums.assign(static_cast<size_t>(n_sums), 0.0);
      c.sums = host_sums.data();
    }
  }
  if (const char* e = check_call_shape(c); *e) return invalid(e);
  std::string e = on_gpu ? cuda::run(c, stream, -1, static_cast<const float*>(dyn.untyped_data()))
                         : cpu::run(c, ex);
  if (e.empty() && info.reduce) {
    if (on_gpu) {
      e = cuda::sums_to_f32(c.sums, sums_out, n_sums, stream);
    } else {
      for (int64_t j = 0; j < n_sums; ++j) sums_out[j] = static_cast<float>(host_sums[static_cast<size_t>(j)]);
    }
  }
  if (!e.empty()) return ffi::Error(ffi::ErrorCode::kInternal, e);
  return ffi::Error::Success();
}

// The CPU handler runs its work on XLA's intra-op threads (the ones the step's other ops use), with
// at most the kernels' own thread count; without that pool (0 threads reported) on its own.
ffi::Error apply_cpu(ffi::ThreadPool xla_pool, ffi::AnyBuffer dyn, ffi::RemainingArgs args, ffi::RemainingRets rets,
                     int64_t op, int64_t flags, int64_t n, ffi::Span<const double> hyper) {
  cpu::Executor ex{[](void* self, void (*task)(void*), void* data) {
                     static_cast<ffi::ThreadPool*>(self)->Schedule([task, data] { task(data); });
                   },
                   &xla_pool, static_cast<int>(std::min<int64_t>(xla_pool.num_threads(), cpu::num_threads()))};
  return apply(false, nullptr, ex.threads >= 2 ? &ex : nullptr, dyn, args, rets, op, flags, n, hyper);
}

ffi::Error apply_cuda(void* stream, ffi::AnyBuffer dyn, ffi::RemainingArgs args, ffi::RemainingRets rets,
                      int64_t op, int64_t flags, int64_t n, ffi::Span<const double> hyper) {
  if (!cuda::built()) return invalid("built without CUDA");
  return apply(true, stream, nullptr, dyn, args, rets, op, flags, n, hyper);
}

}  // namespace
}  // namespace apk

XLA_FFI_DEFINE_HANDLER_SYMBOL(apk_ffi_cpu, apk::apply_cpu,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<int64_t>("op")
                                  .Attr<int64_t>("flags")
                                  .Attr<int64_t>("n")
                                  .Attr<xla::ffi::Span<const double>>("hyper"));

// The CUDA handler derives its coefficients on the device from the scalar buffer, so it issues
// no host work beyond the launches and is safe inside XLA's command buffers (CUDA graphs).
XLA_FFI_DEFINE_HANDLER_SYMBOL(apk_ffi_cuda, apk::apply_cuda,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::PlatformStream<void*>>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<int64_t>("op")
                                  .Attr<int64_t>("flags")
                                  .Attr<int64_t>("n")
                                  .Attr<xla::ffi::Span<const double>>("hyper"),
                              {xla::ffi::Traits::kCmdBufferCompatible});
