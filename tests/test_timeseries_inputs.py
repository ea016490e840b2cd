"""Bad time-series inputs (issue 22): every file a user may pass as a bold series, or as a
label image, that cannot be read as one gives a roixr error naming the file, what is wrong
with it and the fix, at open time where the header and the file's size tell (when computed
otherwise); never a foreign exception and never a silent wrong series. The command line
prints one ``roixr: error:`` line for them, never a traceback, and writes nothing into the
subject folder."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from conftest import snapshot
from helpers import AFFINE, SHAPE, make_masks

import roixr
from roixr.cli import TRACEBACK_VARIABLE, main
from roixr.errors import (
    BoldError,
    FormError,
    MetadataWarning,
    OptionError,
    RoixrError,
    SubjectFileNotFoundError,
)
from roixr.timeseries import open_nifti, roi_timeseries

N_TIME = 7
RNG = np.random.default_rng(22)
DATA = RNG.integers(-300, 300, (*SHAPE, N_TIME)).astype(np.int16)

# byte offsets in a NIfTI-1 header
DIM, DATATYPE, BITPIX, PIXDIM4 = 40, 70, 72, 92
VOX_OFFSET, SCL_SLOPE, SCL_INTER, XYZT_UNITS, TOFFSET, SROW_X = 108, 112, 116, 123, 136, 280


def write(path: Path, data: np.ndarray = DATA, affine=AFFINE) -> Path:
    img = nib.Nifti1Image(data, np.asarray(affine, float))
    img.header.set_zooms((2.0, 2.5, 3.0, 1.5, 1.0)[: data.ndim])
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, path)
    return path


def patch(path: Path, offset: int, fmt: str, *values) -> Path:
    """Change header fields of an uncompressed NIfTI file in place."""
    blob = bytearray(path.read_bytes())
    struct.pack_into("<" + fmt, blob, offset, *values)
    path.write_bytes(bytes(blob))
    return path


def cut(path: Path, keep) -> Path:
    blob = path.read_bytes()
    path.write_bytes(blob[: keep(len(blob))])
    return path


def gz_of_raw(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw))
    return path


def _rgb(path: Path) -> Path:
    rgb = np.zeros((*SHAPE, N_TIME), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.asarray(AFFINE)), path)
    return path


def _analyze(path: Path, drop: str) -> Path:
    nib.save(nib.AnalyzeImage(DATA, np.asarray(AFFINE)), path.with_suffix(".img"))
    path.with_suffix(drop).unlink()
    return path.with_suffix(".img" if drop == ".hdr" else ".hdr")


def _header_dims_larger_gz(path: Path) -> Path:
    img = nib.Nifti1Image(DATA, np.asarray(AFFINE))
    img.header["dim"][4] = N_TIME + 2  # two volumes more than the data hold
    img.header["vox_offset"] = 352
    raw = img.header.binaryblock + b"\0" * 4 + DATA.tobytes(order="F")
    return gz_of_raw(path, raw)


def _png(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    return path


def _gifti(path: Path) -> Path:
    darray = nib.gifti.GiftiDataArray(np.zeros((3, 3), np.float32))
    nib.save(nib.gifti.GiftiImage(darrays=[darray]), path)
    return path


# (name, builder, error, match, when): ``when`` is "open" (open_nifti raises) or "compute"
BAD_SERIES = [
    ("misspelt path", lambda p: p / "bold_tpyo.nii.gz", SubjectFileNotFoundError,
     r"bold_tpyo.nii.gz does not exist\. Did you mean 'bold.nii.gz'", "open"),
    ("path in a missing folder", lambda p: p / "nofolder" / "bold.nii.gz",
     SubjectFileNotFoundError, r"its folder .*nofolder does not exist either", "open"),
    ("dangling symbolic link", lambda p: _link(p), SubjectFileNotFoundError,
     r"symbolic link to .*gone.nii.gz, which does not exist", "open"),
    ("a folder", lambda p: p, BoldError,
     r"is a folder, not an image file \(it holds bold.nii.gz", "open"),
    ("an empty file", lambda p: _bytes(p / "e.nii.gz", b""), BoldError,
     r"e.nii.gz is empty \(0 bytes\).*Write or copy it again", "open"),
    ("text named .nii.gz", lambda p: _bytes(p / "t.nii.gz", b"subject,run\n01,1\n"),
     BoldError, r"t.nii.gz is named .gz but is not gzipped: it holds text", "open"),
    ("uncompressed NIfTI named .nii.gz",
     lambda p: Path(shutil.copy(write(p / "u.nii"), p / "u2.nii.gz")), BoldError,
     r"u2.nii.gz is named .gz but is not gzipped: it holds an uncompressed NIfTI.*"
     r"Rename it to 'u2.nii'", "open"),
    ("gzipped NIfTI named .nii", lambda p: _bytes(p / "g.nii", write(p / "g0.nii.gz")
                                                  .read_bytes()),
     BoldError, r"g.nii is gzipped but its name does not end in .gz.*'g.nii.gz'", "open"),
    ("a gzip of text", lambda p: gz_of_raw(p / "gt.nii.gz", b"not an image\n" * 50),
     BoldError, r"gt.nii.gz is not an image nibabel reads .* it holds text .*, gzipped", "open"),
    ("a gzip of nothing", lambda p: gz_of_raw(p / "g0.nii.gz", b""), BoldError,
     r"g0.nii.gz is a gzipped empty file", "open"),
    ("a PNG", lambda p: _png(p / "x.png"), BoldError,
     r"x.png is not an image nibabel reads .*it holds a PNG picture", "open"),
    ("a PNG named .nii", lambda p: _png(p / "x.nii"), BoldError,
     r"x.nii is not an image nibabel reads .*it holds a PNG picture", "open"),
    ("a GIfTI surface", lambda p: _gifti(p / "s.gii"), BoldError,
     r"s.gii is a GiftiImage, not a volume image", "open"),
    ("Analyze .img without its .hdr", lambda p: _analyze(p / "a1", ".hdr"),
     SubjectFileNotFoundError, r"a1.img is the data half .* header .*a1.hdr does not exist",
     "open"),
    ("Analyze .hdr without its .img", lambda p: _analyze(p / "a2", ".img"),
     SubjectFileNotFoundError, r"a2.hdr needs .*a2.img, which does not exist", "open"),
    ("bad magic", lambda p: patch(write(p / "m.nii"), 344, "4s", b"xx\0\0"), BoldError,
     r"m.nii is not an image nibabel reads", "open"),
    ("unknown datatype code", lambda p: patch(write(p / "dt.nii"), DATATYPE, "h", 999),
     BoldError, r"dt.nii has a damaged or malformed header .*data code 999", "open"),
    ("dim[0] out of range", lambda p: patch(write(p / "d0.nii"), DIM, "h", 9), BoldError,
     r"d0.nii has a damaged or malformed header", "open"),
    ("a 2D image", lambda p: write(p / "2d.nii.gz", DATA[:, :, 0, 0]), BoldError,
     r"reads 3D or 4D images; .*2d.nii.gz' has shape \(6, 5\)", "open"),
    ("a 5D image", lambda p: write(p / "5d.nii.gz", DATA[..., None]), BoldError,
     r"reads 3D or 4D images; .*has shape \(6, 5, 4, 7, 1\)", "open"),
    ("zero volumes", lambda p: write(p / "z.nii", DATA[..., :0]), BoldError,
     r"z.nii' has shape \(6, 5, 4, 0\): no volumes \(dim\[4\] is 0\)", "open"),
    ("a negative dim", lambda p: patch(write(p / "n.nii"), DIM + 2, "h", -6), BoldError,
     r"has shape \(-6, 5, 4, 7\): an axis of size 0 or less", "open"),
    ("complex data", lambda p: write(p / "c.nii", DATA.astype(np.complex64)), BoldError,
     r"c.nii' holds complex numbers; a bold series holds real numbers", "open"),
    ("RGB data", lambda p: _rgb(p / "rgb.nii"), BoldError,
     r"rgb.nii' holds values of type .*R.*; a bold series holds real numbers", "open"),
    ("NaN in the affine", lambda p: patch(write(p / "na.nii"), SROW_X + 12, "f", np.nan),
     BoldError, r"na.nii' has a non-finite affine \(NaN or inf in its sform or qform\)",
     "open"),
    ("inf scl_inter", lambda p: patch(write(p / "ii.nii"), SCL_INTER, "f", np.inf),
     BoldError, r"ii.nii has a damaged or malformed header .*invalid intercept inf", "open"),
    ("scl_slope beyond float32", lambda p: patch(write(p / "bs.nii"), SCL_SLOPE, "f", 1e38),
     BoldError, r"bs.nii''s scaling \(scl_slope 1e\+38.*beyond float32", "open"),
    ("truncated .nii", lambda p: cut(write(p / "tr.nii"), lambda n: n - 100), BoldError,
     r"tr.nii is too short: its header describes 6 × 5 × 4 × 7 values of int16 from "
     r"byte 352 \(2,032 bytes\) but the file has 1,932 bytes", "open"),
    ("header dims larger than the data (.nii)",
     lambda p: patch(write(p / "dl.nii"), DIM + 8, "h", N_TIME + 2), BoldError,
     r"dl.nii is too short: .*6 × 5 × 4 × 9 values", "open"),
    ("datatype changed to a wider one",
     lambda p: patch(write(p / "dw.nii"), DATATYPE, "hh", 64, 64), BoldError,
     r"dw.nii is too short: .*values of float64", "open"),
    ("vox_offset past the end", lambda p: patch(write(p / "vo.nii"), VOX_OFFSET, "f", 1e6),
     BoldError, r"vo.nii is too short: .*from byte 1000000", "open"),
    ("absurd dims in a .nii.gz", lambda p: _absurd_gz(p / "ab.nii.gz"), BoldError,
     r"ab.nii.gz's header describes 32767 × .*more than its .* gzipped bytes can hold",
     "open"),
    ("truncated .nii.gz (the header intact)",
     lambda p: cut(write(p / "tg.nii.gz"), lambda n: n * 2 // 3), BoldError,
     r"could not decompress .*tg.nii.gz: .*truncated or damaged", "compute"),
    ("truncated .nii.gz (before the data start)",
     lambda p: cut(write(p / "th.nii.gz"), lambda n: 40), BoldError,
     r"th.nii.gz is a damaged or truncated gzipped file|malformed header", "open"),
    ("header dims larger than the data (.nii.gz)",
     lambda p: _header_dims_larger_gz(p / "dg.nii.gz"), BoldError,
     r"could not decompress .*dg.nii.gz: its decompressed bytes end at byte 2,032, before "
     r"the 2,512 its header's dimensions, datatype and vox_offset describe", "compute"),
    ("vox_offset 0 in a .nii (the data would be read from the header)",
     lambda p: patch(write(p / "v0.nii"), VOX_OFFSET, "f", 0.0), BoldError,
     r"v0.nii has vox_offset 0, inside its own header: .* start at byte 352 or later", "open"),
    ("vox_offset 100 in a .nii.gz",
     lambda p: gz_of_raw(p / "v1.nii.gz", patch(write(p / "v1.nii"), VOX_OFFSET, "f", 100.0)
                         .read_bytes()),
     BoldError, r"v1.nii.gz has a damaged or malformed header .*vox offset 100 too low.*"
     r"it holds a NIfTI or Analyze header, gzipped", "open"),
    ("truncated .mgz", lambda p: _truncated_mgz(p / "t.mgz"), BoldError,
     r"t.mgz has a damaged or malformed header \(EOFError", "open"),
]  # fmt: skip


def _bytes(path: Path, blob: bytes) -> Path:
    path.write_bytes(blob)
    return path


def _link(folder: Path) -> Path:
    link = folder / "link.nii.gz"
    link.symlink_to(folder / "gone.nii.gz")
    return link


def _absurd_gz(path: Path) -> Path:
    img = nib.Nifti1Image(DATA, np.asarray(AFFINE))
    img.header["vox_offset"] = 352
    raw = bytearray(img.header.binaryblock + b"\0" * 4 + DATA.tobytes(order="F"))
    struct.pack_into("<4h", raw, DIM + 2, 32767, 32767, 32767, 32767)
    return gz_of_raw(path, bytes(raw))


def _truncated_mgz(path: Path) -> Path:
    nib.save(nib.MGHImage(DATA.astype(np.float32), np.asarray(AFFINE)), path)
    return cut(path, lambda n: n // 2)


@pytest.fixture
def folder(tmp_path) -> Path:
    write(tmp_path / "bold.nii.gz")
    return tmp_path


@pytest.mark.parametrize(("name", "build", "error", "match", "when"), BAD_SERIES,
                         ids=[c[0] for c in BAD_SERIES])  # fmt: skip
def test_bad_series(folder, name, build, error, match, when):
    path = build(folder)
    if when == "open":
        with pytest.raises(error, match=match) as info:
            open_nifti(path)
    else:
        bold = open_nifti(path, chunks=3)  # the header is intact: opening works
        with pytest.raises(error, match=match) as info:
            bold.compute()
    assert isinstance(info.value, RoixrError)
    # the same through roi_timeseries, given the path
    with pytest.raises(error, match=match):
        roi_timeseries(path, make_masks()).compute()


def test_missing_file_is_still_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_nifti(tmp_path / "none.nii.gz")


def test_enough_bad_inputs():
    assert len(BAD_SERIES) >= 30


# --- what is read as nibabel reads it -------------------------------------------------------


@pytest.mark.parametrize("slope", [0.0, np.nan, np.inf, -np.inf])
def test_unusable_slope_means_no_scaling_as_in_nibabel(tmp_path, slope):
    """scl_slope 0 means unscaled (the NIfTI standard); nibabel takes NaN and inf alike."""
    path = patch(write(tmp_path / "s.nii"), SCL_SLOPE, "ff", slope, 5.0)
    expected = np.asarray(nib.load(path).get_fdata(), np.float32)
    np.testing.assert_array_equal(expected, DATA)
    np.testing.assert_array_equal(open_nifti(path).values, expected)


@pytest.mark.parametrize("pixdim4", [0.0, -2.0, np.nan, np.inf])
def test_unusable_tr_warns_and_counts_volumes(tmp_path, pixdim4):
    path = patch(write(tmp_path / "t.nii"), PIXDIM4, "f", pixdim4)
    with pytest.warns(MetadataWarning, match="gives no repetition time"):
        bold = open_nifti(path)
    assert bold.attrs["tr"] is None and list(bold.time.values) == list(range(N_TIME))


def test_unknown_time_unit_warns(tmp_path):
    """Found by fuzzing: xyzt_units naming no unit (255) raised nibabel's KeyError."""
    path = patch(write(tmp_path / "u.nii"), XYZT_UNITS, "B", 255)
    with pytest.warns(MetadataWarning, match=r"unknown time unit \(xyzt_units 255\)"):
        bold = open_nifti(path)
    assert bold.attrs["tr"] == 1.5


