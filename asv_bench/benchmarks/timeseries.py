"""ROI time series on the synthetic subject (``fullhead``, 52 × 22 × 10, 600 volumes):
building (lazy), computing per statistic and file kind, and nilearn's labels masker."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import dask
import nibabel as nib
import numpy as np

import roixr
from roixr.timeseries import open_nifti, roi_timeseries

N_VOLUMES = 600


def _inputs(folder: Path, ext: str) -> tuple[Path, object]:
    """The synthetic subject's bool masks (computed) and a random series written as NIfTI."""
    subject = roixr.datasets.synthetic_subject(folder / "synth")
    transform = roixr.Subject(subject).transform("fullhead")
    masks = roixr.roi_masks(subject, "fullhead").compute()
    rng = np.random.default_rng(0)
    data = rng.standard_normal((*transform.shape, N_VOLUMES), dtype=np.float32)
    path = folder / f"bold{ext}"
    nib.save(nib.Nifti1Image(data, transform.affine), path)
    return path, masks


class RoiTimeseries:
    """``stat`` joined by "+" is a list of stats, computed in one pass."""

    params = [
        ["mean", "median", "standard_deviation", "mean+minimum+maximum"],
        [".nii", ".nii.gz"],
    ]
    param_names = ["stat", "ext"]
    timeout = 300

    def setup(self, stat, ext):
        warnings.simplefilter("ignore")
        self.folder = Path(tempfile.mkdtemp())
        self.path, self.masks = _inputs(self.folder, ext)

    def teardown(self, stat, ext):
        shutil.rmtree(self.folder, ignore_errors=True)

    def _stat(self, stat):
        return stat.split("+") if "+" in stat else stat

    def time_build(self, stat, ext):
        """Building the lazy DataArray (nothing read)."""
        roi_timeseries(open_nifti(self.path), self.masks, self._stat(stat))

    def time_compute(self, stat, ext):
        """Ten time chunks (a gzipped file is still decompressed once)."""
        with dask.config.set(scheduler="threads"):
            bold = open_nifti(self.path, chunks=N_VOLUMES // 10)
            roi_timeseries(bold, self.masks, self._stat(stat)).compute()

    def peakmem_compute(self, stat, ext):
        with dask.config.set(scheduler="threads"):
            bold = open_nifti(self.path, chunks=N_VOLUMES // 10)
            roi_timeseries(bold, self.masks, self._stat(stat)).compute()


class NilearnLabelsMasker:
    """The reference: nilearn's ``NiftiLabelsMasker(strategy="mean")`` on the same labels."""

    params = [[".nii", ".nii.gz"]]
    param_names = ["ext"]
    timeout = 300

    def setup(self, ext):
        warnings.simplefilter("ignore")
        from nilearn.maskers import NiftiLabelsMasker

        self.folder = Path(tempfile.mkdtemp())
        self.path, masks = _inputs(self.folder, ext)
        signed = roixr.to_index_volume(masks)[0].values.astype(np.int32)
        labels = (2 * np.abs(signed) - (signed < 0)).astype(np.int32)
        self.labels = self.folder / "labels.nii.gz"
        nib.save(nib.Nifti1Image(labels, np.asarray(masks.attrs["affine"])), self.labels)
        self.masker = NiftiLabelsMasker

    def teardown(self, ext):
        shutil.rmtree(self.folder, ignore_errors=True)

    def time_fit_transform(self, ext):
        self.masker(labels_img=self.labels, strategy="mean").fit_transform(self.path)

    def peakmem_fit_transform(self, ext):
        self.masker(labels_img=self.labels, strategy="mean").fit_transform(self.path)
