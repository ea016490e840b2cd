"""Issue 22: the surface and label readers check what they read against what the file says
about itself (header counts, label tables, the hemisphere it names) and against the subject
(vertex counts): every bad input below is a roixr error naming the file and the fix, a
warning, or the right result; none is silent, none a foreign exception.

Every file is written into a temporary folder from the synthetic subject (copied) or
nilearn's fsaverage5; nothing is written into a subject's folder.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from fs_fixtures import (
    COLORS,
    hemisphere_verts,
    write_annot,
    write_cifti_labels,
    write_gifti_labels,
    write_labels,
)

import roixr
from roixr.errors import (
    EmptyRoiWarning,
    OptionError,
    RoiSourceError,
    SubjectFileNotFoundError,
    SurfaceError,
    SurfaceMismatchError,
    VertexCountError,
)
from roixr.io.freesurfer import read_any_surface, read_freesurfer_surface, read_patch
from roixr.io.surfaces import hemisphere_of, read_surface
from roixr.rois.sources.labels import (
    AnnotSource,
    CiftiLabelSource,
    GiftiLabelSource,
    LabelFilesSource,
    read_annot,
)

HEMIS = ("lh", "rh")

# --- builders, shared with test_fuzz_readers.py ---------------------------------------------


def fsaverage5_files() -> dict[str, Path]:
    """nilearn's fsaverage5 ``.gii.gz`` surfaces (read only: copy before changing)."""
    from nilearn import datasets

    fs = datasets.fetch_surf_fsaverage("fsaverage5")
    return {k: Path(v) for k, v in fs.items() if k != "description"}


def gifti_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return (np.asarray(img.get_arrays_from_intent("pointset")[0].data),
            np.asarray(img.get_arrays_from_intent("triangle")[0].data))  # fmt: skip


