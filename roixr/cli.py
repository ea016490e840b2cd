"""The ``roixr`` command line.

Commands::

    roixr demo [--out STORE]                  masks for the embedded synthetic subject, to zarr
    roixr masks SUBJECT [XFM] --out STORE [--nifti FILE] [--sampler S] [--rois R ...] ...
        [--freesurfer] [--source SPEC ...] [--reference IMG --registration FILE|identity]
    roixr cohort LIST --out STORE [--scheduler ADDRESS | --scheduler-file FILE] [--sampler S]
        [--redo NAME ...] ...                 many subjects' masks on a dask cluster
    roixr extract DERIVATIVES OUTPUT [--participant-label L ...] [--session-label L ...]
        [--task T ...] [--space S ...] [--source aparc] [--stat mean] [--scheduler ADDRESS |
        --scheduler-file FILE] [--redo RUN ...] ...   ROI time series of a derivatives folder
    roixr status STORE [--drop NAME ...]      what a store holds; a cohort's subjects, a
                                              time-series store's runs
    roixr upgrade STORE NEW                   a cohort store of roixr 0.1, copied into the
                                              current layout
    roixr timeseries BOLD MASKS --out FILE.csv [--stat mean]
    roixr report STORE [--out FOLDER]          an HTML report (pictures, tables, provenance)
    roixr verts SUBJECT [--rois R ...]        vertex counts of the ROIs

``LIST`` is a text file with one subject a line: ``name subject xfm [source ...]``
(whitespace or comma separated; ``#`` starts a comment). ``subject`` is a pycortex subject
(folder or name) or ``fs:DIR`` for a FreeSurfer subject directory; ``xfm`` is a transform
name or ``REFERENCE+REGISTRATION`` (a reference image and a registration file, or
``identity``); ``source``, if given, is that subject's own ROI source (as ``--source``).
A store may be a URL (``s3://bucket/masks.zarr``, ``gs://...``): its credentials come from
the environment, as the protocol's fsspec filesystem reads them (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``). Every output name is checked before
anything is computed; roixr never creates parent folders (nor buckets). Errors are one
line on stderr, never a traceback (``ROIXR_TRACEBACK=1`` shows it for an error roixr did
not foresee), and speak in flags. Exit codes say what failed:

== ====================================================================
0  success
1  bad input: subject, transform, overlay, option (the message says what to fix)
2  usage error
3  the output exists (pass --overwrite)
4  some subjects of a cohort, or runs of an extraction, failed (the others were written)
5  a store's earlier write did not finish
== ====================================================================
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from roixr import __version__
from roixr.errors import (
    CohortError,
    IncompleteStoreError,
    OptionError,
    OutputExistsError,
    OutputPathError,
    RoixrError,
    StoreExistsError,
)

__all__ = ["main"]

# set to show the traceback of an error roixr did not foresee (otherwise one line)
TRACEBACK_VARIABLE = "ROIXR_TRACEBACK"

# roi_timeseries's statistics, nilearn's names and short ones (kept in step: tested)
STAT_NAMES = ("mean", "median", "sum", "minimum", "maximum", "variance", "standard_deviation",
              "count", "min", "max", "var", "std")  # fmt: skip

# What to do on the command line, for the argument (or action) an error's fix is about: the
# API's errors carry it as data (RoixrError.option), and their Python advice is replaced by
# this. A message without an option is printed as it is.
ADVICE = {
    "mode": "Pass --overwrite to write it anew, or choose another output path.",
    "overwrite": "Pass --overwrite to replace it, or choose another output path.",
    "out": "Give --out another path, or delete the cohort first.",
    "fail_for_missing_rois": "Check the names with 'roixr verts SUBJECT', or pass "
    "--skip-missing-rois to leave missing ROIs out.",
    "overlay_file": "Pass --overlay-file an existing SVG, or leave it out for the subject's "
    "overlays.svg.",
    "source": "Pass --source another ROI source (FreeSurfer annotations such as aparc, "
    ".label, .label.gii or .dlabel.nii files), or name one per subject in the subject list.",
    "sampler": "Pass --sampler one of {samplers}, or a distance in mm.",
    "threshold": "Pass --threshold a number in [0, 1] with a fractional --sampler.",
    "rois": "Check --rois against 'roixr verts SUBJECT'.",
    "allow_overlap": "Pass --allow-overlap to keep voxels in several ROIs.",
    "chunks": "Pass --chunks a positive whole number of voxels.",
    "redo": "'roixr status STORE' lists them with their errors; run 'roixr cohort' again to "
    "redo only them, or remove them with 'roixr status STORE --drop NAME'.",
    "redo_runs": "'roixr status OUTPUT' lists them with their errors; fix them and run "
    "'roixr extract' again to redo only the failed and unfinished runs (--redo RUN ... "
    "redoes complete ones too).",
    "stat": "Pass --stat one of mean, median, sum, minimum, maximum, variance, "
    "standard_deviation, count.",
    "options": "Pass the flags the store was extracted with ('roixr status OUTPUT' shows "
    "them), or give another OUTPUT.",
    # roixr extract: find_runs's arguments
    "path": "Give DERIVATIVES fMRIPrep's output folder (holding sub-* folders) or an HCP "
    "study folder (holding <subject>/MNINonLinear/Results).",
    "freesurfer": "Give --freesurfer the folder holding the subjects' FreeSurfer directories, "
    "or leave it out for DERIVATIVES/sourcedata/freesurfer.",
    "subjects": "Check --participant-label against the subject folders of DERIVATIVES, or "
    "leave it out for all.",
    "sessions": "Check --session-label against the session folders, or leave it out for all.",
    "tasks": "Check --task against the runs' task names, or leave it out for all.",
    "space": "Pass --space T1w, boldref (native runs) or a template such as "
    "MNI152NLin2009cAsym, or leave it out for every space.",
    "layout": "Pass --layout fmriprep or --layout hcp, or leave it out to tell from the folders.",
    "upgrade": "Run 'roixr upgrade STORE NEW' to copy it into the current layout, then give "
    "NEW to 'roixr cohort --out'.",
    "store": "'roixr status STORE' tells what a store holds: 'roixr masks --out' writes one "
    "subject's store, 'roixr cohort --out' a cohort, 'roixr extract' a time-series store.",
    # a store given as a URL (s3://, gs://): the command line takes credentials from the
    # environment, as the protocol's fsspec filesystem reads them
    "storage_options": "Set the credentials in the environment: for s3:// AWS_ACCESS_KEY_ID, "
    "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and, for a server other than AWS, "
    "AWS_ENDPOINT_URL; for gs:// GOOGLE_APPLICATION_CREDENTIALS.",
}


def in_flags(err: BaseException) -> str:
    """An error's message for the command line: its advice in flags when it names the
    argument at fault (:attr:`roixr.errors.RoixrError.option`)."""
    option = getattr(err, "option", None)
    if option not in ADVICE:
        return str(err)
    advice = ADVICE[option]
    if "{samplers}" in advice:
        from roixr.sampling.registry import samplers

        advice = advice.format(samplers=", ".join(samplers()))
    return f"{err.problem} {advice}"  # type: ignore[attr-defined]


class _Usage(RoixrError):
    """A command-line input that is wrong before roixr is called (exit code 1)."""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive whole number of voxels, got {text!r}"
        )
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def _sampler(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _mask_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", type=_sampler, default="cortical",
                   help="cortical, thick, thin, a distance in mm, cortical-conservative, "
                        "cortical-liberal, ribbon (default: cortical)")  # fmt: skip
    p.add_argument("--rois", nargs="+", help="ROI names, 'Cortex' included (default: all)")
    p.add_argument("--threshold", type=_fraction, help="fractions above it become True")
    p.add_argument("--allow-overlap", action="store_true", help="keep voxels in several ROIs")
    p.add_argument("--skip-missing-rois", action="store_true",
                   help="warn about missing ROIs instead of failing")  # fmt: skip
    p.add_argument("--overlay-file", help="another overlays SVG instead of overlays.svg")
    p.add_argument("--source", nargs="+", metavar="SPEC",
                   help="ROI source: an overlays .svg, an annotation name (aparc), an lh rh "
                        "pair of .annot or .label.gii files, .label files, a .dlabel.nii",
                   )  # fmt: skip
    p.add_argument("--chunks", type=_positive, help="chunk size over x, y, z (default: auto)")


def _source(spec: list[str] | None):
    """--source values as roi_masks takes them: one value, or a list (pairs, .label files)."""
    if not spec:
        return None
    if len(spec) == 1 and not spec[0].endswith(".label"):
        return spec[0]
    return tuple(spec) if len(spec) == 2 and not spec[0].endswith(".label") else list(spec)


def _subject(text: str, freesurfer: bool = False):
    """A subject argument: ``fs:DIR`` (or ``--freesurfer``) for a FreeSurfer directory."""
    if text.startswith("fs:"):
        text, freesurfer = text[3:], True
    if not freesurfer:
        return text
    from roixr.io.subject import Subject

    return Subject.from_freesurfer(text)


def _xfm(text: str | None, reference: str | None, registration: str | None, invert: bool):
    """The transform: a name, or a (reference, registration) pair from the flags or the
    ``REFERENCE+REGISTRATION`` form."""
    if text is not None and "+" in text and reference is None:
        reference, registration = text.split("+", 1)
        text = None
    if reference is None and registration is None:
        if text is None:
            raise _Usage("give a transform name (XFM), or --reference IMG --registration FILE")
        return text
    if text is not None:
        raise _Usage(f"give either a transform name ({text!r}) or --reference/--registration")
    if reference is None or registration is None:
        raise _Usage("--reference and --registration go together (use --registration identity "
                     "for data already in the anatomical space)")  # fmt: skip
    from roixr.io.registration import Registration

    return (reference, Registration(registration, invert=True if invert else None))


def _options(args: argparse.Namespace) -> dict:
    return {
        "source": _source(args.source),
        "rois": args.rois,
        "sampler": args.sampler,
        "threshold": args.threshold,
        "allow_overlap": args.allow_overlap,
        "fail_for_missing_rois": not args.skip_missing_rois,
        "overlay_file": args.overlay_file,
        "chunks": args.chunks or "auto",
    }


def _store_arg(text: str) -> Any:
    """A store as the command line was given it: a URL (s3://, gs://) as text, else a path."""
    from roixr.store.location import is_url

    return text if is_url(text) else Path(text)


def _check_output(path: str | Path, flag: str, overwrite: bool, suffixes=()) -> Path:
    """Check an output name before anything is computed."""
    out = Path(path)
    if suffixes and not out.name.endswith(tuple(suffixes)):
        raise _Usage(f"{flag} {out}: the name must end in {' or '.join(suffixes)}")
    if not out.parent.is_dir():
        raise OutputPathError(
            f"{flag} {out}: the folder {out.parent} does not exist; create it first (roixr "
            "does not create folders)."
        )
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{flag} {out} already exists; pass --overwrite to replace it, or choose another name."
        )
    return out


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _summary(masks) -> None:
    import numpy as np

    counts = masks.astype(bool).sum(["x", "y", "z"]).compute()
    _say(f"{masks.attrs['subject']} / {masks.attrs['xfm']} / sampler {masks.attrs['sampler']}: "
         f"grid {masks.shape[2:]}, {masks.sizes['roi']} ROIs")  # fmt: skip
    _say(f"{'ROI':<16}{'voxels L':>10}{'voxels R':>10}{'% in FOV':>10}")
    for roi in masks["roi"].values:
        left, right = (int(v) for v in counts.sel(roi=roi).values)
        cov = float(np.asarray(masks["coverage"].sel(roi=roi)))
        _say(f"{roi:<16}{left:>10}{right:>10}{cov:>10.1f}")
    _say("(% in FOV: the share of the ROI's vertices inside the volume's field of view)")


