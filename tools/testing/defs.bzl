"""pytest_test: a py_test whose sources are run by pytest (parametrised tests, fixtures, plain asserts)."""

def pytest_test(name, srcs, deps = [], data = [], args = [], **kwargs):
    native.py_test(
        name = name,
        srcs = srcs + ["//tools/testing:pytest_main.py"],
        main = "//tools/testing:pytest_main.py",
        args = ["$(location %s)" % src for src in srcs] + args,
        deps = deps,
        data = data,
        python_version = "PY3",
        **kwargs
    )
