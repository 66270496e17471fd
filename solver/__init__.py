"""ecmx solver: case configuration, materials, physics, coupled problem, time stepping and CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ecmx")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