def synthetic_world(synth_dir: Path, root: Path) -> dict:
    """The synthetic subject's surfaces and ROIs as files of every format this module reads:
    FreeSurfer surfaces (``lh.white``...), ``.label`` files, an ``.annot`` pair, a GIfTI
    label pair and a ``.dlabel.nii``; written into ``root`` (the subject is copied first)."""
    root.mkdir(parents=True, exist_ok=True)
    subj_dir = shutil.copytree(synth_dir, root / "synth")
    subject = roixr.Subject(subj_dir)
    n = {h: subject.n_vertices(h) for h in HEMIS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roixr.roi_verts(subject)
    rois = {k: v for k, v in hemisphere_verts(verts, n["lh"]).items()
            if v["lh"].size or v["rh"].size}  # fmt: skip
    surf = root / "surf"
    surf.mkdir()
    white = {}
    for hemi in HEMIS:
        for kind, fs_name in (("wm", "white"), ("pia", "pial")):
            points, polys = gifti_points(subj_dir / "surfaces" / f"{kind}_{hemi}.gii")
            nib.freesurfer.write_geometry(str(surf / f"{hemi}.{fs_name}"), points, polys)
        white[hemi] = gifti_points(subj_dir / "surfaces" / f"wm_{hemi}.gii")[0]
    label_dir = root / "label"
    label_dir.mkdir()
    subset = {}  # disjoint ROIs for the one-label-per-vertex formats
    taken = {h: np.zeros(n[h], bool) for h in HEMIS}
    for name, sides in rois.items():
        if not any(taken[h][sides[h]].any() for h in HEMIS):
            subset[name] = sides
            for h in HEMIS:
                taken[h][sides[h]] = True
    labels = write_labels(rois, white, label_dir)
    annot = write_annot(subset, n, label_dir, "rois")
    gifti = write_gifti_labels(subset, n, root)
    cifti = write_cifti_labels(subset, n, {h: np.zeros(n[h], bool) for h in HEMIS},
                               root / "rois.dlabel.nii")  # fmt: skip
    return {"root": root, "dir": subj_dir, "subject": subject, "n": n, "rois": rois,
            "subset": subset, "labels": labels, "annot": annot, "gifti": gifti,
            "cifti": cifti, "surf": surf}  # fmt: skip


def source_verts(source, subject) -> dict[str, np.ndarray]:
    """``{name: merged vertex indices}`` of every ROI of a source (warnings ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyRoiWarning)
        return roixr.roi_verts(subject, source=source)


@pytest.fixture(scope="module")
def world(synth_dir, tmp_path_factory):
    return synthetic_world(synth_dir, tmp_path_factory.mktemp("readers"))


def _gifti_surface(path: Path, points, polys, structure: str | None = None) -> Path:
    meta = {"AnatomicalStructurePrimary": structure} if structure else None
    arrays = [
        nib.gifti.GiftiDataArray(np.asarray(points, np.float32), "NIFTI_INTENT_POINTSET",
                                 "NIFTI_TYPE_FLOAT32", meta=meta),
        nib.gifti.GiftiDataArray(np.asarray(polys, np.int32), "NIFTI_INTENT_TRIANGLE",
                                 "NIFTI_TYPE_INT32"),
    ]  # fmt: skip
    nib.save(nib.gifti.GiftiImage(darrays=arrays), str(path))
    return path


# --- the hemisphere a file names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "structure", "hemi"),
    [
        ("lh.white", None, "lh"),
        ("rh.pial", None, "rh"),
        ("wm_lh.gii", None, "lh"),
        ("sub-01_hemi-R_white.surf.gii", None, "rh"),
        ("100307.L.white.32k_fs_LR.surf.gii", None, "lh"),
        ("white_right.gii.gz", None, "rh"),
        ("white.surf.gii", None, None),
        ("lh.to.rh.gii", None, None),  # both: says nothing
        ("white.surf.gii", "CortexLeft", "lh"),
        ("lh.white.gii", "CIFTI_STRUCTURE_CORTEX_RIGHT", "rh"),  # the metadata wins
        ("x.gii", "CerebellumLeft", None),
    ],
)
def test_hemisphere_of(name, structure, hemi):
    assert hemisphere_of(name, structure)[0] == hemi


# --- surfaces --------------------------------------------------------------------------------


def test_gii_gz_surface_is_read():
    """nilearn's fsaverage5 ``.gii.gz`` (it was misdiagnosed as 'not a FreeSurfer surface')."""
    fs = fsaverage5_files()
    surf = read_any_surface(fs["white_left"])
    points, polys = gifti_points(fs["white_left"])
    np.testing.assert_array_equal(surf.points, points)
    np.testing.assert_array_equal(surf.polys, polys)
    assert surf.hemisphere == "lh" and "CortexLeft" in surf.hemisphere_from


def test_swapped_gifti_pair_is_refused():
    fs = fsaverage5_files()
    with pytest.raises(SurfaceMismatchError, match=r"white_right.gii.gz is a right-hemisphere "
                       r"surface \(its AnatomicalStructurePrimary is 'CortexRight'\).*left "
                       r"hemisphere.*never swaps.*white=\('white_left.gii.gz', "
                       r"'white_right.gii.gz'\) if the two are swapped"):  # fmt: skip
        subj = roixr.Subject.from_surfaces(white=(fs["white_right"], fs["white_left"]),
                                           pial=(fs["pial_left"], fs["pial_right"]))  # fmt: skip
        subj.n_vertices()
    subj = roixr.Subject.from_surfaces(white=(fs["white_left"], fs["white_right"]),
                                       pial=(fs["pial_right"], fs["pial_left"]))  # fmt: skip
    with pytest.raises(SurfaceMismatchError, match=r"pial_right.gii.gz is a right-hemisphere"):
        subj.surface("pial", "lh")


def test_swapped_freesurfer_names_are_refused(world):
    s = world["surf"]
    with pytest.raises(SurfaceMismatchError, match=r"rh.white is a right-hemisphere surface "
                       r"\(its name says right\)"):  # fmt: skip
        roixr.Subject.from_surfaces(
            white=(s / "rh.white", s / "lh.white"), pial=(s / "lh.pial", s / "rh.pial")
        ).n_vertices("lh")


def test_swapped_untagged_pair_is_refused(world, tmp_path):
    """No tag in names nor metadata: the left white surface lying right of the right one."""
    a, b = tmp_path / "a.gii", tmp_path / "b.gii"
    shutil.copy(world["dir"] / "surfaces" / "wm_rh.gii", a)
    shutil.copy(world["dir"] / "surfaces" / "wm_lh.gii", b)
    subj = roixr.Subject.from_surfaces(white=(a, b), pial=(a, b))
    subj.n_vertices("lh")  # one hemisphere alone cannot be told
    with pytest.raises(SurfaceMismatchError, match=r"a.gii lies to the right of its right one "
                       r".*b.gii \(mean x \+25.0 mm and -25.0 mm in scanner RAS"):  # fmt: skip
        subj.n_vertices()
    with pytest.raises(SurfaceMismatchError):  # not cached as good
        subj.n_vertices()
    good = roixr.Subject.from_surfaces(white=(b, a), pial=(b, a))
    assert good.n_vertices() == world["subject"].n_vertices()


def _fs_bytes(points, polys, tail: bytes = b"") -> bytes:
    counts = np.array([len(points), len(polys)], ">i4").tobytes()
    head = b"\xff\xff\xfecreated by test\n\n" + counts
    return (head + np.asarray(points, ">f4").tobytes() + np.asarray(polys, ">i4").tobytes()
            + tail)  # fmt: skip


@pytest.fixture
def lh_white(world):
    return gifti_points(world["dir"] / "surfaces" / "wm_lh.gii")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ("nan", r"lh.white has 1 vertices with non-finite coordinates.*vertex 5.*re-create"),
        ("inf", r"lh.white has 1 vertices with non-finite"),
        (
            "face",
            r"lh.white has 1 triangles indexing missing vertices \(triangle 7 names "
            r"vertex 1353; the vertices are 0 to 1352\)",
        ),
        ("negative-face", r"names vertex -4"),
        ("truncated", r"header says 1353 vertices and 2560 triangles.*truncated"),
        ("fewer-faces", r"bytes follow its 2559 triangles and are none of FreeSurfer's tags"),
        ("more-vertices", r"header says 1354 vertices"),
        ("magic", r"not a FreeSurfer surface's magic number"),
        ("gifti", r"It is a GIfTI file.*name it .gii"),
        ("empty", r"ends before its vertex and triangle counts"),
        ("zero", r"header says 0 vertices"),
    ],
)
def test_bad_freesurfer_surface(lh_white, tmp_path, edit, match):
    points, polys = lh_white[0].copy(), lh_white[1].copy()
    path = tmp_path / "lh.white"
    tail = b""
    if edit == "nan":
        points[5, 0] = np.nan
    elif edit == "inf":
        points[5, 2] = -np.inf
    elif edit == "face":
        polys[7, 1] = len(points)
    elif edit == "negative-face":
        polys[9, 0] = -4
    data = _fs_bytes(points, polys, tail)
    if edit == "truncated":
        data = data[:-7]
    elif edit in ("fewer-faces", "more-vertices"):
        counts = (
            [len(points), len(polys) - 1]
            if edit == "fewer-faces"
            else [len(points) + 1, len(polys)]
        )
        at = data.index(b"\n\n") + 2
        data = data[:at] + np.array(counts, ">i4").tobytes() + data[at + 8 :]
    elif edit == "magic":
        data = b"\x00" + data[1:]
    elif edit == "gifti":
        data = (tmp_path.parent / "g.gii").read_bytes() if False else gzip.compress(b"<?xml")
    elif edit == "empty":
        data = b"\xff\xff\xfe\n\n"
    elif edit == "zero":
        data = _fs_bytes(np.zeros((0, 3)), np.zeros((0, 3)))
    path.write_bytes(data)
    with pytest.raises(SurfaceError, match=match):
        read_freesurfer_surface(path)


