"""hpdesc-bm3d: an hpdesc plugin with the BM3D denoiser, a classical baseline that is not a Keras graph.

Reached through the entry point ``hpdesc.denoisers: bm3d``; importing :mod:`hpdesc_bm3d.denoiser`
registers the model class a saved run needs to reload.
"""

__version__ = "1.0.0"
