"""extract_cohort and open_timeseries on a real distributed cluster and real zarr stores:
masks once per (subject, grid), each run's series equal to roi_timeseries by hand and to
nilearn's NiftiLabelsMasker, faults recorded while the others complete, re-runs, a worker
killed mid-extraction, the store's layout, and the command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr
from distributed import Client, LocalCluster, get_task_stream
from fs_fixtures import hemisphere_verts, write_annot, write_itk

import roixr
from roixr.cohort import timeseries_status
from roixr.cohort.series_store import SeriesStore
from roixr.errors import (
    CohortError,
    CohortMismatchError,
    IncompleteCohortWarning,
    IncompleteStoreError,
    OptionError,
    StoreKindError,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning"),
    pytest.mark.filterwarnings("ignore::roixr.errors.MissingRoiWarning"),
]

COLUMNS = ["subject", "session", "task", "acquisition", "direction", "run", "echo", "space",
           "bold", "reference", "registration", "registration_kind", "white_L", "white_R",
           "pial_L", "pial_R", "freesurfer", "t1w", "layout", "problem"]  # fmt: skip
ANNOTS = {
    "01": ["V1", "CUT", "A", "CURVY"],
    "02": ["V1", "A", "B"],  # B overlaps A: written last, it takes their shared vertices
}


def write_bold(path: Path, reference: Path, n: int, tr: float, seed: int) -> Path:
    """A series in ``reference``'s grid: smooth ROI-scale signals plus noise."""
    ref = nib.load(str(reference))
    rng = np.random.default_rng(seed)
    data = (100 + 10 * rng.standard_normal((*ref.shape[:3], n))).astype(np.float32)
    img = nib.Nifti1Image(data, ref.affine)
    img.header.set_zooms((*ref.header.get_zooms()[:3], tr))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))
    return path


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