def test_freesurfer_surface_with_recon_all_trailer(lh_white, tmp_path):
    """What recon-all writes after the triangles (volume geometry, command lines) is
    accepted."""
    info = {"head": [2, 0, 20], "valid": "1  # volume info valid", "filename": "orig.mgz",
            "volume": [256, 256, 256], "voxelsize": [1, 1, 1], "xras": [-1, 0, 0],
            "yras": [0, 0, -1], "zras": [0, 1, 0], "cras": [1, 2, 3]}  # fmt: skip
    path = tmp_path / "lh.white"
    nib.freesurfer.write_geometry(str(path), lh_white[0], lh_white[1], volume_info=info)
    surf = read_freesurfer_surface(path)
    np.testing.assert_array_equal(surf.points, lh_white[0])
    assert surf.hemisphere == "lh"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ("nan", r"non-finite coordinates.*vertex 3.*re-export"),
        ("negative-face", r"triangles indexing missing vertices.*names vertex -1"),
        ("two-pointsets", r"several NIFTI_INTENT_POINTSET arrays"),
        ("no-triangles", r"NIFTI_INTENT_TRIANGLE"),
        ("truncated", r"cannot read .*as a GIFTI surface"),
        ("label-file", r"cannot read .*as a GIFTI surface"),
        ("flat-points", r"points of shape \(1353, 2\)"),
    ],
)
def test_bad_gifti_surface(lh_white, tmp_path, edit, match):
    points, polys = lh_white[0].copy(), lh_white[1].copy()
    path = tmp_path / "wm_lh.gii"
    if edit == "nan":
        points[3, 1] = np.nan
    if edit == "negative-face":
        polys[0, 0] = -1
    _gifti_surface(path, points, polys)
    img = nib.load(str(path))
    if edit == "two-pointsets":
        img.add_gifti_data_array(img.darrays[0])
        nib.save(img, str(path))
    elif edit == "no-triangles":
        img.darrays.pop()
        nib.save(img, str(path))
    elif edit == "truncated":
        path.write_bytes(path.read_bytes()[:-300])
    elif edit == "label-file":
        labels = nib.gifti.GiftiImage(
            darrays=[
                nib.gifti.GiftiDataArray(
                    np.zeros(len(points), np.int32), "NIFTI_INTENT_LABEL", "NIFTI_TYPE_INT32"
                )
            ]
        )
        nib.save(labels, str(path))  # fmt: skip
    elif edit == "flat-points":
        img.darrays[0] = nib.gifti.GiftiDataArray(points[:, :2].copy(), "NIFTI_INTENT_POINTSET",
                                                  "NIFTI_TYPE_FLOAT32")  # fmt: skip
        nib.save(img, str(path))
    with pytest.raises(SurfaceError, match=match):
        read_surface(path)


def test_gzipped_gifti_named_gii_and_ascii_gifti(lh_white, tmp_path):
    """A gzipped file named ``.gii`` and an ASCII-encoded GIfTI (nibabel's path) read equal."""
    plain = _gifti_surface(tmp_path / "a.gii", *lh_white, structure="CortexLeft")
    (tmp_path / "b.gii").write_bytes(gzip.compress(plain.read_bytes()))
    img = nib.load(str(plain))
    for d in img.darrays:
        d.encoding = "ASCII"
    nib.save(img, str(tmp_path / "c.gii"))
    for name in ("a.gii", "b.gii", "c.gii"):
        surf = read_surface(tmp_path / name)
        np.testing.assert_array_equal(surf.points, lh_white[0])
        np.testing.assert_array_equal(surf.polys, lh_white[1])
        assert surf.hemisphere == "lh", name


def test_pial_of_another_mesh_is_refused(world, tmp_path):
    s = world["surf"]
    points, polys = gifti_points(world["dir"] / "surfaces" / "pia_lh.gii")
    other = tmp_path / "lh.pial"
    nib.freesurfer.write_geometry(str(other), points, polys[:, [0, 2, 1]][::-1].copy())
    same = roixr.Subject.from_surfaces(white=(s / "lh.white", s / "rh.white"),
                                       pial=(other, s / "rh.pial"))  # fmt: skip
    same.surface("pial", "lh")  # the same triangles, listed otherwise: accepted
    shuffled = polys.copy()
    shuffled[:, 0] = np.roll(shuffled[:, 0], 1)
    nib.freesurfer.write_geometry(str(other), points, shuffled)
    subj = roixr.Subject.from_surfaces(white=(s / "lh.white", s / "rh.white"),
                                       pial=(other, s / "rh.pial"))  # fmt: skip
    with pytest.raises(SurfaceMismatchError, match=r"other triangles.*different meshes"):
        subj.surface("pial", "lh")
    nib.freesurfer.write_geometry(str(other), points[:-1], polys[(polys < 1352).all(1)])
    subj = roixr.Subject.from_surfaces(white=(s / "lh.white", s / "rh.white"),
                                       pial=(other, s / "rh.pial"))  # fmt: skip
    with pytest.raises(SurfaceMismatchError, match=r"has 1352 vertices but .*lh.white has 1353"):
        subj.surface("pial", "lh")


def test_bad_hemisphere_and_kind(synth_dir):
    subj = roixr.Subject(synth_dir)
    with pytest.raises(OptionError, match="hemi must be 'lh' or 'rh', got 'left'"):
        subj.surface("white", "left")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="unknown surface kind 'midthickness'"):
        subj.surface("midthickness", "lh")