def test_non_finite_toffset_warns(tmp_path):
    path = patch(write(tmp_path / "o.nii"), TOFFSET, "f", np.nan)
    with pytest.warns(MetadataWarning, match="non-finite time offset"):
        bold = open_nifti(path)
    np.testing.assert_allclose(bold.time.values, np.arange(N_TIME) * 1.5)


@pytest.mark.parametrize("tr", [0, -1.5, np.nan, np.inf, "2", True])
def test_bad_tr_option(tmp_path, tr):
    with pytest.raises(OptionError, match="tr must be a positive number of seconds"):
        open_nifti(write(tmp_path / "b.nii"), tr=tr)


def test_in_memory_images_are_checked_too():
    with pytest.raises(BoldError, match=r"the image \(in memory\) holds complex"):
        open_nifti(nib.Nifti1Image(DATA.astype(np.complex64), np.eye(4)))
    img = nib.Nifti1Image(DATA, np.eye(4))
    img._affine[0, 3] = np.nan
    with pytest.raises(BoldError, match="non-finite affine"):
        open_nifti(img)


def test_non_finite_affine_attr_of_a_dataarray():
    masks = make_masks()
    bold = xr.DataArray(DATA.astype(np.float32), dims=("x", "y", "z", "time"),
                        attrs={"affine": np.full((4, 4), np.nan).tolist()})  # fmt: skip
    with pytest.raises(BoldError, match=r"the bold series' attrs\['affine'\] is not finite"):
        roi_timeseries(bold, masks)
    bold.attrs["affine"] = "identity"
    with pytest.raises(BoldError, match=r"must be a 4×4 matrix of numbers"):
        roi_timeseries(bold, masks)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nii.bz2"])
