"""py_wheel: a PEP 427 wheel of whole Python packages (and their built extensions).

    py_wheel(
        name = "wheel",
        distribution = "algoperf",
        version = "0.1.0",
        packages = {
            # target -> the package directory in this repository (its import name is the last part)
            "//kernels:algoperf_kernels": "kernels/algoperf_kernels",
            "//algoperf": "algoperf",
        },
    )

Every file that a target brings along (sources, data such as a built extension .so) and that lies
under the package directory goes into the wheel under the package's import name; files of other
packages that the target depends on do not. A package without an __init__.py among those files
is left out. The tag is the build venv's CPython tag and linux_x86_64.
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
    tag = "%s-%s-linux_x86_64" % (PYTHON_TAG, PYTHON_TAG)
    filename = "%s-%s-%s.whl" % (ctx.attr.distribution.replace("-", "_"), ctx.attr.version, tag)
    out = ctx.actions.declare_file(ctx.attr.subdir + "/" + filename if ctx.attr.subdir else filename)
    entries = {}
    for target, pkg_dir in ctx.attr.packages.items():
        entries.update(_package_files(target, pkg_dir))
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest")
    ctx.actions.write(manifest, "".join(["%s\t%s\n" % (entries[dest].path, dest) for dest in sorted(entries)]))
    args = ctx.actions.args()
    args.add("--out", out)
    args.add("--name", ctx.attr.distribution)
    args.add("--version", ctx.attr.version)
    args.add("--tag", tag)
    args.add("--manifest", manifest)
    args.add("--requires-python", "==%s.*" % ".".join(PYTHON_VERSION.split(".")[:2]))
    if ctx.attr.summary:
        args.add("--summary", ctx.attr.summary)
    ctx.actions.run(
        outputs = [out],
        inputs = [manifest] + entries.values(),
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
        "subdir": attr.string(doc = "Write the wheel into this subdirectory of the package's output."),
        "packages": attr.label_keyed_string_dict(
            doc = "Target -> package directory (relative to the workspace root).",
        ),
        "_builder": attr.label(
            default = "//tools/wheel:build_wheel",
            executable = True,
            cfg = "exec",
        ),
    },
)