def _patch(path: Path, vno: np.ndarray, xyz: np.ndarray, extra: bytes = b"") -> Path:
    rec = np.zeros(len(vno), dtype=[("i", ">i4"), ("xyz", ">f4", 3)])
    rec["i"], rec["xyz"] = vno, xyz
    path.write_bytes(np.array([-1, len(vno)], ">i4").tobytes() + rec.tobytes() + extra)
    return path


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ("truncated", r"header says 100 vertices.*1584 bytes follow"),
        ("longer", r"header says 100 vertices.*1604 bytes follow"),
        ("repeated", r"lists vertex 3 2 times"),
        ("nan", r"1 vertices with non-finite coordinates.*vertex 10"),
        ("beyond", r"names vertex 5000 but the white surface .* has 1353"),
        ("zero", r"names vertex -1"),
        ("header", r"no patch header"),
    ],
)
def test_bad_patch(world, tmp_path, edit, match):
    white = read_freesurfer_surface(world["surf"] / "lh.white")
    vno = np.arange(1, 101)
    xyz = np.random.default_rng(0).normal(size=(100, 3))
    extra = b""
    if edit == "repeated":
        vno[7] = vno[3]
    elif edit == "nan":
        xyz[10, 0] = np.nan
    elif edit == "beyond":
        vno[0] = 5001
    elif edit == "zero":
        vno[0] = 0
    elif edit == "longer":
        extra = b"\x00" * 4
    path = _patch(tmp_path / "lh.full.flat.patch.3d", vno, xyz, extra)
    if edit == "truncated":
        path.write_bytes(path.read_bytes()[:-16])
    elif edit == "header":
        path.write_bytes(b"\x00" * 3)
    with pytest.raises(SurfaceError, match=match):
        read_patch(path, white)


# --- FreeSurfer annotations ----------------------------------------------------------------------


def test_annotation_pair_and_subject(world):
    lh, rh = world["annot"]
    got = source_verts((lh, rh), world["subject"])
    for name, sides in world["subset"].items():
        expected = np.concatenate([sides["lh"], sides["rh"] + world["n"]["lh"]])
        np.testing.assert_array_equal(got[name], np.sort(expected))
    with pytest.raises(RoiSourceError, match=r"rh.rois.annot is the right hemisphere's file "
                       r"\(its name says right\) but was passed as the left one \(the pair is "
                       r"swapped\).*Pass the \(lh, rh\) pair left hemisphere first: "
                       r"\(.*lh.rois.annot, .*rh.rois.annot\)"):  # fmt: skip
        source_verts((rh, lh), world["subject"])
    with pytest.raises(RoiSourceError, match=r"lh.rois.annot is the left .* passed as the "
                       r"right one; roixr never swaps"):  # fmt: skip
        source_verts((lh, lh), world["subject"])


def _annot_bytes(values, entries, vno=None, version=-2, tag=1) -> bytes:
    """An annotation: ``entries`` are ``(key, name, (r, g, b))``; ``values`` the packed
    colours of the vertices."""
    vnum = len(values)
    vno = np.arange(vnum) if vno is None else vno
    out = [np.array([vnum], ">i4"), np.c_[vno, values].astype(">i4").ravel(),
           np.array([tag, version], ">i4")]  # fmt: skip
    if version == -2:
        out.append(np.array([max(k for k, _, _ in entries) + 1], ">i4"))
    out += [np.array([7], ">i4"), np.frombuffer(b"NOFILE\0", "S7")]
    if version == -2:
        out.append(np.array([len(entries)], ">i4"))
    for key, name, rgb in entries:
        if version == -2:
            out.append(np.array([key], ">i4"))
        raw = name.encode() + b"\0"
        out += [np.array([len(raw)], ">i4"), np.frombuffer(raw, f"S{len(raw)}"),
                np.array([*rgb, 0], ">i4")]  # fmt: skip
    return b"".join(a.tobytes() for a in out)


def _pack(rgb) -> int:
    return rgb[0] + rgb[1] * 256 + rgb[2] * 65536


@pytest.fixture
def annot_parts(world):
    """Left: the subset's annotation rewritten by hand; right: the file written by nibabel."""
    n = world["n"]["lh"]
    entries = [(0, "unknown", (25, 5, 25))] + [(i + 1, name, COLORS[i]) for i, name in
                                               enumerate(world["subset"])]  # fmt: skip
    values = np.zeros(n, np.int64)
    for (_, _, rgb), sides in zip(entries[1:], world["subset"].values(), strict=True):
        values[sides["lh"]] = _pack(rgb)
    return values, entries


