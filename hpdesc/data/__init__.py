"""Patch data: the HDF5 store, the embedded dataset, HPatches import/export, input pipelines."""

from hpdesc.data.store import DatasetWriter, PatchDataset, open_dataset
from hpdesc.data.stream import BatchStream

__all__ = ["BatchStream", "DatasetWriter", "PatchDataset", "open_dataset"]