def test_values_beyond_float32_are_an_error_when_computed(tmp_path, suffix):
    """Found by fuzzing: float data scaled beyond float32 (scl_slope and scl_inter 1e38)
    read as inf where nibabel's float64 is finite, silently."""
    data = (DATA / 7.0).astype(np.float32)
    path = tmp_path / f"big{suffix}"
    if suffix == ".nii.bz2":  # read through nibabel's proxy: float64 data beyond float32
        nib.save(nib.Nifti1Image(np.full((*SHAPE, 3), 1e300), np.asarray(AFFINE)), path)
    else:
        img = nib.Nifti1Image(data, np.asarray(AFFINE))
        img.header.set_slope_inter(1e38, 1e38)
        nib.save(img, path)
    bold = open_nifti(path, chunks=3)
    from roixr.timeseries import reader

    parked = len(reader._STREAMS)
    with pytest.raises(BoldError, match=r"big.* holds values that are beyond float32 once "):
        bold.compute()
    assert len(reader._STREAMS) == parked  # the gzip stream was closed, not left parked


def test_a_file_shortened_after_opening(tmp_path):
    path = write(tmp_path / "s.nii")
    bold = open_nifti(path, chunks=2)
    cut(path, lambda n: n - 300)
    with pytest.raises(BoldError, match=r"could not read volumes .* of .*s.nii: .*shorter than"):
        bold.compute()


