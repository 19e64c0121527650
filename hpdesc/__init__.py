"""hpdesc: learn patch descriptors that survive noise, and benchmark them on HPatches.

The Python API mirrors the CLI: ``hpdesc.train``, ``hpdesc.denoise``, ``hpdesc.describe``,
``hpdesc.evaluate`` (the benchmark; ``hpdesc.benchmark`` is the subpackage that implements it),
``hpdesc.evaluate_denoising`` (the denoising table).
All are imported lazily, so ``import hpdesc`` stays cheap.
"""

__version__ = "0.1.0"

_API = ("train", "describe", "denoise", "evaluate", "evaluate_denoising", "describe_run", "load_run", "latest_run")


def __getattr__(name):
    if name in _API:
        from hpdesc import api

        return getattr(api, {"evaluate": "benchmark", "evaluate_denoising": "benchmark_denoise"}.get(name, name))
    raise AttributeError(f"module 'hpdesc' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
