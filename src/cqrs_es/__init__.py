"""cqrs-es: the command-line entry point for every process of the project."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cqrs-es")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
