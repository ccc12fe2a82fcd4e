"""Builds the project's Python virtual environment from requirements_lock.txt and registers it.

The environment lives in Bazel's output base (@py_venv). Bazel re-runs this rule, and so rebuilds the
environment, whenever the lock file changes. Besides the interpreter toolchain, the repository exposes the
C headers that the kernels compile against: Python's, pybind11's and jaxlib's XLA FFI headers.
"""

_QUERY = """
import sys, sysconfig
import pybind11
import jax.ffi
print(sysconfig.get_path("include"))
print(pybind11.get_include())
print(jax.ffi.include_dir())
print(sysconfig.get_config_var("EXT_SUFFIX"))
print("cp%d%d" % sys.version_info[:2])
print(sys.version.split()[0])
"""

_BUILD = """
load("@bazel_tools//tools/python:toolchain.bzl", "py_runtime_pair")

package(default_visibility = ["//visibility:public"])

py_runtime(
    name = "runtime",
    interpreter_path = "{python}",
    python_version = "PY3",
    # The launcher stub runs on the same interpreter, so no `python` needs to be on PATH.
    stub_shebang = "#!{python}",
)

py_runtime_pair(name = "runtime_pair", py3_runtime = ":runtime")

toolchain(
    name = "toolchain",
    toolchain = ":runtime_pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
)

cc_library(
    name = "python_headers",
    hdrs = glob(["include/python/**/*.h"]),
    includes = ["include/python"],
)

cc_library(
    name = "pybind11",
    hdrs = glob(["include/pybind11/**/*.h"]),
    includes = ["include/pybind11"],
    deps = [":python_headers"],
)

cc_library(
    name = "xla_ffi_headers",
    hdrs = glob(["include/xla_ffi/xla/ffi/api/*.h"]),
    includes = ["include/xla_ffi"],
)

exports_files(["venv/bin/python"])
"""

def _run(rctx, args, what, timeout = 600):
    result = rctx.execute(args, timeout = timeout, quiet = False)
    if result.return_code != 0:
        fail("py_venv: {} failed (exit {}):\n{}\n{}".format(what, result.return_code, result.stdout, result.stderr))
    return result.stdout

def _data_only_packages(lock_text):
    """Names pinned with a `# data-only` comment: used for their data files, their own deps not wanted."""
    names = []
    for line in lock_text.split("\n"):
        if "# data-only" in line and "==" in line:
            names.append(line.split("==")[0].strip().lower().replace("_", "-"))
    return names

def _pip_check(rctx, python, lock_text):
    """pip check, except for the missing dependencies of data-only packages."""
    result = rctx.execute([python, "-m", "pip", "check"])
    if result.return_code == 0:
        return
    ignored = _data_only_packages(lock_text)
    problems = []
    for line in result.stdout.strip().split("\n"):
        name = line.split(" ")[0].lower().replace("_", "-")
        if line and name not in ignored:
            problems.append(line)
    if problems:
        fail("py_venv: pip check failed; add the missing pins to requirements_lock.txt:\n" + "\n".join(problems))

def _python_venv_impl(rctx):
    base_python = rctx.os.environ.get("PYTHON_BIN_PATH") or rctx.which("python3")
    if not base_python:
        fail("py_venv: no python3 on PATH; install Python 3.11 (apt-get install python3 python3-venv) or set PYTHON_BIN_PATH.")

    # Reading the lock file makes it an input of this rule: editing it rebuilds the environment.
    lock_text = rctx.read(rctx.attr.requirements)
    rctx.file("requirements_lock.txt", lock_text)

    rctx.report_progress("creating the virtual environment")
    _run(rctx, [base_python, "-m", "venv", "--clear", "venv"], "python3 -m venv")
    python = str(rctx.path("venv/bin/python"))
    rctx.report_progress("pip install -r requirements_lock.txt (first build: a few minutes)")

    # The lock pins the whole closure, so --no-deps keeps pip from resolving anything beyond it.
    _run(rctx, [python, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
                "-qq", "-r", "requirements_lock.txt"], "pip install -r requirements_lock.txt", timeout = 3600)
    _pip_check(rctx, python, lock_text)

    include, pybind11_include, ffi_include, ext_suffix, python_tag, version = \
        _run(rctx, [python, "-c", _QUERY], "querying the environment").strip().split("\n")
    rctx.symlink(include, "include/python")
    rctx.symlink(pybind11_include, "include/pybind11")
    rctx.symlink(ffi_include, "include/xla_ffi")

    rctx.file("BUILD", _BUILD.format(python = python))
    rctx.file("defs.bzl", "\n".join([
        '"""Facts about the project virtual environment, for BUILD files."""',
        "PYTHON = %r" % python,
        "EXT_SUFFIX = %r" % ext_suffix,
        "PYTHON_TAG = %r" % python_tag,
        "PYTHON_VERSION = %r" % version,
        "",
    ]))

python_venv = repository_rule(
    implementation = _python_venv_impl,
    attrs = {"requirements": attr.label(allow_single_file = True, mandatory = True)},
    environ = ["PYTHON_BIN_PATH"],
)