def test_bad_label_images(tmp_path):
    bold = write(tmp_path / "b.nii")
    with pytest.raises(SubjectFileNotFoundError, match=r"the label image .*atlas.nii.gz does "):
        roi_timeseries(bold, tmp_path / "atlas.nii.gz")
    (tmp_path / "text.nii.gz").write_text("1 V1\n2 V2\n")
    with pytest.raises(FormError, match=r"the label image .*text.nii.gz is named .gz but is not"):
        roi_timeseries(bold, tmp_path / "text.nii.gz")


def test_good_files_still_equal_nibabel(tmp_path):
    """The checks refuse nothing nibabel reads correctly: NIfTI-1 and 2, plain and gzipped,
    MGZ, bz2, an Analyze pair, a NIfTI pair whose data start at byte 0."""
    paths = [write(tmp_path / "a.nii"), write(tmp_path / "a.nii.gz")]
    nib.save(nib.Nifti2Image(DATA, np.asarray(AFFINE)), tmp_path / "n2.nii")
    nib.save(nib.MGHImage(DATA.astype(np.float32), np.asarray(AFFINE)), tmp_path / "m.mgz")
    nib.save(nib.Nifti1Image(DATA, np.asarray(AFFINE)), tmp_path / "b.nii.bz2")
    nib.save(nib.AnalyzeImage(DATA, np.asarray(AFFINE)), tmp_path / "p.img")
    paths += [tmp_path / n for n in ("n2.nii", "m.mgz", "b.nii.bz2", "p.img", "p.hdr")]
    nib.save(nib.Nifti1Pair(DATA, np.asarray(AFFINE)), tmp_path / "q.img")
    assert nib.load(tmp_path / "q.img").dataobj.offset == 0
    paths.append(tmp_path / "q.hdr")
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetadataWarning)
            got = open_nifti(path, chunks=3).values
        np.testing.assert_array_equal(got, np.asarray(nib.load(path).get_fdata(), np.float32))