def _annot_case(edit, values, entries, tmp_path) -> Path:
    values, entries = values.copy(), list(entries)
    kwargs: dict = {}
    roi = np.flatnonzero(values)[0]
    if edit == "unknown-colour":
        values[roi] = _pack((1, 2, 3))
    elif edit == "shared-colour":
        entries.append((len(entries), "twin", entries[1][2]))
    elif edit == "same-name":
        entries[2] = (entries[2][0], entries[1][1], entries[2][2])
    elif edit == "duplicate-vertex":
        kwargs["vno"] = np.r_[0, 0, np.arange(2, len(values))]
    elif edit == "vertex-beyond":
        kwargs["vno"] = np.r_[np.arange(len(values) - 1), len(values)]
    elif edit == "no-table":
        kwargs["tag"] = 0
    elif edit == "version":
        kwargs["version"] = -3
    elif edit == "duplicate-key":
        entries[2] = (entries[1][0], entries[2][1], entries[2][2])
    elif edit == "no-roi":
        values[:] = _pack(entries[0][2])
    data = _annot_bytes(values, entries, **kwargs)
    if edit == "truncated-table":
        data = data[:-9]
    elif edit == "truncated-vertices":
        data = data[: 4 + 8 * 100]
    elif edit == "empty":
        data = b""
    elif edit == "huge-count":
        data = np.array([2**31 - 1], ">i4").tobytes() + data[4:]
    elif edit == "name-length":
        at = data.index(b"unknown") - 4
        data = data[:at] + np.array([10**6], ">i4").tobytes() + data[at + 4 :]
    path = tmp_path / "lh.rois.annot"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            "unknown-colour",
            r"1 vertices \(the first is \d+\) carry the value 197121 "
            r"\(colour \(1, 2, 3\)\), which is in no entry of its colour table",
        ),
        ("shared-colour", r"which is shared by entries \[1, \d+\]"),
        ("same-name", r"has two entries named .* \(keys 1 and 2\)"),
        (
            "duplicate-vertex",
            r"vertex numbers are not each of 0 to 1352 once \(record 0 names "
            r"vertex 0\)",
        ),
        ("vertex-beyond", r"record 1352 names vertex 1353"),
        ("no-table", r"has no colour table"),
        ("version", r"unknown colour table version 3"),
        ("duplicate-key", r"colour table has key 1 twice"),
        ("truncated-table", r"ends inside entry \d+'s colour .*truncated"),
        ("truncated-vertices", r"ends inside its 1353 \(vertex, value\) pairs"),
        ("empty", r"ends inside the vertex count"),
        ("huge-count", r"ends inside its 2147483647"),
        ("name-length", r"is said to be 1000000 bytes long"),
    ],
)
def test_bad_annotation(annot_parts, tmp_path, edit, match):
    path = _annot_case(edit, *annot_parts, tmp_path)
    with pytest.raises(RoiSourceError, match=rf"lh.rois.annot .*{match}.*(copy it again|re-)"):
        read_annot(path)


def test_annotation_checks_against_itself_and_the_subject(world, annot_parts, tmp_path):
    values, entries = annot_parts
    rh = world["annot"][1]
    # written by hand, as nibabel does: equal
    path = _annot_case(None, values, entries, tmp_path)
    ours = read_annot(path)
    theirs = read_annot(world["annot"][0])
    np.testing.assert_array_equal(np.where(ours.values < 0, 0, ours.values),
                                  np.where(theirs.values < 0, 0, theirs.values))  # fmt: skip
    # vertex records in another order are applied in theirs
    order = np.random.default_rng(1).permutation(len(values))
    path.write_bytes(_annot_bytes(values[order], entries, vno=order))
    np.testing.assert_array_equal(read_annot(path).values, ours.values)
    # the old colour-table format
    path.write_bytes(_annot_bytes(values, entries, version=len(entries)))
    np.testing.assert_array_equal(read_annot(path).values, ours.values)
    # keys with gaps (nibabel names them by position, wrongly)
    gapped = [(0, *entries[0][1:])] + [(3 * k, n, c) for k, n, c in entries[1:]]
    path.write_bytes(_annot_bytes(values, gapped))
    part = read_annot(path)
    assert part.table[3][0] == entries[1][1]
    assert set(np.unique(part.values)) <= {-1, 0, *(3 * k for k, _, _ in entries[1:])}
    # another subject: fewer vertices
    path.write_bytes(_annot_bytes(values[:-3], entries))
    with pytest.raises(VertexCountError, match=r"lh.rois.annot labels 1350 vertices but "
                       r"subject 'synth' has 1353 in hemisphere lh.*pass labels"):  # fmt: skip
        source_verts((path, rh), world["subject"])
    # labels no vertex at all
    none = np.full(len(values), _pack(entries[0][2]))
    path.write_bytes(_annot_bytes(none, entries))
    rh_none = tmp_path / "rh.none.annot"
    rh_none.write_bytes(_annot_bytes(np.zeros(world["n"]["rh"], np.int64), entries))
    with pytest.raises(RoiSourceError, match=r"labels no vertex with an ROI: every vertex of "
                       r"both hemispheres is unlabelled or background"):  # fmt: skip
        source_verts((path, rh_none), world["subject"])
    # an ROI of the table with no vertex: a warning when asked for
    extra = [*entries, (len(entries), "corpuscallosum", (9, 9, 9))]
    path.write_bytes(_annot_bytes(values, extra))
    with pytest.warns(EmptyRoiWarning, match=r"ROI 'corpuscallosum' of annotation .* labels "
                      r"no vertex"):  # fmt: skip
        roixr.roi_verts(world["subject"], source=(path, rh))


def test_annotation_by_name_needs_freesurfer(world):
    with pytest.raises(RoiSourceError, match=r"not a FreeSurfer subject.*Pass the \(lh, rh\)"):
        roixr.roi_verts(world["subject"], source="aparc")


# --- GIfTI label files -----------------------------------------------------------------------


def _gifti_labels(path: Path, values, table, structure=None, data=None, extra=None) -> Path:
    lt = nib.gifti.GiftiLabelTable()
    for key, name in table:
        label = nib.gifti.GiftiLabel(key, 0.5, 0.5, 0.5, 1.0)
        label.label = name
        lt.labels.append(label)
    meta = nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": structure} if structure
                                   else {})  # fmt: skip
    img = nib.gifti.GiftiImage(labeltable=lt, meta=meta)
    arrays = [values if data is None else data, *(extra or [])]
    for a in arrays:
        a = np.asarray(a)
        kind = "NIFTI_TYPE_INT32" if a.dtype.kind in "iu" else "NIFTI_TYPE_FLOAT32"
        img.add_gifti_data_array(nib.gifti.GiftiDataArray(a, "NIFTI_INTENT_LABEL", kind))
    nib.save(img, str(path))
    return path


