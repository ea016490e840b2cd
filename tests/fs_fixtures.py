"""Builders of non-pycortex inputs from pycortex's S1, used by the issue-11 tests and the
benchmark: a FreeSurfer subject directory, label files and registrations.

Everything is derived from S1's files by each format's definition (nibabel and nitransforms
write them); nothing is copied from roixr's answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

HEMIS = ("lh", "rh")
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _gifti_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return (
        img.get_arrays_from_intent("pointset")[0].data,
        img.get_arrays_from_intent("triangle")[0].data,
    )


def freesurfer_subject(s1: Path, dest: Path) -> Path:
    """S1 as a FreeSurfer subject directory: an ``orig.mgz`` on raw.nii.gz's grid (its
    scanner affine differs from its tkr one), surfaces in its tkr-RAS, flat patches."""
    raw = nib.load(str(s1 / "anatomicals" / "raw.nii.gz"))
    for sub in ("surf", "mri", "label"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    orig = nib.MGHImage(np.zeros(raw.shape[:3], dtype=np.uint8), raw.affine)
    orig.to_filename(str(dest / "mri" / "orig.mgz"))
    orig = nib.load(str(dest / "mri" / "orig.mgz"))
    tkr = np.asarray(orig.header.get_vox2ras_tkr(), dtype=float)
    assert not np.allclose(orig.affine, tkr)
    scanner_to_tkr = tkr @ np.linalg.inv(orig.affine)
    for kind, fs_name in (("wm", "white"), ("pia", "pial")):
        for hemi in HEMIS:
            points, polys = _gifti_points(s1 / "surfaces" / f"{kind}_{hemi}.gii")
            p = np.c_[points.astype(float), np.ones(len(points))] @ scanner_to_tkr.T
            nib.freesurfer.write_geometry(
                str(dest / "surf" / f"{hemi}.{fs_name}"), p[:, :3].astype(np.float32), polys
            )
    for hemi in HEMIS:  # the flatmap as FreeSurfer's patch format: (-1, n, [±(v+1), x, y, z])
        points, polys = _gifti_points(s1 / "surfaces" / f"flat_{hemi}.gii")
        verts = np.unique(polys)
        rec = np.zeros(verts.size, dtype=[("i", ">i4"), ("xyz", ">f4", 3)])
        rec["i"], rec["xyz"] = verts + 1, points[verts]
        with open(dest / "surf" / f"{hemi}.full.flat.patch.3d", "wb") as f:
            np.array([-1, verts.size], dtype=">i4").tofile(f)
            rec.tofile(f)
    return dest


def hemisphere_verts(verts: dict[str, np.ndarray], n_lh: int) -> dict[str, dict[str, np.ndarray]]:
    """Merged-numbering ROI vertices → ``{name: {"lh": idx, "rh": idx}}``."""
    return {
        name: {"lh": idx[idx < n_lh], "rh": idx[idx >= n_lh] - n_lh}
        for name, idx in verts.items()
        if idx.size
    }


def write_labels(rois: dict[str, dict[str, np.ndarray]], white: dict, folder: Path) -> list[Path]:
    """FreeSurfer ``.label`` files (ASCII: header, count, ``vno x y z value``)."""
    files = []
    for name, sides in rois.items():
        for hemi, idx in sides.items():
            if not idx.size:
                continue
            path = folder / f"{hemi}.{name}.label"
            xyz = white[hemi][idx]
            lines = [f"#!ascii label {name}, from subject S1 vox2ras=TkReg", str(idx.size)]
            lines += [f"{v} {x:.3f} {y:.3f} {z:.3f} 0.0000000000" for v, (x, y, z) in
                      zip(idx, xyz, strict=True)]  # fmt: skip
            path.write_text("\n".join(lines) + "\n")
            files.append(path)
    return files


def disjoint(rois: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """A subset of ROIs no two of which share a vertex (greedy, in order)."""
    taken = {h: set() for h in HEMIS}
    out = {}
    for name, sides in rois.items():
        if any(taken[h] & set(sides[h].tolist()) for h in HEMIS):
            continue
        for h in HEMIS:
            taken[h] |= set(sides[h].tolist())
        out[name] = sides
    return out


# distinct colours: an annotation identifies labels by colour
COLORS = [((i * 37) % 256, (i * 91) % 256, 100 + i) for i in range(150)]


def label_values(rois, n: dict[str, int]) -> dict[str, np.ndarray]:
    """Per hemisphere, 0 for unlabelled vertices and i + 1 for the i-th ROI."""
    values = {h: np.zeros(n[h], dtype=np.int32) for h in HEMIS}
    for i, sides in enumerate(rois.values()):
        for h in HEMIS:
            values[h][sides[h]] = i + 1
    return values


def write_annot(rois, n: dict[str, int], folder: Path, name: str) -> tuple[Path, Path]:
    """``lh.<name>.annot`` / ``rh.<name>.annot`` with ``unknown`` at index 0."""
    values = label_values(rois, n)
    names = ["unknown", *rois]
    ctab = np.array([(25, 5, 25, 0, 0)] + [(*COLORS[i], 0, 0) for i in range(len(rois))])
    out = []
    for h in HEMIS:
        path = folder / f"{h}.{name}.annot"
        nib.freesurfer.write_annot(str(path), values[h], ctab, names, fill_ctab=True)
        out.append(path)
    return out[0], out[1]


def _label_table(rois) -> nib.gifti.GiftiLabelTable:
    table = nib.gifti.GiftiLabelTable()
    for key, (name, rgb) in enumerate([("???", (0, 0, 0))] + [
        (n, COLORS[i]) for i, n in enumerate(rois)
    ]):  # fmt: skip
        label = nib.gifti.GiftiLabel(key, *(c / 255 for c in rgb), 1.0)
        label.label = name
        table.labels.append(label)
    return table


def write_gifti_labels(rois, n: dict[str, int], folder: Path) -> tuple[Path, Path]:
    """``sub-S1_hemi-{L,R}_desc-rois.label.gii`` with ``???`` at key 0."""
    values = label_values(rois, n)
    out = []
    for h, side in zip(HEMIS, "LR", strict=True):
        img = nib.gifti.GiftiImage(labeltable=_label_table(rois))
        img.add_gifti_data_array(
            nib.gifti.GiftiDataArray(values[h], intent="NIFTI_INTENT_LABEL", datatype="int32")
        )
        path = folder / f"sub-S1_hemi-{side}_desc-rois.label.gii"
        nib.save(img, str(path))
        out.append(path)
    return out[0], out[1]


def write_cifti_labels(rois, n: dict[str, int], medial: dict[str, np.ndarray], path: Path):
    """A ``.dlabel.nii`` of both hemispheres without the ``medial`` vertices."""
    values = label_values(rois, n)
    keep = {h: np.flatnonzero(~medial[h]) for h in HEMIS}
    models = nib.cifti2.BrainModelAxis.from_surface(
        keep["lh"], n["lh"], "CortexLeft"
    ) + nib.cifti2.BrainModelAxis.from_surface(keep["rh"], n["rh"], "CortexRight")
    table = {0: ("???", (0.0, 0.0, 0.0, 0.0))}
    table |= {i + 1: (name, (*(c / 255 for c in COLORS[i]), 1.0))
              for i, name in enumerate(rois)}  # fmt: skip
    labels = nib.cifti2.LabelAxis(["rois"], [table])
    data = np.concatenate([values["lh"][keep["lh"]], values["rh"][keep["rh"]]])[None, :]
    header = nib.cifti2.Cifti2Header.from_axes((labels, models))
    nib.Cifti2Image(data.astype(np.int32), header).to_filename(str(path))
    return path


# --- registrations ------------------------------------------------------------------------


def anat_to_func(s1: Path, xfm: str = "fullhead") -> np.ndarray:
    """S1's transform as anatomical scanner RAS → functional scanner RAS (S1's surfaces
    are in scanner RAS, so this is ``reference affine @ coord``)."""
    coord = np.array(json.loads((s1 / "transforms" / xfm / "matrices.xfm").read_text())["coord"])
    ref = nib.load(str(s1 / "transforms" / xfm / "reference.nii.gz"))
    return ref.affine @ coord


def write_lta(a2f: np.ndarray, func: Path, anat: Path, path: Path, inverted=False) -> Path:
    """A VOX2VOX LTA as bbregister writes it: src = functional, dst = anatomical; the
    matrix maps src voxels to dst voxels (``inverted`` swaps them, as lta_convert
    --invert)."""
    from nitransforms.io.lta import FSLinearTransform, VolumeGeometry

    func_img, anat_img = nib.load(str(func)), nib.load(str(anat))
    src, dst = (anat_img, func_img) if inverted else (func_img, anat_img)
    ras = a2f if inverted else np.linalg.inv(a2f)  # src RAS → dst RAS
    lt = FSLinearTransform()
    sa = lt.structarr
    sa["type"], sa["sigma"] = 0, 10000.0
    sa["m_L"] = np.linalg.inv(dst.affine) @ ras @ src.affine
    sa["src"] = np.asanyarray(VolumeGeometry.from_image(src))
    sa["dst"] = np.asanyarray(VolumeGeometry.from_image(dst))
    text = "type      = 0 # LINEAR_VOX_TO_VOX\nnxforms   = 1\n" + lt.to_string(partial=True)
    path.write_text(text + "\nsubject S1\nfscale 0.100000\n")
    return path


def write_fsl(a2f: np.ndarray, func: Path, anat: Path, path: Path) -> Path:
    """FLIRT's ``-in func -ref anat -omat`` matrix, by nitransforms' conversion, written at
    full precision (FLIRT's own files carry fewer digits)."""
    from nitransforms.io.fsl import FSLLinearTransform

    tf = FSLLinearTransform.from_ras(
        a2f, moving=nib.load(str(func)), reference=nib.load(str(anat))
    )
    params = tf.structarr["parameters"]
    path.write_text("\n".join(" ".join(f"{v:.17g}" for v in row) for row in params) + "\n")
    return path


def write_itk(a2f: np.ndarray, path: Path, center=(10.0, -20.0, 5.0), inverse=False) -> Path:
    """An ANTs affine text file: LPS points mapping T1w → boldref (fMRIPrep's
    ``from-boldref_to-T1w``), with a centre of rotation; ``inverse`` writes the other way."""
    m = LPS @ (np.linalg.inv(a2f) if inverse else a2f) @ LPS
    c = np.asarray(center, dtype=float)
    a, b = m[:3, :3], m[:3, 3]
    params = [*a.ravel(), *(b + a @ c - c)]  # ITK: x → A(x - c) + c + t, equal to Ax + b
    text = (
        "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n"
        f"Parameters: {' '.join(f'{v:.17g}' for v in params)}\n"
        f"FixedParameters: {' '.join(f'{v:.17g}' for v in c)}\n"
    )
    path.write_text(text)
    return path


def write_itk_h5(a2f: np.ndarray, path: Path, center=(-4.0, 12.0, 30.0)) -> Path:
    """The same affine as :func:`write_itk`, as an ITK composite ``.h5`` (ANTs'
    ``--write-composite-transform``): group 0 the composite, group 1 the affine."""
    import h5py

    m = LPS @ a2f @ LPS
    c = np.asarray(center, dtype=float)
    a, b = m[:3, :3], m[:3, 3]
    with h5py.File(path, "w") as f:
        group = f.create_group("TransformGroup")
        group.create_group("0")["TransformType"] = np.array([b"CompositeTransform_double_3"])
        affine = group.create_group("1")
        affine["TransformType"] = np.array([b"AffineTransform_double_3_3"])
        affine["TransformParameters"] = np.array([*a.ravel(), *(b + a @ c - c)])
        affine["TransformFixedParameters"] = c
    return path


def write_register_dat(a2f: np.ndarray, func: Path, anat: Path, path: Path) -> Path:
    """A tkregister ``register.dat``: the matrix maps the anatomical (target) volume's
    tkr-RAS to the functional (movable) volume's tkr-RAS (FreeSurfer's RegisterDat page);
    each volume's tkr vox2ras is nibabel's ``MGHHeader.get_vox2ras_tkr``."""

    def scanner_from_tkr(img) -> np.ndarray:
        mgh = nib.MGHImage(np.zeros(img.shape[:3], np.float32), img.affine)
        return img.affine @ np.linalg.inv(mgh.header.get_vox2ras_tkr())

    func_img, anat_img = nib.load(str(func)), nib.load(str(anat))
    r = np.linalg.inv(scanner_from_tkr(func_img)) @ a2f @ scanner_from_tkr(anat_img)
    zooms = func_img.header.get_zooms()
    rows = "\n".join(" ".join(f"{v:.17g}" for v in row) for row in r)
    path.write_text(f"S1\n{zooms[0]:.6f}\n{zooms[2]:.6f}\n0.150000\n{rows}\nround\n")
    return path