def _compute(pending, quiet: bool) -> None:
    from dask.diagnostics import ProgressBar

    if quiet:
        pending.compute()
    else:
        with ProgressBar(minimum=1.0, out=sys.stderr):
            pending.compute()


def _write(masks, store: Any, overwrite: bool, quiet: bool) -> None:
    from roixr.store import to_zarr

    mode: Literal["w", "w-"] = "w" if overwrite else "w-"
    _compute(to_zarr(masks, store, mode=mode, compute=False), quiet)


def _masks(args: argparse.Namespace) -> None:
    from roixr.masks import roi_masks
    from roixr.store import open_roi_masks

    out = _store_arg(args.out)
    if isinstance(out, Path):  # a URL is checked by to_zarr (exists: exit 3)
        out = _check_output(out, "--out", args.overwrite)
    nifti = args.nifti and _check_output(args.nifti, "--nifti", args.overwrite,
                                         (".nii", ".nii.gz"))  # fmt: skip
    subject = _subject(args.subject, args.freesurfer)
    xfm = _xfm(args.xfm, args.reference, args.registration, args.invert_registration)
    masks = roi_masks(subject, xfm, **_options(args))
    _write(masks, out, args.overwrite, args.quiet)
    if nifti:
        from roixr.nifti import to_nifti

        to_nifti(open_roi_masks(out), nifti, overwrite=args.overwrite)
    _summary(open_roi_masks(out))
    _say(f"written to {out}" + (f" and {nifti}" if nifti else ""))


