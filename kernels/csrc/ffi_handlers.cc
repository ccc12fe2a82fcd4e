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
#include "kernels/csrc/ffi_handlers.h"

#include <cstring>
#include <string>
#include <vector>

#include "kernels/csrc/call.h"
#include "kernels/csrc/cpu_backend.h"
#include "kernels/csrc/cuda_backend.h"
#include "kernels/csrc/op_info.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace apk {
namespace {

ffi::Error invalid(const std::string& msg) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "algoperf_kernels: " + msg);
}

ffi::Error apply(bool on_gpu, void* stream, ffi::AnyBuffer dyn, ffi::RemainingArgs args,
                 ffi::RemainingRets rets, int64_t op, int64_t flags, int64_t n,
                 ffi::Span<const double> hyper) {
  Call c;
  c.op = static_cast<OpKind>(op);
  c.flags = static_cast<uint32_t>(flags);
  const OpInfo info = op_info(c.op, c.flags);
  if (!info.valid()) return invalid("unknown op");
  if (info.reduce) return invalid("reductions (graft) are not available through XLA FFI");
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
  if (rets.size() != static_cast<size_t>(writes * n)) return invalid("result count does not match op and n");

  std::vector<uint64_t> ptrs(static_cast<size_t>(c.depth * n), 0);
  std::vector<int64_t> sizes(static_cast<size_t>(n), -1);
  int ri = 0, wi = 0;
  for (int l = 0; l < c.depth; ++l) {
    const bool rd = (used >> l) & 1u, wr = (info.write >> l) & 1u;
    const ffi::DataType want = ((info.half >> l) & 1u) ? ffi::DataType::BF16 : ffi::DataType::F32;
    for (int64_t t = 0; t < n; ++t) {
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
  if (const char* e = check_call_shape(c); *e) return invalid(e);
  const std::string e = on_gpu ? cuda::run(c, stream, -1, static_cast<const float*>(dyn.untyped_data()))
                               : cpu::run(c);
  if (!e.empty()) return ffi::Error(ffi::ErrorCode::kInternal, e);
  return ffi::Error::Success();
}

ffi::Error apply_cpu(ffi::AnyBuffer dyn, ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t op,
                     int64_t flags, int64_t n, ffi::Span<const double> hyper) {
  return apply(false, nullptr, dyn, args, rets, op, flags, n, hyper);
}

ffi::Error apply_cuda(void* stream, ffi::AnyBuffer dyn, ffi::RemainingArgs args, ffi::RemainingRets rets,
                      int64_t op, int64_t flags, int64_t n, ffi::Span<const double> hyper) {
  if (!cuda::built()) return invalid("built without CUDA");
  return apply(true, stream, dyn, args, rets, op, flags, n, hyper);
}

}  // namespace
}  // namespace apk

XLA_FFI_DEFINE_HANDLER_SYMBOL(apk_ffi_cpu, apk::apply_cpu,
                              xla::ffi::Ffi::Bind()
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
