"""connlab: reproduce connection exhaustion on real stacks and check the arithmetic against it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("connlab")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0.1.0+checkout"