def _read_list(path: str) -> dict:
    listing = Path(path)
    if not listing.exists():
        raise _Usage(f"the subject list {listing} does not exist; give a text file with "
                     "'name subject xfm' lines")  # fmt: skip
    if not listing.is_file():
        raise _Usage(f"the subject list {listing} is a folder; give a text file with "
                     "'name subject xfm' lines")  # fmt: skip
    try:
        text = listing.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise _Usage(f"cannot read the subject list {listing}: {err}") from None
    subjects = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 3:
            raise _Usage(
                f"{listing}, line {n}: expected 'name subject xfm [source ...]', got {line!r}. "
                "Write one subject a line: its name in the store, its folder (or name, or "
                "fs:DIR), its transform (or REFERENCE+REGISTRATION) and optionally its source."
            )
        if parts[0] in subjects:
            raise _Usage(f"{listing}, line {n}: the name {parts[0]!r} is listed twice")
        xfm = _xfm(parts[2], None, None, False)
        value: tuple = (_subject(parts[1]), xfm)
        if len(parts) > 3:
            value = (*value, _source(parts[3:]))
        subjects[parts[0]] = value
    if not subjects:
        raise _Usage(f"{listing} lists no subjects; write 'name subject xfm' lines")
    return subjects


def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise _Usage(
            f"--scheduler {address}: cannot reach a dask scheduler there ({err}). Check the "
            "address (like tcp://host:8786) and that the scheduler runs, or leave out "
            "--scheduler to compute on this machine."
        ) from None