def test_truncated_gzip_leaves_no_decoder_running(tmp_path):
    """Found here: a .nii.gz ending before its data start left a rapidgzip decoder open
    (its reader failed while skipping to the data), and the interpreter aborted at exit
    (SIGABRT, exit code 134) after the error was reported."""
    path = cut(write(tmp_path / "bold.nii.gz", np.zeros((20, 20, 20, 30), np.float32)),
               lambda n: 200)  # fmt: skip
    code = (
        "import dask, roixr\n"
        "from roixr.errors import BoldError\n"
        "with dask.config.set({'roixr.gzip-threads': 2}):\n"
        f"    bold = roixr.open_nifti({str(path)!r}, chunks=5)\n"
        "    try:\n"
        "        bold.compute()\n"
        "    except BoldError:\n"
        "        print('BoldError')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    if "BoldError" not in out.stdout:  # the header itself is cut: refused when opened
        assert "BoldError" in out.stderr and "Traceback" in out.stderr
    assert out.returncode in (0, 1) and "terminate called" not in out.stderr, out.stderr


def test_header_cut_inside_the_data_start_regression(tmp_path):
    """The same with the header intact and the data cut before their first byte."""
    path = write(tmp_path / "bold.nii.gz", np.zeros((20, 20, 20, 30), np.float32))
    raw = gzip.decompress(path.read_bytes())
    gz_of_raw(path, raw[:351])  # the header and extension flag, without the data
    code = (
        "import dask, roixr\n"
        "from roixr.errors import BoldError\n"
        "with dask.config.set({'roixr.gzip-threads': 2}):\n"
        "    try:\n"
        f"        roixr.open_nifti({str(path)!r}, chunks=5).compute()\n"
        "    except BoldError as err:\n"
        "        print('BoldError', err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "BoldError" in out.stdout and "terminate called" not in out.stderr


# --- the command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_store(synth_dir, tmp_path_factory):
    """A masks store of the synthetic subject, and a good bold image on its grid."""
    folder = tmp_path_factory.mktemp("cli")
    store = folder / "m.zarr"
    before = snapshot(synth_dir)
    assert main(["-q", "masks", str(synth_dir), "fullhead", "--rois", "V1", "--out",
                 str(store)]) == 0  # fmt: skip
    assert snapshot(synth_dir) == before
    t = roixr.Subject(synth_dir).transform("fullhead")
    data = np.random.default_rng(0).random((*t.shape, 4)).astype("f4")
    nib.save(nib.Nifti1Image(data, t.affine), folder / "bold.nii.gz")
    return store, folder


def run(capsys, *args) -> tuple[int, str]:
    code = main(["-q", *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    ("bold", "match"),
    [
        ("bold_tpyo.nii.gz", r"bold_tpyo.nii.gz does not exist. Did you mean 'bold.nii.gz'"),
        ("text.nii.gz", r"text.nii.gz is named .gz but is not gzipped: it holds text"),
        ("short.nii", r"short.nii is too short: its header describes"),
        ("bad.png", r"bad.png is not an image nibabel reads .*a PNG picture"),
        (".", r"is a folder, not an image file"),
    ],
)
def test_cli_bad_bold_is_one_line(capsys, cli_store, synth_dir, bold, match):
    store, folder = cli_store
    (folder / "text.nii.gz").write_text("hello\n")
    _png(folder / "bad.png")
    t = roixr.Subject(synth_dir).transform("fullhead")
    cut(write(folder / "short.nii", np.zeros((*t.shape, 3), np.int16), t.affine),
        lambda n: n - 10)  # fmt: skip
    before = snapshot(synth_dir)
    table = folder / "ts.csv"
    code, err = run(capsys, "timeseries", folder / bold, store, "--out", table)
    assert code == 1 and err.startswith("roixr: error: ") and err.count("\n") == 1, err
    assert __import__("re").search(match, err), err
    assert not table.exists() and snapshot(synth_dir) == before


def test_cli_bad_bold_in_a_subprocess(cli_store):
    store, folder = cli_store
    cmd = [sys.executable, "-m", "roixr", "-q", "timeseries", str(folder / "bold_tpyo.nii.gz"),
           str(store), "--out", str(folder / "t.csv")]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("roixr: error: the image ") and "Did you mean" in out.stderr


def test_cli_unexpected_errors_are_one_line(capsys, cli_store, monkeypatch):
    """An exception roixr did not foresee is one line (with the variable that shows its
    traceback); an OSError names the file."""
    store, folder = cli_store
    args = ("timeseries", folder / "bold.nii.gz", store, "--out", folder / "u.csv")

    def fails(*a, **k):
        raise ValueError("something roixr did not foresee")

    monkeypatch.setattr("roixr.timeseries.open_nifti", fails)
    code, err = run(capsys, *args)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("roixr: error: unexpected ValueError: something roixr did not")
    assert f"{TRACEBACK_VARIABLE}=1" in err
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    with pytest.raises(ValueError, match="did not foresee"):
        main(["-q", *map(str, args)])
    monkeypatch.delenv(TRACEBACK_VARIABLE)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", str(folder / "bold.nii.gz"))

    monkeypatch.setattr("roixr.timeseries.open_nifti", denied)
    code, err = run(capsys, *args)
    assert code == 1 and err == f"roixr: error: Permission denied: {folder / 'bold.nii.gz'}\n"


def test_cli_good_bold_still_works(capsys, cli_store):
    store, folder = cli_store
    code, _ = run(capsys, "timeseries", folder / "bold.nii.gz", store, "--out",
                  folder / "good.csv", "--overwrite")  # fmt: skip
    assert code == 0 and (folder / "good.csv").exists()


def test_cli_bad_masks_and_out(capsys, cli_store):
    store, folder = cli_store
    (folder / "adir.csv").mkdir(exist_ok=True)
    bold = folder / "bold.nii.gz"
    code, err = run(capsys, "timeseries", bold, store, "--out", folder / "adir.csv",
                    "--overwrite")  # fmt: skip
    assert code == 1 and "adir.csv is a folder; give the name of the table" in err
    code, err = run(capsys, "timeseries", bold, bold, "--out", folder / "x.csv")
    assert code == 1 and "is an image; 'roixr timeseries' takes a masks store" in err
    code, err = run(capsys, "timeseries", bold, folder / "none.zarr", "--out", folder / "x.csv")
    assert code == 1 and err.startswith("roixr: error: ") and err.count("\n") == 1
