"""cuda_library: compiles .cu files with nvcc for sm_80 and sm_90 (+ compute_90 PTX) into a cc_library.

When @local_cuda found no toolkit, the target is an empty cc_library and the code that uses it is built
without ALGOPERF_WITH_CUDA.
"""

load("@local_cuda//:defs.bzl", "HAS_CUDA", "NVCC")

CUDA_ARCH_FLAGS = [
    "-gencode arch=compute_80,code=sm_80",
    "-gencode arch=compute_90,code=sm_90",
    "-gencode arch=compute_90,code=compute_90",
]

def cuda_library(name, srcs, hdrs = [], copts = [], **kwargs):
    if not HAS_CUDA:
        # Keep the headers: code that includes them must still compile in a CPU-only build.
        native.cc_library(name = name, hdrs = hdrs, **kwargs)
        return
    objects = []
    for src in srcs:
        obj = "_cuda_objs/%s/%s.o" % (name, src.replace(".cu", ""))
        native.genrule(
            name = "%s_%s_o" % (name, src.replace("/", "_").replace(".", "_")),
            srcs = [src] + hdrs,
            outs = [obj],
            cmd = " ".join([
                NVCC,
                "-O3 -std=c++17 -Xcompiler -fPIC -Xcompiler -fvisibility=hidden",
                "-I. -I$(GENDIR)",
                " ".join(CUDA_ARCH_FLAGS),
                " ".join(copts),
                "-c $(location %s) -o $@" % src,
            ]),
        )
        objects.append(obj)
    native.cc_library(
        name = name,
        srcs = objects,
        hdrs = hdrs,
        defines = ["ALGOPERF_WITH_CUDA=1"],
        deps = ["@local_cuda//:cudart_static"],
        linkstatic = 1,
        **kwargs
    )
