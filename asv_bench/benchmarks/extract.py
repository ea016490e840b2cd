"""Cohorts from derivatives on a small ``fmriprep_like`` tree: ``find_runs``,
``extract_cohort`` on an in-process cluster, and ``open_timeseries``.

The large figures (1,000 subjects, real-size runs against nilearn) are
``asv_bench/compare_extract.py``'s; these stay small so that they also run as tests.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import roixr

SUBJECTS = [f"{i:02d}" for i in range(4)]


def _tree(folder: Path, subjects: list[str] = SUBJECTS) -> Path:
    """Subjects × 2 T1w-space runs of 12 volumes (masks: one group per subject)."""
    return roixr.datasets.fmriprep_like(
        folder / "fmriprep", subjects=subjects, sessions=None, tasks=["rest"], runs=2,
        spaces=["T1w"],
    )  # fmt: skip


class FindRuns:
    """``find_runs`` on 40 subjects × 2 runs (names only: no file is opened)."""

    timeout = 300

    def setup(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = _tree(Path(self.tmp.name), [f"{i:03d}" for i in range(40)])
        roixr.find_runs(self.root)  # imports pandas; the folders in the page cache

    def teardown(self):
        self.tmp.cleanup()

    def time_find_runs(self):
        roixr.find_runs(self.root)

    def track_runs(self):
        return len(roixr.find_runs(self.root))


class ExtractCohort:
    """``extract_cohort`` of 4 subjects × 2 runs (``source="aparc"``) into a new store, on
    a two-worker in-process cluster (cluster start-up excluded), and opening the result."""

    timeout = 300

    def setup(self):
        from distributed import Client, LocalCluster

        warnings.simplefilter("ignore")
        self.tmp = tempfile.TemporaryDirectory()
        self.runs = roixr.find_runs(_tree(Path(self.tmp.name)))
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                    dashboard_address=None)  # fmt: skip
        self.client = Client(self.cluster)
        self.store = f"{self.tmp.name}/done.zarr"
        roixr.extract_cohort(self.runs, self.store, source="aparc", client=self.client)
        self.n = 0

    def teardown(self):
        self.client.close()
        self.cluster.close()
        self.tmp.cleanup()

    def time_extract_cohort(self):
        self.n += 1
        store = f"{self.tmp.name}/ts{self.n}.zarr"
        roixr.extract_cohort(self.runs, store, source="aparc", client=self.client)

    def time_extract_cohort_nothing_to_do(self):
        """A re-run of a complete store: reading its status, no task."""
        roixr.extract_cohort(self.runs, self.store, source="aparc", client=self.client)

    def time_open_timeseries(self):
        roixr.open_timeseries(self.store)