def _cohort(args: argparse.Namespace) -> None:
    from roixr.cohort import cohort_options, cohort_status, write_cohort

    subjects = _read_list(args.list)
    out = _store_arg(args.out)
    if isinstance(out, Path) and not out.parent.is_dir():
        raise OutputPathError(f"--out {out}: the folder {out.parent} does not exist; create "
                              "it first (roixr does not create folders).")  # fmt: skip
    options = _options(args)
    cohort_options(options)  # bad options fail before a cluster starts
    start = time.perf_counter()
    redo = args.redo or False
    kwargs: dict[str, Any] = {"progress": not args.quiet, "redo": redo, **options}
    if args.scheduler or args.scheduler_file:
        file = args.scheduler_file
        with _connect(args.scheduler) if args.scheduler else _connect_file(file) as client:
            done = write_cohort(subjects, out, client=client, **kwargs)
    else:
        done = write_cohort(subjects, out, **kwargs)
    status = cohort_status(out)
    complete = sum(s["status"] == "complete" for s in status.values())
    _say(f"{len(done)} subject(s) written, {complete - len(done)} already complete, "
         f"in {time.perf_counter() - start:.1f} s: {out}")  # fmt: skip


def _connect_file(path: str):
    from distributed import Client

    if not Path(path).is_file():
        raise _Usage(f"--scheduler-file {path}: no such file; give the file 'dask scheduler "
                     "--scheduler-file FILE' writes, or leave it out to compute on this "
                     "machine.")  # fmt: skip
    try:
        return Client(scheduler_file=path, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise _Usage(
            f"--scheduler-file {path}: cannot reach the dask scheduler it names ({err}). "
            "Check that the scheduler runs, or leave it out to compute on this machine."
        ) from None


def _extract(args: argparse.Namespace) -> None:
    from roixr.cohort import extract_cohort, find_runs, timeseries_status

    out = _store_arg(args.output)
    if isinstance(out, Path) and not out.parent.is_dir():
        raise OutputPathError(f"OUTPUT {out}: the folder {out.parent} does not exist; create "
                              "it first (roixr does not create folders).")  # fmt: skip
    options = _options(args)
    source = options.pop("source")
    start = time.perf_counter()
    runs = find_runs(args.derivatives, freesurfer=args.freesurfer, layout=args.layout,
                     space=args.space, subjects=args.participant_label,
                     sessions=args.session_label, tasks=args.task)  # fmt: skip
    problems = int(runs["problem"].notna().sum())
    _say(f"{len(runs)} run(s) found in {args.derivatives}"
         + (f" ({problems} with a problem, recorded as failed)" if problems else ""))  # fmt: skip
    kwargs: dict[str, Any] = {"source": source, "stat": args.stat, "progress": not args.quiet,
                              "redo": args.redo or False, **options}  # fmt: skip
    if args.scheduler or args.scheduler_file:
        file = args.scheduler_file
        with _connect(args.scheduler) if args.scheduler else _connect_file(file) as client:
            done = extract_cohort(runs, out, client=client, **kwargs)
    else:
        done = extract_cohort(runs, out, **kwargs)
    complete = sum(s["status"] == "complete" for s in timeseries_status(out).values())
    _say(f"{len(done)} run(s) extracted, {complete - len(done)} already complete, in "
         f"{time.perf_counter() - start:.1f} s: {out}")  # fmt: skip


def _timeseries_status(path: Any, show_all: bool) -> None:
    from roixr.cohort import timeseries_status
    from roixr.store.format import OPTIONS, group_attrs

    status = timeseries_status(path)
    kinds = ("failed", "unfinished", "complete")
    groups = {k: [(n, s) for n, s in status.items() if s["status"] == k] for k in kinds}
    _say(f"time-series store {path}: {len(status)} runs, "
         + ", ".join(f"{len(groups[k])} {k}" for k in reversed(kinds)))  # fmt: skip
    options = group_attrs(path).get(OPTIONS, {})
    _say("  options: " + ", ".join(f"{k} {v}" for k, v in options.items() if v is not None))
    for kind in kinds:
        if groups[kind] and (kind != "complete" or show_all):
            _say(f"{kind} ({len(groups[kind])}):")
            for name, s in groups[kind]:
                _say(f"  {name}" + (f": {s['error']}" if s["error"] else ""))
    if groups["complete"] and not show_all:
        _say(f"complete ({len(groups['complete'])}): listed with --all")


def _status(args: argparse.Namespace) -> None:
    from roixr.cohort import cohort_status, drop_subjects
    from roixr.store import store_info
    from roixr.store.format import COHORT, TIMESERIES, check_kind, store_kind

    path = _store_arg(args.store)
    folder = not isinstance(path, Path) or path.is_dir()  # a URL: its kind tells
    if folder and store_kind(path) == TIMESERIES:
        if args.drop:
            raise _Usage(f"--drop: {path} is a time-series store; --drop removes subjects of "
                         "a cohort store")  # fmt: skip
        _timeseries_status(path, args.all)
        return
    if folder and store_kind(path) == COHORT:
        if args.drop:
            drop_subjects(path, args.drop)
            _say(f"removed {', '.join(args.drop)} from {path}")
        status = cohort_status(path)
        counts = {k: sum(s["status"] == k for s in status.values())
                  for k in ("complete", "failed", "unfinished")}  # fmt: skip
        _say(f"cohort {path}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        for name, s in status.items():
            if s["status"] != "complete" or args.all:
                _say(f"  {name}: {s['status']}" + (f": {s['error']}" if s["error"] else ""))
        return
    if args.drop:
        raise _Usage(f"--drop: {path} is not a cohort store")
    check_kind(path, want="single", opener="roixr.open_roi_masks")
    info = store_info(path)
    _say(f"{info['kind']} store {path}: complete")
    for key, value in info["provenance"].items():
        _say(f"  {key}: {value}")


def _upgrade(args: argparse.Namespace) -> None:
    from roixr.cohort import cohort_status
    from roixr.cohort.upgrade import upgrade_cohort

    old, new = _store_arg(args.store), _store_arg(args.new)
    start = time.perf_counter()
    copied = upgrade_cohort(old, new)
    left = sum(s["status"] != "complete" for s in cohort_status(new).values())
    _say(f"{len(copied)} subject(s) copied, {left} failed or unfinished recorded as such, in "
         f"{time.perf_counter() - start:.1f} s: {new}")  # fmt: skip


def _timeseries(args: argparse.Namespace) -> None:
    from roixr.store import open_roi_masks
    from roixr.timeseries import open_nifti, roi_timeseries

    out = _check_output(args.out, "--out", args.overwrite, (".csv", ".tsv"))
    if out.is_dir():
        raise _Usage(f"--out {out} is a folder; give the name of the table to write")
    if str(args.masks).endswith((".nii", ".nii.gz", ".mgz")):
        raise _Usage(f"MASKS {args.masks} is an image; 'roixr timeseries' takes a masks store "
                     "written by 'roixr masks' (--out STORE)")  # fmt: skip
    # the bold image's header and size are checked first (a missing file names its nearest
    # neighbours; text, a misnamed .gz, a short file... say what they hold), then the masks
    series = open_nifti(args.bold, chunks={"time": args.chunks} if args.chunks else "auto")
    masks = open_roi_masks(args.masks)
    ts = roi_timeseries(series, masks, args.stat,
                        hemisphere="both" if args.both_hemispheres else None)  # fmt: skip
    if "time" not in ts.dims:
        ts = ts.expand_dims(time=[0.0])
    _compute_table(ts, out, args.quiet)
    sides = f" × {ts.sizes['hemisphere']} hemispheres" if "hemisphere" in ts.dims else ""
    _say(f"{ts.sizes['roi']} ROIs{sides} × {ts.sizes['time']} time points: {out}")


def _compute_table(ts, out: Path, quiet: bool) -> None:
    import dask
    from dask.diagnostics import ProgressBar

    if quiet:
        (values,) = dask.compute(ts)
    else:
        with ProgressBar(minimum=1.0, out=sys.stderr):
            (values,) = dask.compute(ts)
    if "hemisphere" in values.dims:
        table = values.transpose("time", "roi", "hemisphere").stack(column=("roi", "hemisphere"))
        frame = table.to_pandas()
        frame.columns = [f"{roi}_{hemi}" for roi, hemi in frame.columns]
    else:
        frame = values.transpose("time", "roi").to_pandas()
    frame.to_csv(out, sep="\t" if out.name.endswith(".tsv") else ",", index_label="time")


def _report(args: argparse.Namespace) -> None:
    from roixr.report import report_store

    store = _store_arg(args.store)
    if isinstance(store, Path) and not store.exists():
        raise _Usage(f"the store {store} does not exist; give a store written by 'roixr masks' "
                     "or 'roixr cohort'")  # fmt: skip
    if isinstance(store, Path):
        default = store.parent / f"{store.name.removesuffix('.zarr')}_report"
    else:  # a URL: the report is written here
        default = Path(f"{store.rstrip('/').rsplit('/', 1)[-1].removesuffix('.zarr')}_report")
    out = Path(args.out) if args.out else default
    if out.exists() and not args.overwrite:
        raise OutputExistsError(
            f"--out {out} already exists; pass --overwrite to replace it, or choose another name."
        )
    written = report_store(store, out, subject=args.subject, slices=args.slices)
    _say(f"report written to {written}")


def _demo(args: argparse.Namespace) -> None:
    from roixr.datasets import synthetic_subject
    from roixr.masks import roi_masks
    from roixr.store import open_roi_masks

    out_arg = args.out and _check_output(args.out, "--out", args.overwrite)
    with tempfile.TemporaryDirectory(prefix="roixr-demo-") as tmp:
        subject = synthetic_subject(Path(tmp) / "synth")
        _print_verts(subject, None, None)
        out = out_arg or Path(tmp) / "synth_masks.zarr"
        start = time.perf_counter()
        masks = roi_masks(subject, "oblique", sampler="cortical")
        _write(masks, out, args.overwrite, args.quiet)
        _say(f"\nmasks in the 'oblique' grid, written to zarr in "
             f"{time.perf_counter() - start:.2f} s and reopened lazily:")  # fmt: skip
        _summary(open_roi_masks(out))


def _print_verts(subject, rois, overlay_file) -> None:
    from roixr.io.subject import as_subject
    from roixr.rois import roi_verts

    subj = as_subject(subject)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roi_verts(subj, rois, overlay_file)
    n_lh = subj.n_vertices("lh")
    _say(f"subject {subj.name}: {n_lh} + {subj.n_vertices('rh')} vertices; transforms: "
         f"{', '.join(subj.transforms)}")  # fmt: skip
    _say(f"{'ROI':<16}{'vertices':>10}{'left':>8}{'right':>8}")
    for name, v in verts.items():
        left = int((v < n_lh).sum())
        _say(f"{name:<16}{len(v):>10}{left:>8}{len(v) - left:>8}")


def _verts(args: argparse.Namespace) -> None:
    _print_verts(args.subject, args.rois, args.overlay_file)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roixr", description="Cortical-surface ROIs as volumetric masks.",
        epilog="exit codes: 0 ok, 1 bad input, 2 usage, 3 output exists, 4 cohort subjects "
               "or runs failed, 5 unfinished store",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"roixr {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="masks for the embedded synthetic subject, to zarr")
    demo.add_argument("--out", help="keep the store here (default: a temporary folder)")
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(func=_demo)

    masks = sub.add_parser("masks", help="one subject's masks to a zarr store (and NIfTI)")
    masks.add_argument("subject", help="subject folder or name (fs:DIR: FreeSurfer)")
    masks.add_argument("xfm", nargs="?", help="transform name (or use --reference)")
    masks.add_argument("--freesurfer", action="store_true",
                       help="SUBJECT is a FreeSurfer subject directory")  # fmt: skip
    masks.add_argument("--reference", metavar="IMG", help="functional reference image")
    masks.add_argument("--registration", metavar="FILE",
                       help="registration of --reference to the anatomy: .lta, register.dat, "
                            "FSL .mat, ITK/ANTs .txt/.h5, or identity")  # fmt: skip
    masks.add_argument("--invert-registration", action="store_true",
                       help="take the registration the other way round")  # fmt: skip
    masks.add_argument("--out", required=True, help="zarr store: a folder or a URL (s3://...)")
    masks.add_argument("--nifti", help="also write a 4D NIfTI of the masks (.nii, .nii.gz)")
    masks.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _mask_options(masks)
    masks.set_defaults(func=_masks)

    cohort = sub.add_parser("cohort", help="many subjects on a dask cluster, to one store")
    cohort.add_argument("list", help="text file: 'name subject xfm' per line")
    cohort.add_argument("--out", required=True, help="zarr store or URL (re-runs finish it)")
    where_cohort = cohort.add_mutually_exclusive_group()
    where_cohort.add_argument("--scheduler",
                              help="address of a dask scheduler (default: local)")  # fmt: skip
    where_cohort.add_argument("--scheduler-file", metavar="FILE",
                              help="the file of a dask scheduler (--scheduler-file)")  # fmt: skip
    cohort.add_argument("--redo", nargs="+", metavar="NAME",
                        help="rewrite these subjects even if complete")  # fmt: skip
    _mask_options(cohort)
    cohort.set_defaults(func=_cohort)

    extract = sub.add_parser(
        "extract", help="ROI time series of every run of a derivatives folder, to one store"
    )
    extract.add_argument("derivatives", help="fMRIPrep output folder or HCP study folder")
    extract.add_argument("output", help="zarr store to write, folder or URL (re-runs finish it)")
    extract.add_argument("--participant-label", nargs="+", metavar="LABEL",
                         help="only these subjects (01 or sub-01)")  # fmt: skip
    extract.add_argument("--session-label", nargs="+", metavar="LABEL",
                         help="only these sessions")  # fmt: skip
    extract.add_argument("--task", nargs="+", metavar="TASK", help="only these tasks")
    extract.add_argument("--space", nargs="+", metavar="SPACE",
                         help="only runs in these spaces: T1w, a template, boldref")  # fmt: skip
    extract.add_argument("--freesurfer", metavar="DIR",
                         help="FreeSurfer's subjects folder (default: sourcedata/freesurfer)",
                         )  # fmt: skip
    extract.add_argument("--layout", choices=("auto", "fmriprep", "hcp"), default="auto",
                         help="the derivatives' layout (default: auto)")  # fmt: skip
    extract.add_argument("--stat", default="mean", choices=sorted(STAT_NAMES),
                         help="the ROI statistic per volume (default: mean)")  # fmt: skip
    where = extract.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a dask scheduler (default: local)")
    where.add_argument("--scheduler-file", metavar="FILE",
                       help="the file of a dask scheduler (--scheduler-file)")  # fmt: skip
    extract.add_argument("--redo", nargs="+", metavar="RUN",
                         help="extract these runs again even if complete")  # fmt: skip
    _mask_options(extract)
    extract.set_defaults(func=_extract)

    upgrade = sub.add_parser("upgrade", help="copy a cohort store of roixr 0.1 into the "
                             "current layout")  # fmt: skip
    upgrade.add_argument("store", help="the cohort store written by roixr 0.1 (only read)")
    upgrade.add_argument("new", help="the new store to write (folder or URL; must not exist)")
    upgrade.set_defaults(func=_upgrade)

    status = sub.add_parser("status", help="what a store holds; a cohort's subjects, runs")
    status.add_argument("store", help="a store written by 'roixr masks', 'cohort' or 'extract'")
    status.add_argument("--drop", nargs="+", metavar="NAME", help="remove cohort subjects")
    status.add_argument("--all", action="store_true", help="list complete subjects or runs too")
    status.set_defaults(func=_status)

    report = sub.add_parser("report", help="an HTML report of a masks or cohort store")
    report.add_argument("store", help="a store written by 'roixr masks' or 'roixr cohort'")
    report.add_argument("--out", help="folder (index.html) or .html file "
                                      "(default: STORE_report/ beside the store)")  # fmt: skip
    report.add_argument("--subject", help="subject folder or name, for the background image")
    report.add_argument("--slices", type=_positive, default=12, help="slices per mosaic")
    report.add_argument("--overwrite", action="store_true", help="replace an existing report")
    report.set_defaults(func=_report)

    ts = sub.add_parser("timeseries", help="ROI time series of a bold image, to CSV")
    ts.add_argument("bold", help="bold image (.nii, .nii.gz) in the masks' grid")
    ts.add_argument("masks", help="masks store written by 'roixr masks'")
    ts.add_argument("--out", required=True, help="table to write (.csv or .tsv)")
    ts.add_argument("--stat", default="mean", choices=sorted(STAT_NAMES),
                    help="nilearn's strategies (mean, median, sum, minimum, maximum, variance, "
                         "standard_deviation) or their short names")  # fmt: skip
    ts.add_argument("--both-hemispheres", action="store_true",
                    help="one series per ROI over both hemispheres")  # fmt: skip
    ts.add_argument("--chunks", type=_positive, help="time points per chunk (default: auto)")
    ts.add_argument("--overwrite", action="store_true", help="replace the table")
    ts.set_defaults(func=_timeseries)

    verts = sub.add_parser("verts", help="vertex counts of a subject's ROIs")
    verts.add_argument("subject", help="subject folder or name")
    verts.add_argument("--rois", nargs="+", help="ROI names (default: all)")
    verts.add_argument("--overlay-file", help="another overlays SVG")
    verts.set_defaults(func=_verts)
    return parser


def _error(err: BaseException) -> None:
    sys.stderr.write(f"roixr: error: {in_flags(err)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except (StoreExistsError, OutputExistsError) as err:
        _error(err)
        return 3
    except CohortError as err:
        _error(err)
        return 4 if not isinstance(err, ValueError) else 1
    except IncompleteStoreError as err:
        _error(err)
        return 5
    except (RoixrError, OptionError) as err:
        _error(err)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("roixr: interrupted\n")
        return 130
    except MemoryError:
        sys.stderr.write(
            "roixr: error: out of memory; pass --chunks a smaller number, "
            "or compute on a cluster (--scheduler where a command has it)\n"
        )
        return 1
    except OSError as err:  # the file system refused: permissions, a full disk, a file gone
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        where = f": {err.filename}" if err.filename else ""
        sys.stderr.write(f"roixr: error: {err.strerror or err}{where}\n")
        return 1
    except Exception as err:  # an input roixr did not foresee: one line, never a traceback
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        text = " ".join(str(err).split())
        sys.stderr.write(f"roixr: error: unexpected {type(err).__name__}: {text} (set "
                         f"{TRACEBACK_VARIABLE}=1 for the traceback, and please report "
                         "it)\n")  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
