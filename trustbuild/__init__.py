"""trustbuild: build container images only on base images whose tags are signed.

Heavy modules are imported lazily so that ``trustbuild --version`` stays fast.
"""

__version__ = "0.1.0"
