"""setuptools entry point; metadata lives in pyproject.toml.

The cffi out-of-line module xcmod._xen is built here from
xcmod/_ffi_build.py against the real Xen headers (Debian libxen-dev).
"""
from setuptools import setup

setup(cffi_modules=["xcmod/_ffi_build.py:ffi"])