class Tree:
    """A small derivatives-like tree built from the synthetic subject: subjects, runs in
    two grids, FreeSurfer annotations, an ITK registration, and the faults."""

    def __init__(self, root: Path, extra: tuple[int, int] = (0, 0)) -> None:
        self.root = root
        synth = roixr.datasets.synthetic_subject(root / "synth")
        self.synth = synth
        self.surfaces = {f"{s}_{h}": str(synth / "surfaces" / f"{f}_{lh}.gii")
                         for s, f in (("white", "wm"), ("pial", "pia"))
                         for h, lh in (("L", "lh"), ("R", "rh"))}  # fmt: skip
        self.full = synth / "transforms" / "fullhead" / "reference.nii.gz"
        self.oblique = synth / "transforms" / "oblique" / "reference.nii.gz"
        subj = roixr.Subject(synth)
        n_lh = subj.n_vertices("lh")
        n = {"lh": n_lh, "rh": subj.n_vertices("rh")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verts = hemisphere_verts(roixr.roi_verts(subj), n_lh)
        self.annots = {}
        for sub in ("01", "02", "03"):
            label = root / "freesurfer" / f"sub-{sub}" / "label"
            label.mkdir(parents=True)
            if sub in ANNOTS:
                rois = {k: verts[k] for k in ANNOTS[sub]}
                self.annots[sub] = write_annot(rois, n, label, "aparc")
        self.rows: list[dict] = []
        # the oblique grid's registration: anatomical → functional RAS, fMRIPrep's ITK file
        matrices = json.loads((synth / "transforms" / "oblique" / "matrices.xfm").read_text())
        magnet = np.array(matrices["magnet"])
        func = root / "deriv"
        for sub in ("01", "02", "03", "04"):
            (func / f"sub-{sub}" / "func").mkdir(parents=True)
        self.itk = write_itk(
            magnet, func / "sub-01/func/sub-01_task-motor_from-boldref_to-T1w_mode-image_xfm.txt"
        )
        self.add("01", "rest", "1", "T1w", 7, 2.0, self.full, "identity")
        self.add("01", "rest", "2", "T1w", 10, 2.0, self.full, "identity")
        self.add("01", "motor", "1", None, 6, 1.5, self.oblique, str(self.itk))
        self.add("02", "rest", "1", "T1w", 8, 2.0, self.full, "identity", gz=False)
        for k in range(extra[0]):  # more good runs, of extra[1] volumes
            self.add("02", "rest", str(k + 3), "T1w", extra[1], 2.0, self.full, "identity")
        self.add("02", "rest", "2", "T1w", 9, 2.0, self.full, "identity")
        self.truncated = Path(self.rows[-1]["bold"])
        truncate(self.truncated)
        # a series in the oblique grid whose boldref is in the fullhead grid
        self.add("02", "motor", "1", "T1w", 5, 2.0, self.full, "identity", grid=self.oblique)
        self.add("03", "rest", "1", "T1w", 6, 2.0, self.full, "identity")
        self.rows.append({**self.rows[-1], "subject": "04", "bold": None, "reference": None,
                          "registration": None, "problem": "no boldref found"})  # fmt: skip

    def add(self, sub, task, run, space, n, tr, ref, reg, gz=True, grid=None) -> None:
        folder = self.root / "deriv" / f"sub-{sub}" / "func"
        stem = f"sub-{sub}_task-{task}_run-{run}" + (f"_space-{space}" if space else "")
        boldref = folder / f"{stem}_boldref.nii.gz"
        shutil.copy(ref, boldref)  # each run its own boldref file; some share a grid
        bold = folder / f"{stem}_desc-preproc_bold.nii{'.gz' if gz else ''}"
        write_bold(bold, grid or ref, n, tr, seed=len(self.rows))
        self.rows.append({
            "subject": sub, "session": None, "task": task, "acquisition": None,
            "direction": None, "run": run, "echo": None, "space": space, "bold": str(bold),
            "reference": str(boldref), "registration": reg,
            "registration_kind": "identity" if reg == "identity" else "affine",
            **self.surfaces, "freesurfer": str(self.root / "freesurfer" / f"sub-{sub}"),
            "t1w": None, "layout": "fmriprep", "problem": None,
        })  # fmt: skip

    def row(self, bold: str) -> dict:
        return next(r for r in self.rows if r["bold"] == bold)

    def runs(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)

    def by_hand(self, row: dict, stat: str = "mean") -> xr.DataArray:
        """roi_masks and roi_timeseries on one run, with the run's registration."""
        sub = roixr.Subject.from_surfaces(
            white=(row["white_L"], row["white_R"]), pial=(row["pial_L"], row["pial_R"]),
            name=f"sub-{row['subject']}",
        )  # fmt: skip
        masks = roixr.roi_masks(sub, (row["reference"], row["registration"]),
                                source=self.annots[row["subject"]])  # fmt: skip
        return roixr.roi_timeseries(roixr.open_nifti(row["bold"]), masks, stat).compute()


GOOD = ["sub-01_task-rest_run-1_space-T1w", "sub-01_task-rest_run-2_space-T1w",
        "sub-01_task-motor_run-1", "sub-02_task-rest_run-1_space-T1w"]  # fmt: skip
BAD = {
    "sub-02_task-rest_run-2_space-T1w": "BoldError: could not decompress",
    "sub-02_task-motor_run-1_space-T1w": "GridMismatchError",
    "sub-03_task-rest_run-1_space-T1w": "RoiSourceError: no annotation 'aparc'",
    "sub-04_task-rest_run-1_space-T1w": "no boldref found",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Tree:
    return Tree(tmp_path_factory.mktemp("extract"))


@pytest.fixture(scope="module")
def extracted(tree, client, tmp_path_factory):
    """The tree extracted once (with its faults), with the task stream."""
    store = tmp_path_factory.mktemp("out") / "ts.zarr"
    with get_task_stream(client) as stream:
        with pytest.raises(CohortError) as info:
            roixr.extract_cohort(tree.runs(), store, source="aparc", client=client)
    return store, info.value, stream.data


def test_faults_recorded_while_the_others_complete(extracted):
    store, err, _ = extracted
    assert "4 of 8 runs failed" in err.problem and err.option == "redo_runs"
    status = timeseries_status(store)
    assert [n for n, s in status.items() if s["status"] == "complete"] == GOOD
    for name, why in BAD.items():
        assert status[name]["status"] == "failed"
        assert why in status[name]["error"], status[name]["error"]
    assert "computing its masks" in status["sub-03_task-rest_run-1_space-T1w"]["error"]
    assert not zarr.open_group(str(store), mode="r").attrs["roixr_complete"]


def test_masks_once_per_subject_and_grid(extracted, tree):
    store, _, stream = extracted
    masks_tasks = [t for t in stream if t["key"].startswith("roixr-masks-")]
    series_tasks = {t["key"] for t in stream if t["key"].startswith("roixr-series-")}
    # sub-01: fullhead (2 runs, two boldref files), oblique + ITK; sub-02: fullhead (the
    # truncated run and the off-grid run share it); sub-03: fullhead (fails)
    assert len(masks_tasks) == 4
    assert len(series_tasks) == 6  # every run with masks, one task each
    ds = open_quiet(store)
    groups = dict(zip(ds.run.values, ds.masks_group.values, strict=True))
    assert groups[GOOD[0]] == groups[GOOD[1]] != groups[GOOD[2]]
    assert len([p for p in (store / "masks").iterdir() if p.is_dir()]) == 3  # sub-03 failed


def open_quiet(store, **kw) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteCohortWarning)
        return roixr.open_timeseries(store, **kw)


def test_equals_roi_timeseries_by_hand(extracted, tree):
    store, _, _ = extracted
    ds = open_quiet(store)
    rows = {n: tree.row(b) for n, b in zip(ds.run.values, ds.bold.values, strict=True)}
    for name in GOOD:
        want = tree.by_hand(rows[name])
        got = ds.roi_timeseries.sel(run=name)
        n = int(ds.n_volumes.sel(run=name))
        assert n == want.sizes["time"]
        np.testing.assert_array_equal(
            got.sel(roi=want.roi.values).isel(time=slice(0, n)).values, want.values
        )
        assert np.isnan(got.isel(time=slice(n, None)).values).all()  # NaN past the end
        others = [r for r in ds.roi.values if r not in want.roi.values]
        assert np.isnan(got.sel(roi=others).values).all()  # ROIs its masks lack
        np.testing.assert_allclose(
            ds.coverage.sel(run=name, roi=want.roi.values).values, want.coverage.values,
            rtol=1e-6,
        )  # fmt: skip
        assert float(ds.repetition_time.sel(run=name)) == float(want.attrs["bold_tr"])


def signed_labels(masks: xr.DataArray) -> nib.Nifti1Image:
    """The masks' index volume as nilearn's labels: 2i - 1 left, 2i right (positive)."""
    index, _ = roixr.to_index_volume(masks)
    v = np.asarray(index.values)
    labels = np.where(v < 0, -2 * v - 1, 2 * v).astype(np.int32)
    return nib.Nifti1Image(labels, np.asarray(masks.attrs["affine"]))


def test_equals_nilearn_labels_masker(extracted, tree):
    from nilearn.maskers import NiftiLabelsMasker

    store, _, _ = extracted
    ds = open_quiet(store)
    for name in GOOD[1:3]:  # a T1w-space run and a boldref-space run with an ITK registration
        run = ds.sel(run=name)
        masks = roixr.open_roi_masks(store, group=str(run.masks_group.values))
        image = signed_labels(masks)
        masker = NiftiLabelsMasker(image, strategy="mean", resampling_target=None,
                                   standardize=None)  # fmt: skip
        table = masker.fit_transform(str(run.bold.values))  # (time, labels, increasing)
        labels = sorted(set(np.unique(np.asarray(image.dataobj)).tolist()) - {0})
        n = int(run.n_volumes)
        assert table.shape == (n, len(labels))
        names = [str(r) for r in masks.roi.values]
        for column, label in enumerate(labels):
            roi, hemi = names[(label - 1) // 2], "L" if label % 2 else "R"
            got = run.roi_timeseries.sel(roi=roi, hemisphere=hemi).values[:n]
            np.testing.assert_allclose(got, table[:, column], rtol=1e-5)


def test_open_timeseries(extracted, tmp_path):
    store, _, _ = extracted
    with pytest.warns(IncompleteCohortWarning, match="4 run") as record:
        ds = roixr.open_timeseries(store)
    for name in BAD:
        assert name in str(record[0].message)
    assert set(json.loads(ds.attrs["roixr_incomplete"])) == set(BAD)
    ds.isel(run=[0]).compute().to_netcdf(tmp_path / "one_run.nc")  # netCDF-safe attrs
    assert xr.open_dataset(tmp_path / "one_run.nc").attrs["stat"] == "mean"
    assert list(ds.run.values) == GOOD  # incomplete runs are left out, not NaN-filled
    ts = ds.roi_timeseries
    assert ts.dims == ("run", "roi", "hemisphere", "time") and ts.dtype == np.float32
    assert ts.chunks[0] == (1,) * len(GOOD)  # lazy, one chunk per run
    assert list(ds.n_volumes.values) == [7, 10, 6, 8]
    assert ds.sizes["time"] == 10 and list(ds.hemisphere.values) == ["L", "R"]
    assert list(ds.subject.values) == ["01", "01", "01", "02"]
    assert list(ds.task.values) == ["rest", "rest", "motor", "rest"]
    assert list(ds.run_index.values) == ["1", "2", "1", "1"]
    assert list(ds.space.values) == ["T1w", "T1w", "", "T1w"]
    np.testing.assert_array_equal(ds.repetition_time.values, [2.0, 2.0, 1.5, 2.0])
    assert ds.roi.values.tolist() == ["V1", "CUT", "A", "CURVY", "B"]  # the union, in order
    assert ds.coverage.dims == ("run", "roi")
    assert ds.attrs["stat"] == "mean" and ds.attrs["source"] == "aparc"
    means = ds.roi_timeseries.groupby("subject").mean()
    assert list(means.subject.values) == ["01", "02"]
    assert ds.sel(run=GOOD[0]).roi_timeseries.sizes["time"] == 10
    frame = ds.roi_timeseries.isel(run=[0]).to_dataframe()
    assert len(frame) == ds.sizes["roi"] * 2 * 10
    assert np.isnan(ds.roi_timeseries.sel(run=GOOD[0]).isel(time=slice(7, None))).all()
    with pytest.raises(IncompleteStoreError, match="failed or whose extraction") as info:
        roixr.open_timeseries(store, strict=True)
    assert BAD and all(name in str(info.value) for name in BAD)


def test_store_layout(extracted):
    store, _, _ = extracted
    root = zarr.open_group(str(store), mode="r")
    arr = root["roi_timeseries"]
    assert arr.chunks == (1, *arr.shape[1:])  # one run a chunk: no two tasks share one
    assert root["status"].dtype == np.int8
    chunk_files = list((store / "roi_timeseries" / "c").rglob("*"))
    assert len([f for f in chunk_files if f.is_file()]) == len(GOOD)
    assert root.attrs["roixr_kind"] == "timeseries"
    assert root.attrs["roixr_options"]["sampler"] == "cortical"
    assert set(root.attrs["roixr_errors"]) == set(BAD)
    with pytest.raises(StoreKindError, match="time-series store"):
        roixr.open_cohort(store)
    with pytest.raises(StoreKindError, match="time-series store"):
        roixr.open_roi_masks(store)


def test_bad_calls(extracted, tree, client, tmp_path):
    store, _, _ = extracted
    stamp = (store / "zarr.json").stat().st_mtime_ns
    with pytest.raises(CohortMismatchError, match=r"other options.*sampler='thin'"):
        roixr.extract_cohort(tree.runs(), store, source="aparc", sampler="thin", client=client)
    with pytest.raises(CohortMismatchError, match="stat='median'"):
        roixr.extract_cohort(tree.runs(), store, source="aparc", stat="median", client=client)
    assert (store / "zarr.json").stat().st_mtime_ns == stamp  # refused before anything
    with pytest.raises(OptionError, match="stat must be one of") as info:
        roixr.extract_cohort(tree.runs(), tmp_path / "s.zarr", source="aparc", stat="mode",
                             client=client)  # fmt: skip
    assert info.value.option == "stat"
    for svg in ({}, {"source": "overlays.svg"}, {"overlay_file": "x.svg", "source": None}):
        with pytest.raises(OptionError, match="do not have") as info:  # no flatmap: refused
            roixr.extract_cohort(tree.runs(), tmp_path / "s.zarr", client=client, **svg)
        assert info.value.option == "source" and "source='aparc'" not in info.value.problem
    with pytest.raises(OptionError, match="redo names runs not in the runs table"):
        roixr.extract_cohort(tree.runs(), tmp_path / "s.zarr", source="aparc", redo=["nope"],
                             client=client)  # fmt: skip
    with pytest.raises(OptionError, match="missing: \\['bold'"):
        roixr.extract_cohort(tree.runs().drop(columns="bold"), tmp_path / "s.zarr")
    with pytest.raises(OptionError, match="unknown option"):
        roixr.extract_cohort(tree.runs(), tmp_path / "s.zarr", source="aparc", colour="red")
    assert not (tmp_path / "s.zarr").exists()
    cohort = tmp_path / "c.zarr"
    roixr.write_cohort({"s": (tree.synth, "fullhead")}, cohort, client=client, rois=["V1"])
    with pytest.raises(StoreKindError, match="cohort store, not a time-series store"):
        roixr.extract_cohort(tree.runs(), cohort, source="aparc", client=client)
    with pytest.raises(StoreKindError, match="cohort store, not a time-series store"):
        roixr.open_timeseries(cohort)


def test_rerun_redoes_only_the_failed_then_adds_runs(tmp_path, client, capsys):
    tree = Tree(tmp_path / "tree")
    runs = tree.runs()
    store = tmp_path / "ts.zarr"
    first = runs[runs.subject == "01"]  # sub-01 alone first: ROIs V1, CUT, A, CURVY
    assert roixr.extract_cohort(first, store, source="aparc", client=client) == GOOD[:3]
    chunk = store / "roi_timeseries" / "c" / "0" / "0" / "0" / "0"
    stamp = chunk.stat().st_mtime_ns
    # then every run: sub-02 adds ROI B and the faults; sub-01's runs are not redone
    with pytest.raises(CohortError, match="4 of 5 runs failed"):
        roixr.extract_cohort(runs, store, source="aparc", client=client)
    assert chunk.stat().st_mtime_ns == stamp
    # fix three faults: rewrite the truncated series, give sub-03 its labels, put the
    # off-grid series on its boldref's grid; sub-04's problem stays
    write_bold(tree.truncated, tree.full, 9, 2.0, seed=1)
    label = tmp_path / "tree" / "freesurfer" / "sub-03" / "label"
    for f in tree.annots["01"]:
        shutil.copy(f, label / f.name)
    tree.annots["03"] = tuple(label / f.name for f in tree.annots["01"])
    off = tree.row(str(tmp_path / "tree/deriv/sub-02/func/"
                       "sub-02_task-motor_run-1_space-T1w_desc-preproc_bold.nii.gz"))  # fmt: skip
    write_bold(Path(off["bold"]), tree.full, 5, 2.0, seed=2)
    with pytest.raises(CohortError, match="1 of 4 runs failed") as info:
        roixr.extract_cohort(runs, store, source="aparc", client=client)
    assert "sub-04_task-rest_run-1_space-T1w: no boldref found" in str(info.value)
    assert chunk.stat().st_mtime_ns == stamp
    ds = open_quiet(store)
    assert list(ds.run.values) == [*GOOD, *sorted(set(BAD) - {"sub-04_task-rest_run-1_space-T1w"},
                                                   key=list(BAD).index)]  # fmt: skip
    assert ds.roi.values.tolist() == ["V1", "CUT", "A", "CURVY", "B"]
    for name in ds.run.values:
        want = tree.by_hand(tree.row(str(ds.bold.sel(run=name).values)))
        got = ds.roi_timeseries.sel(run=name, roi=want.roi.values)
        np.testing.assert_array_equal(got.isel(time=slice(0, want.sizes["time"])), want)
    assert np.isnan(ds.roi_timeseries.sel(run=GOOD[0], roi="B")).all()  # not in its masks
    # redo forces a complete run, and only it (sub-04 left out of the table)
    good = runs[runs.subject != "04"]
    capsys.readouterr()
    assert roixr.extract_cohort(good, store, source="aparc", client=client, progress=True,
                                redo=GOOD[0]) == [GOOD[0]]  # fmt: skip
    bars = capsys.readouterr().err
    assert "masks [" in bars and "runs [" in bars and "1/1" in bars
    assert chunk.stat().st_mtime_ns != stamp


def test_worker_killed_mid_extraction(tmp_path):
    """A worker process dies while runs are extracted: its task reruns, nothing is lost."""
    tree = Tree(tmp_path / "tree", extra=(24, 150))
    runs = tree.runs()
    runs = runs[runs.problem.isna() & (runs.subject != "03")]
    runs = runs[~runs.bold.isin([str(tree.truncated)]) & (runs.task == "rest")]
    store = tmp_path / "ts.zarr"
    chunks = store / "roi_timeseries" / "c"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:  # fmt: skip
        pids = c.run(os.getpid)
        result: dict = {}
        thread = threading.Thread(target=lambda: result.setdefault(
            "done", roixr.extract_cohort(runs, store, source="aparc", client=c)))  # fmt: skip
        thread.start()
        deadline = time.monotonic() + 120
        while not (chunks.exists() and any(p.is_file() for p in chunks.rglob("*"))):
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.01)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        killed_before_done = thread.is_alive()
        thread.join(timeout=300)
    assert killed_before_done
    assert len(result["done"]) == len(runs)
    ds = roixr.open_timeseries(store)  # no warning: every run complete
    assert zarr.open_group(str(store), mode="r").attrs["roixr_complete"]
    for name in ds.run.values[::5]:
        want = tree.by_hand(tree.row(str(ds.bold.sel(run=name).values)))
        got = ds.roi_timeseries.sel(run=name, roi=want.roi.values)
        np.testing.assert_array_equal(got.isel(time=slice(0, want.sizes["time"])), want)


def test_client_killed_leaves_runs_unfinished(tmp_path):
    """Runs the client never recorded stay unfinished, never complete-looking; a re-run
    finishes them."""
    tree = Tree(tmp_path / "tree")
    runs = tree.runs()
    runs = runs[runs.subject == "01"]
    store = tmp_path / "ts.zarr"
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, Client(
        cluster
    ) as c:  # fmt: skip
        roixr.extract_cohort(runs, store, source="aparc", client=c)
        # as if the client died after the tasks wrote their data but before it recorded
        # them: statuses back to unfinished
        ts = SeriesStore(store, zarr.open_group(str(store)).attrs["roixr_options"])
        ts.record({name: (0, None, None) for name in GOOD[1:3]})
        zarr.open_group(str(store), mode="r+").attrs["roixr_complete"] = False
        status = timeseries_status(store)
        assert [s["status"] for s in status.values()] == ["complete", "unfinished", "unfinished"]
        with pytest.warns(IncompleteCohortWarning, match="2 run"):
            assert list(roixr.open_timeseries(store).run.values) == GOOD[:1]
        assert roixr.extract_cohort(runs, store, source="aparc", client=c) == GOOD[1:3]
    assert list(roixr.open_timeseries(store).run.values) == GOOD[:3]


def test_open_ten_thousand_runs_is_quick(tmp_path):
    """A synthetic 10,000-run store (written by the client's own code) opens lazily."""
    from roixr.cohort.series_store import RunInfo

    n = 10_000
    ts = SeriesStore(tmp_path / "big.zarr", {"stat": "mean"})
    infos = [RunInfo(f"sub-{i // 4:04d}_task-rest_run-{i % 4 + 1}",
                     {"subject": f"{i // 4:04d}", "task": "rest", "run": str(i % 4 + 1)},
                     f"/data/{i}.nii.gz", "masks/x", 200 + i % 7) for i in range(n)]  # fmt: skip
    ts.add_runs(infos, [f"roi{k}" for k in range(70)], 206)
    ts.record({r.name: (1, None, 2.0) for r in infos})
    start = time.perf_counter()
    ds = roixr.open_timeseries(tmp_path / "big.zarr")
    took = time.perf_counter() - start
    assert ds.sizes == {"run": n, "roi": 70, "hemisphere": 2, "time": 206}
    assert ds.roi_timeseries.chunks[0] == (1,) * n
    assert int(ds.n_volumes[5]) == 205
    assert np.isnan(ds.roi_timeseries[3, 0, 0, 0].values)  # never written: NaN
    assert took < 10  # about 0.1 s here (see the docs); a loose bound for slow machines


# --- the command line, on a derivatives tree found by find_runs -----------------------------


@pytest.fixture(scope="module")
def derivatives(tmp_path_factory) -> Path:
    return roixr.datasets.fmriprep_like(
        tmp_path_factory.mktemp("fmriprep") / "fmriprep", subjects=("01", "02"), sessions=None,
        tasks=("rest",), spaces=("boldref", "T1w", "MNI152NLin2009cAsym"), n_volumes=8,
    )  # fmt: skip


def cli(capsys, *args) -> tuple[int, str, str]:
    from roixr.cli import main

    code = main(["-q", *map(str, args)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_extract_command(derivatives, client, capsys, tmp_path):
    out = tmp_path / "ts.zarr"
    address = client.scheduler.address
    code, text, err = cli(capsys, "extract", derivatives, out, "--participant-label", "01",
                          "--source", "aparc", "--scheduler", address)  # fmt: skip
    assert code == 0, err
    assert "3 run(s) found" in text and "3 run(s) extracted, 0 already complete" in text
    ds = roixr.open_timeseries(out)
    assert set(ds.subject.values) == {"01"} and set(ds.space.values) == {
        "",
        "T1w",
        "MNI152NLin2009cAsym",
    }
    # each run as roi_timeseries by hand, with the registration find_runs found (the
    # template run through the subject's nonlinear warp)
    runs = roixr.find_runs(derivatives, subjects="01")
    for row in runs.to_dict("records"):
        sub = roixr.Subject.from_surfaces(
            white=(row["white_L"], row["white_R"]),
            pial=(row["pial_L"], row["pial_R"]),
            name="sub-01",
        )
        label = Path(row["freesurfer"]) / "label"
        masks = roixr.roi_masks(
            sub,
            (row["reference"], row["registration"]),
            source=(label / "lh.aparc.annot", label / "rh.aparc.annot"),
        )
        want = roixr.roi_timeseries(roixr.open_nifti(row["bold"]), masks).compute()
        got = ds.roi_timeseries.isel(run=list(ds.bold.values).index(row["bold"]))
        np.testing.assert_array_equal(got.sel(roi=want.roi.values), want)  # fmt: skip
    # every subject now: only sub-02's runs are extracted
    code, text, _ = cli(capsys, "extract", derivatives, out, "--source", "aparc",
                        "--scheduler", address)  # fmt: skip
    assert code == 0 and "3 run(s) extracted, 3 already complete" in text
    code, text, _ = cli(capsys, "status", out)
    assert code == 0 and "6 runs, 6 complete, 0 unfinished, 0 failed" in text
    assert "options: sampler cortical" in text and "listed with --all" in text
    code, text, _ = cli(capsys, "status", out, "--all")
    assert "complete (6):\n  sub-01_task-rest" in text
    # other options: refused, in flags
    code, _, err = cli(capsys, "extract", derivatives, out, "--source", "aparc", "--sampler",
                       "thin", "--scheduler", address)  # fmt: skip
    assert code == 1 and "sampler='thin'" in err and "Pass the flags the store was" in err
    assert "fix=" not in err and "roixr." not in err.split("Pass the flags")[1]


def test_extract_command_failures(derivatives, client, capsys, tmp_path):
    tree = tmp_path / "fmriprep"
    shutil.copytree(derivatives, tree)
    (tree / "sourcedata/freesurfer/sub-02/label/lh.aparc.annot").unlink()
    out = tmp_path / "ts.zarr"
    address = client.scheduler.address
    code, _, err = cli(capsys, "extract", tree, out, "--source", "aparc", "--scheduler", address)
    assert code == 4 and "3 of 6 runs failed" in err and "no annotation 'aparc'" in err
    assert "'roixr status OUTPUT' lists them" in err and "roixr.open" not in err
    code, text, _ = cli(capsys, "status", out)
    assert "6 runs, 3 complete, 0 unfinished, 3 failed" in text
    assert "failed (3):\n  sub-02_task-rest" in text and "RoiSourceError" in text
    code, _, err = cli(capsys, "status", out, "--drop", "x")
    assert code == 1 and "time-series store" in err
    with pytest.raises(SystemExit) as info:
        cli(capsys, "extract", tree, out, "--stat", "mode")
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        cli(capsys, "extract", tree, out, "--scheduler", "a", "--scheduler-file", "b")
    code, _, err = cli(capsys, "extract", tree, out, "--scheduler-file", tmp_path / "none.json")
    assert code == 1 and "--scheduler-file" in err and "no such file" in err
    code, _, err = cli(capsys, "extract", tree, tmp_path / "no" / "ts.zarr")
    assert code == 1 and "does not exist; create it first" in err
