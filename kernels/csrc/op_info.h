// Run-time facts about an op (list masks), for validation in the bindings and the FFI handlers.
#pragma once

#include "kernels/csrc/call.h"

namespace apk {

struct OpInfo {
  int depth = -1;
  unsigned read = 0, write = 0, half = 0;
  bool reduce = false;
  int num_sums = 0;             // sums per tensor of a reducing op (sums[t * num_sums + j])
  bool per_tensor_dyn = false;  // dyn holds one row of scalars per tensor
  bool valid() const { return depth > 0; }
};

// Masks of the op that dispatch_op would run for (op, flags); depth -1 for an unknown op.
OpInfo op_info(OpKind op, uint32_t flags);

// Checks the parts of a call that do not depend on the memory: op, depth, scalar counts.
// Returns an error message, empty when fine.
const char* check_call_shape(const Call& c);

}  // namespace apk
