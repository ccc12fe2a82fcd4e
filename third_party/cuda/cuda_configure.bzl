"""Finds the CUDA toolkit (CUDA_PATH, else nvcc on PATH, else /usr/local/cuda) for @local_cuda.

Where nvcc is missing, @local_cuda//:defs.bzl says HAS_CUDA = False and the kernels build for the CPU alone.
"""

def _cuda_configure_impl(rctx):
    candidates = []
    if rctx.os.environ.get("CUDA_PATH"):
        candidates.append(rctx.os.environ["CUDA_PATH"])
    nvcc_on_path = rctx.which("nvcc")
    if nvcc_on_path:
        candidates.append(str(nvcc_on_path.dirname.dirname))
    candidates.append("/usr/local/cuda")

    root = None
    for candidate in candidates:
        if rctx.path(candidate + "/bin/nvcc").exists and rctx.path(candidate + "/lib64/libcudart_static.a").exists:
            root = candidate
            break

    if root == None:
        print("local_cuda: no CUDA toolkit found (looked in CUDA_PATH, PATH and /usr/local/cuda); " +
              "building the CPU kernels only.")
        rctx.file("BUILD", 'package(default_visibility = ["//visibility:public"])\n' +
                           'cc_library(name = "cudart_static")\n')
        rctx.file("defs.bzl", "HAS_CUDA = False\nNVCC = None\nCUDA_VERSION = None\n")
        return

    rctx.symlink(root + "/include", "include")
    rctx.symlink(root + "/lib64", "lib64")
    version = rctx.execute([root + "/bin/nvcc", "--version"]).stdout.strip().split("\n")[-1]
    rctx.file("BUILD", """
package(default_visibility = ["//visibility:public"])

# The static runtime lets the extension import on machines without the CUDA toolkit or a GPU.
cc_library(
    name = "cudart_static",
    srcs = ["lib64/libcudart_static.a"],
    hdrs = glob(["include/*.h", "include/crt/*.h", "include/crt/*.hpp"]),
    includes = ["include"],
    linkopts = ["-ldl", "-lpthread", "-lrt"],
)
""")
    rctx.file("defs.bzl", "HAS_CUDA = True\nNVCC = %r\nCUDA_VERSION = %r\n" % (root + "/bin/nvcc", version))

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["CUDA_PATH", "PATH"],
    local = True,
)
