"""Zarr stores: single stores of masks or index volumes, and the format every store follows.

- :mod:`~roixr.store.format`: every ``roixr_*`` key, the kinds of store, the one kind check;
- :mod:`~roixr.store.single`: :func:`to_zarr`, :func:`open_roi_masks`, :func:`store_info`;
- :mod:`~roixr.store.location`: where a store is, a local folder or an fsspec URL
  (``s3://``, ``gs://``, ``memory://``) with its storage options, and what is asked of it.

Cohort stores are built on the same format by :mod:`roixr.cohort`.
"""

from roixr.store.format import is_complete
from roixr.store.single import open_roi_masks, provenance, store_info, to_zarr

__all__ = ["is_complete", "open_roi_masks", "provenance", "store_info", "to_zarr"]
