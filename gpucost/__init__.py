"""gpucost: what GPUs on Kubernetes cost, which sit idle or stranded, and what to change."""

__version__ = "0.1.0"
