"""Shared fixtures: pycortex's S1 (copied, since pycortex writes into subject folders),
the pycortex oracle on it (see pycortex_oracle.py), and the synthetic subject."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from pycortex_oracle import pycortex_at

import roixr


def pycortex_roi_verts(subject_dir: Path, **kwargs) -> dict[str, np.ndarray]:
    """pycortex 1.4's get_roi_verts on a subject folder (run on the folder as given)."""
    import cortex

    with pycortex_at(subject_dir), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = cortex.utils.get_roi_verts(subject_dir.name, **kwargs)
    return {k: np.unique(np.asarray(v, dtype=np.int64)) for k, v in out.items()}


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``folder`` with its size and content hash."""
    out: dict[str, tuple[int, str]] = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder) + "/"] = (0, "")
        for f in files:
            p = Path(root, f)
            out[str(p.relative_to(folder))] = (
                p.stat().st_mtime_ns,
                hashlib.sha1(p.read_bytes()).hexdigest(),
            )
    return out


@pytest.fixture(scope="session")
def s1_dir(tmp_path_factory) -> Path:
    """A private copy of pycortex's S1 (for pycortex runs, which write caches)."""
    return roixr.datasets.pycortex_sample_subject(copy_to=tmp_path_factory.mktemp("s1"))


@pytest.fixture(scope="session")
def s1_pycortex_verts(s1_dir) -> dict[str, np.ndarray]:
    """pycortex's own get_roi_verts on S1, computed once per session (about 20-30 s) and
    shared with the mask oracle's runs."""
    import pycortex_oracle

    out = pycortex_oracle.pycortex_roi_verts(s1_dir)
    return {k: np.unique(np.asarray(v, dtype=np.int64)) for k, v in out.items()}


@pytest.fixture(scope="session")
def s1_clean(tmp_path_factory) -> Path:
    """A copy of S1 that only roixr touches."""
    return roixr.datasets.pycortex_sample_subject(copy_to=tmp_path_factory.mktemp("s1clean"))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """The synthetic subject, built once per session (tests must not modify it)."""
    return roixr.datasets.synthetic_subject(tmp_path_factory.mktemp("store") / "synth")


@pytest.fixture(scope="module")
def client():
    """A real ``distributed`` cluster with two single-threaded worker processes (as clusters
    run: two in-process workers writing one zarr store at once hung once here)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:  # fmt: skip
        yield c
