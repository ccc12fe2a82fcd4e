// XLA FFI handlers (typed FFI, api_version 1): one generic multi-tensor handler per platform.
#pragma once

#include "xla/ffi/api/c_api.h"

extern "C" {
XLA_FFI_Error* apk_ffi_cpu(XLA_FFI_CallFrame* call_frame);
XLA_FFI_Error* apk_ffi_cuda(XLA_FFI_CallFrame* call_frame);
}
