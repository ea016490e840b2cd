"""Issue 11's speed check: masks from a FreeSurfer subject + annotation on S1's grid against
the same masks from S1's pycortex layout (overlays SVG), files read inside the timing.

The FreeSurfer directory is built from S1 once per process by the test suite's builders
(``tests/fs_fixtures.py``). Target: the FreeSurfer timing within 1.3x of the pycortex one.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import dask

import roixr
from roixr.datasets import pycortex_sample_subject

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

SAMPLERS = ["cortical", "cortical-conservative"]
_BUILT: dict[str, object] = {}


def _build() -> dict:
    if not _BUILT:
        import fs_fixtures as fx

        warnings.simplefilter("ignore")
        s1 = pycortex_sample_subject()
        root = Path(tempfile.mkdtemp(prefix="roixr-bench-fs-"))
        subj_dir = fx.freesurfer_subject(s1, root / "S1")
        pyc = roixr.Subject(s1)
        n = {"lh": pyc.n_vertices("lh"), "rh": pyc.n_vertices("rh")}
        rois = fx.disjoint(fx.hemisphere_verts(roixr.roi_verts(pyc), n["lh"]))
        fx.write_annot(rois, n, subj_dir / "label", "s1rois")
        ref = s1 / "transforms" / "fullhead" / "reference.nii.gz"
        lta = fx.write_lta(fx.anat_to_func(s1), ref, subj_dir / "mri" / "orig.mgz",
                           root / "register.lta")  # fmt: skip
        _BUILT.update(s1=s1, fs=subj_dir, names=list(rois), xfm=(ref, lta))
    return _BUILT


class FreeSurferVsPycortex:
    params = [SAMPLERS]
    param_names = ["sampler"]
    timeout = 300

    def setup(self, sampler):
        warnings.simplefilter("ignore")
        self.b = _build()

    def time_freesurfer_annot(self, sampler):
        """FreeSurfer subject, ``source="s1rois"`` (an .annot pair), an LTA registration."""
        subj = roixr.Subject.from_freesurfer(self.b["fs"])
        with dask.config.set(scheduler="threads"):
            roixr.roi_masks(subj, self.b["xfm"], self.b["names"], sampler,
                            source="s1rois").compute()  # fmt: skip

    def time_pycortex_svg(self, sampler):
        """S1's pycortex layout, its overlays.svg, ``fullhead``: the same masks."""
        subj = roixr.Subject(self.b["s1"])
        with dask.config.set(scheduler="threads"):
            roixr.roi_masks(subj, "fullhead", self.b["names"], sampler).compute()
