"""sentiops: tweet sentiment from fine-tuning to production."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sentiops")  # the one version string: pyproject.toml's
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