@pytest.fixture
def gifti_parts(world):
    values = nib.load(str(world["gifti"][0])).darrays[0].data.astype(np.int32)
    table = [(0, "???")] + [(i + 1, n) for i, n in enumerate(world["subset"])]
    return values, table


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ("no-table", r"has no LabelTable"),
        ("missing-key", r"labels \d+ vertices with keys missing from its LabelTable \(\[2\]"),
        ("float", r"holds data of shape \(1353,\) and dtype float32, not one integer label"),
        ("two-columns", r"holds data of shape \(1353, 2\)"),
        ("two-maps", r"holds 2 label maps; which one to use cannot be told.*map_index=i"),
        ("duplicate-key", r"has key 1 twice in its LabelTable"),
        ("same-name", r"has two entries named .* \(keys 1 and 2\)"),
        ("surface", r"NIFTI_INTENT_POINTSET.*it is a surface or a data file"),
        ("truncated", r"cannot read .* as a GIfTI label file \(ExpatError"),
        ("nifti", r"cannot read .* as a GIfTI label file \(ExpatError: not well-formed"),
    ],
)
def test_bad_gifti_labels(world, gifti_parts, tmp_path, edit, match):
    values, table = gifti_parts
    path = tmp_path / "sub-01_hemi-L_rois.label.gii"
    kwargs: dict = {}
    if edit == "no-table":
        table = []
    elif edit == "missing-key":
        table = [t for t in table if t[0] != 2]
    elif edit == "float":
        kwargs["data"] = values.astype(np.float32)
    elif edit == "two-columns":
        kwargs["data"] = np.c_[values, values]
    elif edit == "two-maps":
        kwargs["extra"] = [values]
    elif edit == "duplicate-key":
        table = [*table, (1, "again")]
    elif edit == "same-name":
        table = [table[0], (1, table[1][1]), (2, table[1][1]), *table[3:]]
    _gifti_labels(path, values, table, **kwargs)
    if edit == "surface":
        shutil.copy(world["dir"] / "surfaces" / "wm_lh.gii", path)
    elif edit == "truncated":
        path.write_bytes(path.read_bytes()[:-50])
    elif edit == "nifti":
        nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)),
                 str(tmp_path / "x.nii"))  # fmt: skip
        shutil.copy(tmp_path / "x.nii", path)
    with pytest.raises(RoiSourceError, match=match) as info:
        source_verts(GiftiLabelSource((path, world["gifti"][1])), world["subject"])
    assert "hemi-L_rois.label.gii" in info.value.problem and info.value.fix


def test_gifti_label_hemispheres_maps_and_subject(world, gifti_parts, tmp_path):
    values, table = gifti_parts
    lh, rh = world["gifti"]
    expected = source_verts((lh, rh), world["subject"])
    # swapped by names (BIDS hemi-R first)
    with pytest.raises(RoiSourceError, match=r"hemi-R_desc-rois.label.gii is the right "
                       r"hemisphere's file \(its name says right\).*swapped"):  # fmt: skip
        source_verts((rh, lh), world["subject"])
    # swapped by metadata, names silent
    a = _gifti_labels(tmp_path / "a.label.gii", values, table, structure="CortexRight")
    b = _gifti_labels(tmp_path / "b.label.gii", values, table, structure="CortexLeft")
    with pytest.raises(RoiSourceError, match=r"a.label.gii is the right hemisphere's file \(its "
                       r"AnatomicalStructurePrimary is 'CortexRight'\) but was passed as the "
                       r"left one \(the pair is swapped\)"):  # fmt: skip
        source_verts((a, b), world["subject"])
    # two maps: map_index picks one; out of range refused
    two = _gifti_labels(tmp_path / "lh.two.label.gii", np.zeros_like(values), table,
                        extra=[values])  # fmt: skip
    rh_values = nib.load(str(rh)).darrays[0].data.astype(np.int32)
    two_rh = _gifti_labels(tmp_path / "rh.two.label.gii", np.zeros_like(rh_values), table,
                           extra=[rh_values])  # fmt: skip
    got = source_verts(GiftiLabelSource((two, two_rh), map_index=1), world["subject"])
    assert got.keys() == expected.keys()
    for k in got:
        np.testing.assert_array_equal(got[k], expected[k])
    with pytest.raises(RoiSourceError, match=r"holds 2 label maps; there is no map_index=2.*0 "
                       r"to 1"):  # fmt: skip
        source_verts(GiftiLabelSource((two, two_rh), map_index=2), world["subject"])
    # key 0 left out of the table: background by convention, accepted
    no_zero = _gifti_labels(tmp_path / "lh.nozero.label.gii", values, table[1:])
    got = source_verts((no_zero, rh), world["subject"])
    for k in got:
        np.testing.assert_array_equal(got[k], expected[k])
    # another subject's labels
    short = _gifti_labels(tmp_path / "lh.short.label.gii", values[:-1], table)
    with pytest.raises(VertexCountError, match=r"labels 1352 vertices but subject 'synth' has "
                       r"1353"):  # fmt: skip
        source_verts((short, rh), world["subject"])
    # labels nothing
    zero_l = _gifti_labels(tmp_path / "lh.zero.label.gii", np.zeros_like(values), table)
    zero_r = _gifti_labels(tmp_path / "rh.zero.label.gii", np.zeros_like(values), table)
    with pytest.raises(RoiSourceError, match=r"labels no vertex with an ROI"):
        source_verts((zero_l, zero_r), world["subject"])
    with pytest.raises(SubjectFileNotFoundError, match=r"does not exist. Pass existing"):
        GiftiLabelSource((tmp_path / "nope.label.gii", rh))


# --- CIFTI dense label files ------------------------------------------------------------------


