"""trustbuild's internals: not part of the public API, and changed without notice.

The public API is ``trustbuild`` itself (see ``trustbuild.__all__`` and docs/api.md).
"""
