"""Inference: run trained or named models over patch data (describe, denoise), outside training.

``predict`` turns a model into a numpy -> numpy function (jitted on JAX); ``pipeline`` is the patch
pipeline noisy -> denoiser -> uint8 -> descriptor; ``describe`` writes descriptor files of a
dataset (streamed from HDF5); ``denoise`` writes denoised-patch files and measures PSNR. Training's
benchmark step and the API's ``describe`` / ``denoise`` both use it; it never imports training.
"""
