"""The commands behind the Python API: each checks its options once and does the work.

:mod:`hpdesc.api` maps its arguments onto these (and onto :mod:`hpdesc.training.start` and
:func:`hpdesc.benchmark.evaluate.evaluate`); they sit beside it (layer 5) because they combine
the rooms below: loading runs (training), the patch pipeline (inference), the image path
(matching). :mod:`~hpdesc.commands.patches`: describe, denoise, the denoising tables;
:mod:`~hpdesc.commands.images`: benchmark images, features, match.
"""
