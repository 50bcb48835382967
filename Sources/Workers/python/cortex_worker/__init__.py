"""Cortex for Swift: the Python worker runtime.

The Swift front parses HTTP and sends requests over a Unix socket (docs/PROTOCOL.md); this package
runs the user's Cortex predictor class on them. Run as `python -m cortex_worker --socket PATH --worker N`.
"""
__all__ = ["protocol"]
