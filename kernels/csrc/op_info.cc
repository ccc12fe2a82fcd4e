#include "kernels/csrc/op_info.h"

#include "kernels/csrc/op_defs.h"

namespace apk {
namespace {

struct InfoQuery {
  using Result = OpInfo;
  template <class Op>
  OpInfo run() {
    OpInfo i;
    i.depth = Op::kDepth;
    i.read = Op::kRead;
    i.write = Op::kWrite;
    i.half = Op::kHalf;
    i.reduce = Op::kReduce;
    i.num_sums = NumSums<Op>::value;
    return i;
  }
  OpInfo bad_op() { return OpInfo{}; }
};

}  // namespace

OpInfo op_info(OpKind op, uint32_t flags) {
  Call c;
  c.op = op;
  c.flags = flags;
  InfoQuery q;
  OpInfo i = dispatch_op(c, q);
  i.per_tensor_dyn = per_tensor_dyn(op);
  return i;
}

const char* check_call_shape(const Call& c) {
  const OpInfo info = op_info(c.op, c.flags);
  if (!info.valid()) return "unknown op";
  if (c.depth != info.depth) return "wrong number of tensor lists for this op";
  if (c.n_hyper != expected_hyper(c.op)) return "wrong number of hyper-parameters for this op";
  const int64_t want_dyn = expected_dyn(c.op) * (info.per_tensor_dyn ? c.n : 1);
  if (c.n_dyn != want_dyn) return "wrong number of per-step scalars for this op (per-tensor ops: one row per tensor)";
  if (c.n <= 0) return "empty tensor list";
  if (info.reduce && c.sums == nullptr) return "this op needs an output buffer for the per-tensor sums";
  const unsigned used = info.read | info.write;
  for (int l = 0; l < c.depth; ++l) {
    if (!((used >> l) & 1u)) continue;
    for (int64_t t = 0; t < c.n; ++t) {
      if (c.sizes[t] < 0) return "negative tensor size";
      if (c.sizes[t] > 0 && c.ptrs[l * c.n + t] == 0) return "null data pointer in a used list";
    }
  }
  return "";
}

}  // namespace apk
