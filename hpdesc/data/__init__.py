"""Patch data: the HDF5 store, the embedded dataset, HPatches import/export, input pipelines."""

from hpdesc.data.store import DatasetWriter, PatchDataset, open_dataset

__all__ = ["DatasetWriter", "PatchDataset", "open_dataset"]
