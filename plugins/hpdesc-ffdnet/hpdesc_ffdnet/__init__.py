"""hpdesc-ffdnet: an hpdesc plugin with the FFDNet denoiser and SSIM / MS-SSIM losses.

Everything is reached through entry points (``hpdesc.denoisers: ffdnet``,
``hpdesc.denoiser_losses: ssim, ms_ssim``); importing :mod:`hpdesc_ffdnet.ffdnet` registers the
custom layers a saved FFDNet needs to reload.
"""

__version__ = "1.1.0"
