"""The one version of the project's distributions (algoperf and algoperf-kernels).

The wheel rule writes it into each wheel's metadata, and kernels/BUILD generates
algoperf_kernels/_version.py from it (algoperf_kernels.__version__)."""

VERSION = "0.1.0"