def _cifti(path: Path, n_lh: int, n_rh: int, data, table=None, keep=None, maps=1,
           right=True, scalar=False) -> Path:  # fmt: skip
    keep = keep or (np.arange(n_lh), np.arange(n_rh))
    models = nib.cifti2.BrainModelAxis.from_surface(keep[0], n_lh, "CortexLeft")
    if right:
        models = models + nib.cifti2.BrainModelAxis.from_surface(keep[1], n_rh, "CortexRight")
    table = (
        table
        if table is not None
        else {0: ("???", (0, 0, 0, 0)), 1: ("A", (1, 0, 0, 1)), 2: ("B", (0, 1, 0, 1))}
    )
    if scalar:
        first = nib.cifti2.ScalarAxis([f"m{i}" for i in range(maps)])
    else:
        first = nib.cifti2.LabelAxis([f"m{i}" for i in range(maps)], [table] * maps)
    header = nib.cifti2.Cifti2Header.from_axes((first, models))
    nib.Cifti2Image(np.asarray(data).reshape(maps, -1), header).to_filename(str(path))
    return path


@pytest.fixture
def cifti_data(world):
    n = world["n"]
    data = np.zeros(n["lh"] + n["rh"], np.int32)
    data[:40], data[n["lh"] : n["lh"] + 30] = 1, 2
    return n["lh"], n["rh"], data


@pytest.mark.parametrize(
    ("edit", "match", "error"),
    [
        (
            "other-mesh",
            r"\(CIFTI_STRUCTURE_CORTEX_LEFT, 1400 vertices\) labels 1400 vertices "
            r"but subject 'synth' has 1353",
            VertexCountError,
        ),
        (
            "missing-key",
            r"labels 1 vertices with keys missing from its label table \(\[7\]",
            RoiSourceError,
        ),
        (
            "fraction",
            r"holds 1 values that are not whole numbers \(the first: 1.5\)",
            RoiSourceError,
        ),
        ("nan", r"holds 1 values that are not whole numbers \(the first: nan\)", RoiSourceError),
        ("map-index", r"holds 1 label maps; there is no map_index=1", RoiSourceError),
        ("left-only", r"has no CIFTI_STRUCTURE_CORTEX_RIGHT", RoiSourceError),
        ("scalar", r"as a CIFTI dense label file .*not a label axis", RoiSourceError),
        ("truncated", r"cannot read .* as a CIFTI dense label file \(ValueError", RoiSourceError),
        ("nothing", r"labels no vertex with an ROI", RoiSourceError),
        (
            "same-name",
            r"has two entries named 'A' in its label table \(keys 1 and 2\)",
            RoiSourceError,
        ),
        ("gifti", r"as a CIFTI dense label file \(ImageFileError", RoiSourceError),
    ],
)
def test_bad_cifti(world, cifti_data, tmp_path, edit, match, error):
    n_lh, n_rh, data = cifti_data
    data = data.copy()
    path = tmp_path / "rois.dlabel.nii"
    kwargs: dict = {}
    map_index = 0
    if edit == "other-mesh":
        kwargs["keep"] = (np.arange(n_lh), np.arange(n_rh))
        n_lh = 1400
    elif edit == "missing-key":
        data[5] = 7
    elif edit in ("fraction", "nan"):
        data = data.astype(np.float32)
        data[3] = 1.5 if edit == "fraction" else np.nan
    elif edit == "map-index":
        map_index = 1
    elif edit == "left-only":
        kwargs["right"] = False
        data = data[:n_lh]
    elif edit == "scalar":
        kwargs["scalar"] = True
        data = data.astype(np.float32)
    elif edit == "nothing":
        data[:] = 0
    elif edit == "same-name":
        kwargs["table"] = {0: ("???", (0, 0, 0, 0)), 1: ("A", (1, 0, 0, 1)),
                           2: ("A", (0, 1, 0, 1))}  # fmt: skip
    if edit == "gifti":
        shutil.copy(world["gifti"][0], path)
    else:
        _cifti(path, n_lh, n_rh, data, **kwargs)
    if edit == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(error, match=match) as info:
        source_verts(CiftiLabelSource(path, map_index), world["subject"])
    assert "rois.dlabel.nii" in info.value.problem and info.value.fix


def test_cifti_maps_and_brain_models(world, cifti_data, tmp_path):
    n_lh, n_rh, data = cifti_data
    two = _cifti(tmp_path / "two.dlabel.nii", n_lh, n_rh, np.r_[np.zeros_like(data), data],
                 maps=2)  # fmt: skip
    got = source_verts(CiftiLabelSource(two, 1), world["subject"])
    np.testing.assert_array_equal(got["A"], np.arange(40))
    np.testing.assert_array_equal(got["B"], n_lh + np.arange(30))
    with pytest.raises(RoiSourceError, match=r"map_index must be a whole number, got '1'"):
        CiftiLabelSource(two, "1")  # type: ignore[arg-type]
    # a medial wall left out: those vertices unlabelled
    keep = (np.arange(20, n_lh), np.arange(n_rh))
    part = np.r_[data[20:n_lh], data[n_lh:]]
    wall = _cifti(tmp_path / "wall.dlabel.nii", n_lh, n_rh, part, keep=keep)
    np.testing.assert_array_equal(source_verts(CiftiLabelSource(wall), world["subject"])["A"],
                                  np.arange(20, 40))  # fmt: skip
    # a brain model naming a vertex twice (nibabel writes it; the XML is hand-made)
    twice = _cifti(tmp_path / "twice.dlabel.nii", n_lh, n_rh, part,
                   keep=(np.r_[20, np.arange(20, n_lh - 1)], keep[1]))  # fmt: skip
    with pytest.raises(RoiSourceError, match=r"twice.dlabel.nii names some vertices of "
                       r"CIFTI_STRUCTURE_CORTEX_LEFT twice"):  # fmt: skip
        source_verts(CiftiLabelSource(twice), world["subject"])
    with pytest.raises(SubjectFileNotFoundError, match=r"does not exist. Pass an existing"):
        CiftiLabelSource(tmp_path / "nope.dlabel.nii")


