"""HTML reports: their numbers, self-containment, stores and cohorts, and the page opened in
headless Chromium (a screenshot, every image loaded, no console error)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import chromium

import roixr
import roixr.plot as rplot
from roixr.cohort.status import IndexWriter
from roixr.errors import CohortError, OutputPathError
from roixr.report import report_store, roi_table, subject_status
from roixr.store.location import as_location


class Page(HTMLParser):
    """Collects a page's tags with their attributes, and its table cells by row."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def fractions(synth_dir):
    return roixr.roi_masks(synth_dir, "oblique", ["V1", "CUT", "A"], "cortical-liberal").persist()


@pytest.fixture(scope="module")
def report_page(fractions, synth_dir, tmp_path_factory) -> Path:
    return fractions.roixr.report(tmp_path_factory.mktemp("report") / "synth.html",
                                  subject=synth_dir)  # fmt: skip


def test_roi_table_numbers(fractions):
    rows = roi_table(fractions)
    values = fractions.values
    voxel = abs(np.linalg.det(np.asarray(fractions.attrs["affine"])[:3, :3]))
    assert [(r["roi"], r["hemisphere"]) for r in rows] == [
        (n, h) for n in ("V1", "CUT", "A") for h in ("L", "R")
    ]
    for i, r in enumerate(rows):
        v = values[i // 2, i % 2]
        assert r["voxels"] == int((v > 0).sum())
        assert r["volume_mm3"] == pytest.approx(r["voxels"] * voxel)
        assert r["pv_sum"] == pytest.approx(float(v.sum(dtype=np.float64)))
        assert r["pv_mm3"] == pytest.approx(r["pv_sum"] * voxel)
        assert r["coverage"] == pytest.approx(float(fractions.coverage[i // 2]))
    assert rows[0]["voxels"] > 0 and rows[1]["voxels"] > 0


def test_report_is_self_contained_with_its_table(report_page, fractions):
    text = report_page.read_text()
    page = Page(text)
    images = [a for tag, a in page.tags if tag == "img"]
    assert len(images) == 3  # one mosaic per axis
    assert all(a["src"].startswith("data:image/png;base64,") for a in images)
    assert not [t for t, a in page.tags if t in ("script", "link", "iframe")]
    assert not re.search(r"(src|href)=['\"]https?:", text)  # nothing to download
    header = next(r for r in page.rows if r and r[0] == "ROI")
    assert header[2:] == ["voxels", "volume (mm³)", "coverage (%)",
                          "partial-volume sum (voxels)", "partial volume (mm³)"]  # fmt: skip
    table = roi_table(fractions)
    body = [r for r in page.rows if len(r) == len(header) and r[1] in ("L", "R")]
    assert [(r[0], r[1], int(r[2].replace(",", ""))) for r in body] == [
        (t["roi"], t["hemisphere"], t["voxels"]) for t in table
    ]
    assert "cortical-liberal" in text and "oblique" in text


def test_report_in_headless_chromium(report_page, fractions, tmp_path):
    if chromium.chromium() is None:
        pytest.skip("chromium is not installed (Debian package 'chromium')")
    pytest.importorskip("websocket")
    shot = chromium.screenshot(report_page, tmp_path / "report.png")
    print(f"screenshot: {shot}")
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    colours = rplot.roi_colors(["V1", "CUT", "A"], None)
    for name in ("V1", "CUT"):  # left-hemisphere voxels of both are in the mosaics
        near = np.abs(pixels - 0.8 * np.asarray(colours[name])).max(axis=-1) < 0.12
        assert near.sum() > 50, f"{name}'s colour is not on the screenshot"
    assert (pixels > 0.95).all(axis=-1).mean() > 0.3  # a white page around the pictures
    result = chromium.check_page(report_page)
    assert result["errors"] == []
    assert len(result["images"]) == 3
    for image in result["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image


def test_broken_image_is_caught(tmp_path):
    """The Chromium check is real: a missing image and a console error are reported."""
    if chromium.chromium() is None:
        pytest.skip("chromium is not installed")
    pytest.importorskip("websocket")
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><img src='missing.png'>"
                    "<script>console.error('boom')</script></body></html>")  # fmt: skip
    result = chromium.check_page(page)
    assert result["images"][0]["width"] == 0
    assert any("boom" in e for e in result["errors"])
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in result["errors"])


def test_report_store_single(fractions, tmp_path):
    store = tmp_path / "masks.zarr"
    fractions.roixr.to_zarr(store)
    index = report_store(store, tmp_path / "out")
    assert index == tmp_path / "out" / "index.html"
    text = index.read_text()
    page = Page(text)
    section = text[text.index("Provenance recorded in the store") :]
    assert "cortical-liberal" in section and "oblique" in section  # the store's provenance
    for hidden in ("roixr_complete", "roixr_kind", "roixr_provenance"):
        assert hidden not in text
    assert any(r[:1] == ["sampler"] for r in page.rows)
    single = report_store(store, tmp_path / "single.html")
    assert single.name == "single.html" and single.exists()
    with pytest.raises(OutputPathError, match="does not exist; create it first"):
        report_store(store, tmp_path / "no" / "such" / "folder")
    with pytest.raises(OutputPathError, match="does not exist"):
        fractions.roixr.report(tmp_path / "missing" / "r.html")


def test_report_cohort_index(synth_dir, tmp_path, client):
    """A cohort written on a cluster: two complete subjects, one failed (a transform that
    does not exist), one unfinished (planned, never written)."""
    store = tmp_path / "cohort.zarr"
    subjects = {"s1": (synth_dir, "fullhead"), "s2": (synth_dir, "oblique"),
                "s4": (synth_dir, "nope")}  # fmt: skip
    with pytest.raises(CohortError, match="1 of 3 subjects failed"):
        roixr.write_cohort(subjects, store, client=client, rois=["V1", "A"])
    # s3 as a writer killed before its task ran leaves it: planned in the index, no data
    index = IndexWriter(as_location(store))
    index.set("s3", "pending")
    index.flush()
    assert {k: v["status"] for k, v in subject_status(store).items()} == {
        "s1": "complete", "s2": "complete", "s3": "unfinished", "s4": "failed"
    }  # fmt: skip
    index = report_store(store, tmp_path / "report", slices=4)
    page = Page(index.read_text())
    links = [a["href"] for t, a in page.tags if t == "a"]
    assert links == ["subjects/s1.html", "subjects/s2.html"]
    rows = {r[0]: r[1] for r in page.rows if len(r) == 3 and r[0] != "subject"}
    assert rows == {"s1": "complete", "s2": "complete", "s3": "unfinished", "s4": "failed"}
    assert "TransformNotFoundError" in index.read_text()  # the failure's recorded error
    for link in links:
        sub = Page((index.parent / link).read_text())
        back = [a["href"] for t, a in sub.tags if t == "a"]
        assert back == ["../index.html"]
        assert sum(1 for t, _ in sub.tags if t == "img") == 3
