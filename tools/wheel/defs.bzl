"""py_wheel: a PEP 427 wheel of whole Python packages (and their built extensions).

    py_wheel(
        name = "kernels_wheel",
        distribution = "algoperf-kernels",
        version = VERSION,                      # from //:version.bzl, the one version source
        packages = {"//kernels:algoperf_kernels": "kernels/algoperf_kernels"},
        extras = {"torch": ["torch"], "jax": ["jax", "jaxlib", "optax", "numpy"]},
        license = "Apache-2.0",
        license_files = ["//:LICENSE"],          # <dist-info>/licenses/LICENSE
        binary = True,
    )

Every file that a target brings along (sources, data such as a built extension .so) and that lies
under the package directory goes into the wheel under the package's import name; files of other
packages that the target depends on do not. A package without an __init__.py among those files
is left out.

Requires-Dist: `requires` and `extras` name distributions of requirements_lock.txt; each gets the
range from its pin up to the next major version (next minor for 0.x), so the lock is the one
source of the ranges. `pins` are exact requirements written as given (a sibling wheel).

Tags: a pure wheel (binary = False) is py3-none-any. A binary wheel is built for this venv's
CPython and then repaired by auditwheel: shared libraries outside the manylinux policy (none
today) are bundled under <package>.libs/ and the platform tag is the manylinux tag
auditwheel finds for the binary, so the output is a directory holding the one wheel whose file
name carries that tag.
"""

load("@py_venv//:defs.bzl", "PYTHON_TAG", "PYTHON_VERSION")

def _package_files(target, pkg_dir):
    prefix = pkg_dir + "/"
    name = pkg_dir.split("/")[-1]
    info = target[DefaultInfo]
    candidates = depset(transitive = [info.files, info.default_runfiles.files]).to_list()
    out = {}
    for f in candidates:
        path = f.short_path
        if not path.startswith(prefix) or "/__pycache__/" in path or path.endswith(".pyc"):
            continue
        out[name + "/" + path[len(prefix):]] = f
    return out if (name + "/__init__.py") in out else {}

def _py_wheel_impl(ctx):
    out = ctx.actions.declare_directory(ctx.attr.subdir or ctx.label.name)
    entries = {}
    for target, pkg_dir in ctx.attr.packages.items():
        entries.update(_package_files(target, pkg_dir))
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest")
    ctx.actions.write(manifest, "".join(["%s\t%s\n" % (entries[dest].path, dest) for dest in sorted(entries)]))
    lock = ctx.file.lock
    args = ctx.actions.args()
    args.add("--out-dir", out.path)
    args.add("--name", ctx.attr.distribution)
    args.add("--version", ctx.attr.version)
    args.add("--manifest", manifest)
    args.add("--requires-python", "==%s.*" % ".".join(PYTHON_VERSION.split(".")[:2]))
    args.add("--lock", lock)
    args.add_all(ctx.attr.requires, before_each = "--requires")
    for extra in sorted(ctx.attr.extras):
        args.add("--extra", "%s=%s" % (extra, ",".join(ctx.attr.extras[extra])))
    args.add_all(ctx.attr.pins, before_each = "--pin")
    if ctx.attr.summary:
        args.add("--summary", ctx.attr.summary)
    if ctx.attr.license:
        args.add("--license", ctx.attr.license)
    args.add_all(ctx.files.license_files, before_each = "--license-file")
    if ctx.attr.binary:
        args.add("--tag", "%s-%s-linux_x86_64" % (PYTHON_TAG, PYTHON_TAG))
        args.add("--repair")
    else:
        args.add("--tag", "py3-none-any")
    ctx.actions.run(
        outputs = [out],
        inputs = [manifest, lock] + entries.values() + ctx.files.license_files,
        executable = ctx.executable._builder,
        arguments = [args],
        mnemonic = "PyWheel",
        progress_message = "Writing wheel %s" % out.short_path,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

py_wheel = rule(
    implementation = _py_wheel_impl,
    attrs = {
        "distribution": attr.string(mandatory = True),
        "version": attr.string(mandatory = True),
        "summary": attr.string(),
        "license": attr.string(doc = "SPDX expression for the License-Expression metadata field."),
        "license_files": attr.label_list(
            allow_files = True,
            doc = "Files copied to <dist-info>/licenses/ (by base name) and named in License-File.",
        ),
        "binary": attr.bool(doc = "Holds a compiled extension: CPython tag, auditwheel repair."),
        "requires": attr.string_list(doc = "Distributions of the lock file, required always."),
        "extras": attr.string_list_dict(doc = "Extra name -> distributions of the lock file."),
        "pins": attr.string_list(doc = "Exact requirements written as given, e.g. 'algoperf-kernels==0.1.0'."),
        "subdir": attr.string(doc = "The output directory's name (default: the target's name)."),
        "packages": attr.label_keyed_string_dict(
            doc = "Target -> package directory (relative to the workspace root).",
        ),
        "lock": attr.label(default = "//:requirements_lock.txt", allow_single_file = True),
        "_builder": attr.label(
            default = "//tools/wheel:build_wheel",
            executable = True,
            cfg = "exec",
        ),
    },
)

def py_wheel_pair(name, **kwargs):
    """py_wheel `name` plus `name`_repro_check: the same wheel from a second action (testonly), so
    a test can check that the two are byte-identical."""
    py_wheel(name = name, **kwargs)
    py_wheel(name = name + "_repro_check", testonly = True, **kwargs)
