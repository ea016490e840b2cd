"""The ``roixr`` command line.

Commands::

    roixr demo [--out STORE]                  masks for the embedded synthetic subject, to zarr
    roixr masks SUBJECT XFM --out STORE [--nifti FILE] [--sampler S] [--rois R ...] ...
    roixr cohort LIST --out STORE [--scheduler ADDRESS] [--sampler S] ...
    roixr verts SUBJECT [--rois R ...]        vertex counts of the ROIs

``LIST`` is a text file with one subject a line: ``name subject xfm`` (whitespace or comma
separated; ``#`` starts a comment). Exit codes say what failed:

== ====================================================================
0  success
1  bad input: subject, transform, overlay, option (the message says what to fix)
2  usage error
3  the output exists (pass --overwrite)
4  some subjects of a cohort failed (the others were written)
5  a store's earlier write did not finish
== ====================================================================
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from roixr._version import __version__
from roixr.errors import IncompleteStoreError, OutputExistsError, RoixrError, StoreExistsError

__all__ = ["main"]


def _sampler(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _mask_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", type=_sampler, default="cortical",
                   help="cortical, thick, thin, a distance in mm, cortical-conservative, "
                        "cortical-liberal (default: cortical)")  # fmt: skip
    p.add_argument("--rois", nargs="+", help="ROI names, 'Cortex' included (default: all)")
    p.add_argument("--threshold", type=float, help="fractions above it become True")
    p.add_argument("--allow-overlap", action="store_true", help="keep voxels in several ROIs")
    p.add_argument("--chunks", type=int, help="chunk size over x, y, z (default: auto)")


def _options(args: argparse.Namespace) -> dict:
    return {
        "rois": args.rois,
        "sampler": args.sampler,
        "threshold": args.threshold,
        "allow_overlap": args.allow_overlap,
        "chunks": args.chunks if args.chunks else "auto",
    }


def _summary(masks, out) -> None:
    import numpy as np

    counts = masks.astype(bool).sum(["x", "y", "z"]).compute()
    print(f"{masks.attrs['subject']} / {masks.attrs['xfm']} / sampler {masks.attrs['sampler']}: "
          f"grid {masks.shape[2:]}, {masks.sizes['roi']} ROIs", file=out)  # fmt: skip
    print(f"{'ROI':<16}{'voxels L':>10}{'voxels R':>10}{'coverage %':>12}", file=out)
    for roi in masks["roi"].values:
        left, right = (int(v) for v in counts.sel(roi=roi).values)
        cov = float(np.asarray(masks["coverage"].sel(roi=roi)))
        print(f"{roi:<16}{left:>10}{right:>10}{cov:>12.1f}", file=out)


def _write(masks, store: Path, nifti: str | None, overwrite: bool, quiet: bool) -> None:
    from dask.diagnostics import ProgressBar

    from roixr.store import to_zarr

    mode: Literal["w", "w-"] = "w" if overwrite else "w-"
    pending = to_zarr(masks, store, mode=mode, compute=False)
    if quiet:
        pending.compute()
    else:
        with ProgressBar(minimum=1.0, out=sys.stderr):
            pending.compute()
    if nifti:
        from roixr.nifti import to_nifti

        to_nifti(masks, nifti, overwrite=overwrite)


def _masks(args: argparse.Namespace) -> None:
    from roixr.masks import roi_masks
    from roixr.store import open_roi_masks

    masks = roi_masks(args.subject, args.xfm, **_options(args))
    _write(masks, Path(args.out), args.nifti, args.overwrite, args.quiet)
    _summary(open_roi_masks(args.out), sys.stdout)
    print(f"written to {args.out}" + (f" and {args.nifti}" if args.nifti else ""))


def _read_list(path: str) -> dict:
    subjects = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise RoixrError(
                f"{path}, line {n}: expected 'name subject xfm', got {line!r}. Write one "
                "subject a line: its name in the store, its folder (or name) and transform."
            )
        subjects[parts[0]] = (parts[1], parts[2])
    if not subjects:
        raise RoixrError(f"{path} lists no subjects; write 'name subject xfm' lines")
    return subjects


def _cohort(args: argparse.Namespace) -> None:
    from roixr.cohort import open_cohort, write_cohort

    subjects = _read_list(args.list)
    start = time.perf_counter()
    if args.scheduler:
        from distributed import Client

        with Client(args.scheduler) as client:
            done = write_cohort(subjects, args.out, client=client, progress=not args.quiet,
                                **_options(args))  # fmt: skip
    else:
        done = write_cohort(subjects, args.out, progress=not args.quiet, **_options(args))
    tree = open_cohort(args.out)
    print(f"{len(done)} subject(s) written, {len(tree.children) - len(done)} already complete, "
          f"in {time.perf_counter() - start:.1f} s: {args.out}")  # fmt: skip


def _demo(args: argparse.Namespace) -> None:
    from roixr.datasets import synthetic_subject
    from roixr.masks import roi_masks
    from roixr.store import open_roi_masks

    with tempfile.TemporaryDirectory(prefix="roixr-demo-") as tmp:
        subject = synthetic_subject(Path(tmp) / "synth")
        _print_verts(subject, None, None, sys.stdout)
        out = Path(args.out) if args.out else Path(tmp) / "synth_masks.zarr"
        start = time.perf_counter()
        masks = roi_masks(subject, "oblique", sampler="cortical")
        _write(masks, out, None, args.overwrite, args.quiet)
        print(f"\nmasks in the 'oblique' grid, written to zarr in "
              f"{time.perf_counter() - start:.2f} s and reopened lazily:")  # fmt: skip
        _summary(open_roi_masks(out), sys.stdout)


def _print_verts(subject, rois, overlay_file, out) -> None:
    from roixr.io.subject import as_subject
    from roixr.rois import roi_verts

    subj = as_subject(subject)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roi_verts(subj, rois, overlay_file)
    n_lh = subj.n_vertices("lh")
    print(f"subject {subj.name}: {n_lh} + {subj.n_vertices('rh')} vertices; transforms: "
          f"{', '.join(subj.transforms)}", file=out)  # fmt: skip
    print(f"{'ROI':<16}{'vertices':>10}{'left':>8}{'right':>8}", file=out)
    for name, v in verts.items():
        left = int((v < n_lh).sum())
        print(f"{name:<16}{len(v):>10}{left:>8}{len(v) - left:>8}", file=out)


def _verts(args: argparse.Namespace) -> None:
    _print_verts(args.subject, args.rois, args.overlay_file, sys.stdout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roixr", description="Cortical-surface ROIs as volumetric masks.",
        epilog="exit codes: 0 ok, 1 bad input, 2 usage, 3 output exists, 4 cohort subjects "
               "failed, 5 unfinished store",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"roixr {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="masks for the embedded synthetic subject, to zarr")
    demo.add_argument("--out", help="keep the store here (default: a temporary folder)")
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(func=_demo)

    masks = sub.add_parser("masks", help="one subject's masks to a zarr store (and NIfTI)")
    masks.add_argument("subject", help="subject folder or name")
    masks.add_argument("xfm", help="transform name")
    masks.add_argument("--out", required=True, help="zarr store to write")
    masks.add_argument("--nifti", help="also write a 4D NIfTI of the masks")
    masks.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _mask_options(masks)
    masks.set_defaults(func=_masks)

    cohort = sub.add_parser("cohort", help="many subjects on a dask cluster, to one store")
    cohort.add_argument("list", help="text file: 'name subject xfm' per line")
    cohort.add_argument("--out", required=True, help="zarr store (re-runs finish it)")
    cohort.add_argument("--scheduler", help="address of a dask scheduler (default: local)")
    _mask_options(cohort)
    cohort.set_defaults(func=_cohort)

    verts = sub.add_parser("verts", help="vertex counts of a subject's ROIs")
    verts.add_argument("subject", help="subject folder or name")
    verts.add_argument("--rois", nargs="+", help="ROI names (default: all)")
    verts.add_argument("--overlay-file", help="another overlays SVG")
    verts.set_defaults(func=_verts)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    from roixr.cohort import CohortError

    try:
        args.func(args)
    except (StoreExistsError, OutputExistsError) as err:
        print(f"roixr: error: {err}", file=sys.stderr)
        return 3
    except CohortError as err:
        print(f"roixr: error: {err}", file=sys.stderr)
        return 4
    except IncompleteStoreError as err:
        print(f"roixr: error: {err}", file=sys.stderr)
        return 5
    except RoixrError as err:
        print(f"roixr: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
