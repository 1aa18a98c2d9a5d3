"""The version, in a module of its own so that internal modules can read it without importing
the package's public API."""

__version__ = "0.2.0"