# --- FreeSurfer .label files ---------------------------------------------------------------------


def _label(path: Path, vno, count=None, rows=None) -> Path:
    vno = list(vno)
    lines = ["#!ascii label , from subject synth vox2ras=TkReg",
             str(len(vno) if count is None else count)]  # fmt: skip
    lines += rows if rows is not None else [f"{v} 1.000 -2.000 3.500 0.0000000000" for v in vno]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ("shorter", r"says it has 10 vertices but lists 9: it is truncated"),
        ("longer", r"says it has 8 vertices but lists 9: it is longer than its count"),
        ("duplicate", r"lists vertex 4 2 times \(1 vertices repeated\)"),
        ("negative", r"lists the negative vertex -3 \(line 4\)"),
        ("fraction", r"line 5 is not a whole vertex number and four numbers: '12.5 "),
        ("fields", r"line 3 holds 4 fields, not 5"),
        ("no-count", r"has no vertex count on its second line"),
        ("binary", r"is not a text file"),
        ("empty-file", r"has no vertex count"),
        ("words", r"line 3 is not a whole vertex number"),
    ],
)
def test_bad_label_file(world, tmp_path, edit, match):
    path = tmp_path / "lh.bad.label"
    vno = list(range(1, 10))
    if edit == "shorter":
        _label(path, vno, count=10)
    elif edit == "longer":
        _label(path, vno, count=8)
    elif edit == "duplicate":
        _label(path, [*vno, 4])
    elif edit == "negative":
        _label(path, [5, -3, 7])
    elif edit == "fraction":
        _label(path, vno, rows=["1 0 0 0 0", "2 0 0 0 0", "12.5 0 0 0 0", *["3 0 0 0 0"] * 6])
    elif edit == "fields":
        _label(path, vno, rows=["1 0 0 0"] + [f"{v} 0 0 0 0" for v in vno[1:]])
    elif edit == "no-count":
        path.write_text("1 0 0 0 0\n2 0 0 0 0\n")
    elif edit == "binary":
        path.write_bytes(b"\xff\xfe\x00\x01" * 10)
    elif edit == "empty-file":
        path.write_text("")
    elif edit == "words":
        _label(path, vno, rows=["one 0 0 0 0", *[f"{v} 0 0 0 0" for v in vno[1:]]])
    with pytest.raises(RoiSourceError, match=rf"lh.bad.label {match}.*(copy it again|Re-create)"):
        source_verts([path], world["subject"])


def test_label_file_seed_empty_and_subject(world, tmp_path):
    seed = _label(tmp_path / "lh.seed.label", [17])
    assert source_verts([seed], world["subject"]) == {"seed": [17]} or np.array_equal(
        source_verts([seed], world["subject"])["seed"], [17]
    )
    rh_seed = _label(tmp_path / "rh.seed.label", [3])
    np.testing.assert_array_equal(source_verts([seed, rh_seed], world["subject"])["seed"],
                                  [17, world["n"]["lh"] + 3])  # fmt: skip
    masks = roixr.roi_masks(world["subject"], "fullhead", ["seed"], "thick",
                            source=[seed, rh_seed])  # fmt: skip
    assert masks.values.dtype == bool and np.isfinite(masks.coverage.values).all()
    empty = _label(tmp_path / "lh.nothing.label", [])
    with pytest.warns(EmptyRoiWarning, match=r"ROI 'nothing' of label files .* labels no vertex"):
        got = roixr.roi_verts(world["subject"], source=[empty])
    assert got["nothing"].size == 0
    beyond = _label(tmp_path / "lh.far.label", [3, 1353, 4000])
    with pytest.raises(VertexCountError, match=r"lh.far.label names vertex 4000 \(2 of its 3 "
                       r"vertices are beyond the surface\) but subject 'synth' has 1353 "
                       r"vertices in hemisphere lh.*pass labels of this subject"):  # fmt: skip
        source_verts([beyond], world["subject"])
    # blank lines at the end, and a NaN coordinate (coordinates are not used): accepted
    blank = _label(tmp_path / "lh.blank.label", [5, 6])
    blank.write_text(blank.read_text().replace("1.000", "nan", 1) + "\n\n")
    np.testing.assert_array_equal(source_verts([blank], world["subject"])["blank"], [5, 6])
    with pytest.raises(RoiSourceError, match=r"cannot tell the hemisphere of .*V1.label.*Rename"):
        LabelFilesSource([_label(tmp_path / "V1.label", [1])])
    with pytest.raises(SubjectFileNotFoundError, match=r"does not exist. Pass existing lh"):
        LabelFilesSource([tmp_path / "lh.nope.label"])


def test_label_files_equal_the_subjects_rois(world):
    got = source_verts(world["labels"], world["subject"])
    for name, sides in world["rois"].items():
        expected = np.concatenate([sides["lh"], sides["rh"] + world["n"]["lh"]])
        np.testing.assert_array_equal(got[name], np.sort(expected))


def test_every_reader_names_the_option_source(world, tmp_path):
    """Label errors carry option='source', so the command line says --source."""
    path = _label(tmp_path / "lh.x.label", [1, 2], count=3)
    with pytest.raises(RoiSourceError) as info:
        source_verts([path], world["subject"])
    assert info.value.option == "source" and "Re-create" in info.value.fix
    from roixr.cli import in_flags

    assert "--source" in in_flags(info.value)


def test_annot_source_objects_read_nothing_at_construction(world):
    AnnotSource(world["annot"])  # files checked to exist only
