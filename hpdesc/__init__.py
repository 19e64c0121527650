"""hpdesc: learn patch descriptors that survive noise, and benchmark them on HPatches.

The Python API mirrors the CLI: ``hpdesc.train``, ``hpdesc.denoise``, ``hpdesc.describe``,
``hpdesc.evaluate`` (the benchmark; ``hpdesc.benchmark`` is the subpackage that implements it),
``hpdesc.features`` and ``hpdesc.match`` (keypoint features of images, matching two images),
``hpdesc.benchmark_images`` (image matching on HPatches sequences), ``hpdesc.evaluate_denoising``
(the denoising table);
``hpdesc.export_run`` (``hpdesc export``; ``hpdesc.export`` is the module that implements it);
``hpdesc.load_model`` / ``hpdesc.load_run`` load saved models and runs; ``hpdesc.load_weights`` fills a
model from a PyTorch HardNet checkpoint, a ``.keras`` file or a run.
All are imported lazily, so ``import hpdesc`` stays cheap.
"""

__version__ = "0.2.0"

_API = ("train", "describe", "denoise", "evaluate", "evaluate_denoising", "features", "match", "benchmark_images",
        "describe_run", "load_model", "load_weights", "load_run", "latest_run", "export_run")


def __getattr__(name):
    if name in _API:
        from hpdesc import api

        return getattr(api, name)
    raise AttributeError(f"module 'hpdesc' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
