"""hpdesc: learn patch descriptors that survive noise, and benchmark them on HPatches."""

__version__ = "0.1.0"
