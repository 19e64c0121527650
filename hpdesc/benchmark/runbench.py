"""What a training run's benchmark step returns: its BenchmarkResults and its denoising tables.

:class:`RunBenchmark` is ``hpdesc.train(...).benchmark`` and what ``RUN/benchmark.json`` holds
(:meth:`RunBenchmark.to_dict` writes the file's format, :meth:`RunBenchmark.from_dict` reads it).
The results are the :class:`~hpdesc.benchmark.evaluate.BenchmarkResult` that ``hpdesc benchmark``
returns (labelled ``DENOISER+DESCRIPTOR``, ``raw``, ``nlmeans+hardnet``, ...), the tables the
:class:`~hpdesc.benchmark.denoising.DenoisingResult` of ``hpdesc benchmark denoise``; ``psnr`` is
the run denoiser's table's ``mean`` row (the one PSNR definition).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hpdesc.benchmark.denoising import DenoisingResult, psnr_of
from hpdesc.benchmark.evaluate import BenchmarkResult


@dataclass
class RunBenchmark:
    """A run's HPatches results (the run's first) and denoising tables (the run's denoiser first)."""

    split: str | None
    protocol: str
    tasks: list[str]
    results: list[BenchmarkResult] = field(default_factory=list)
    denoising: list[DenoisingResult] = field(default_factory=list)
    run: str | None = None  # the label of the run's own result (None: a denoiser-only run)
    timings: dict = field(default_factory=dict)

    @property
    def psnr(self) -> dict:
        """``{"noisy": dB, "denoised": dB}`` of the run's denoiser: its table's ``mean`` row."""
        return psnr_of(self.denoising[0].rows) if self.denoising else {}

    def result(self, label: str) -> BenchmarkResult:
        return next(r for r in self.results if r.descriptor == label)

    def to_dict(self) -> dict:
        """The ``benchmark.json`` format."""
        out = {"split": self.split, "protocol": self.protocol, "tasks": list(self.tasks),
               "results": {r.descriptor: r.to_dict() for r in self.results}, "psnr": self.psnr,
               "denoising": {t.denoiser: t.rows for t in self.denoising}}
        if self.run is not None:
            out["run"] = self.run
        out["timings"] = dict(self.timings)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "RunBenchmark":
        results = []
        for label, r in (d.get("results") or {}).items():
            res = BenchmarkResult.from_dict(r)
            res.descriptor = label
            results.append(res)
        dataset = results[0].dataset if results else ""
        tables = [DenoisingResult(name, dataset, d.get("split"), dict(rows))
                  for name, rows in (d.get("denoising") or {}).items()]
        return cls(d.get("split"), d.get("protocol", "python"), list(d.get("tasks") or []), results, tables,
                   d.get("run"), dict(d.get("timings") or {}))


__all__ = ["RunBenchmark"]
