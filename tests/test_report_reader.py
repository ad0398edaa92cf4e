"""The report read back (refine_protocol/report.py), as the add-on, the CLI and the batch read it:
from a real refinement's report, through JSON, with the sentences they print."""

from __future__ import annotations

import json

import pytest

from engine.refine import refine
from engine.settings import preset
from refine_protocol.report import CameraFitSummary, ReportSummary


@pytest.fixture(scope="module")
def report(example):
    camera = example["camera"]
    settings = preset("fast").with_overrides(iterations=12, fit_camera="refine")
    return refine(example["verts"], example["faces"], example["mask"], camera, settings).report


def test_the_summary_holds_what_the_report_says(report):
    said = ReportSummary.from_dict(json.loads(json.dumps(report.to_dict())))  # as it crosses the wire
    assert (said.iterations_run, said.best_iteration, said.vertices) == (
        report.iterations_run,
        report.best_iteration,
        report.vertices,
    )
    assert (said.iou_before, said.iou_after) == (report.silhouette_iou["before"], report.silhouette_iou["after"])
    assert (said.shift, said.scale) == (report.self_check["shift"], report.self_check["scale"])
    assert said.warnings == tuple(report.self_check["warnings"]) and said.silhouette.source == "mask"
    assert isinstance(said.camera, CameraFitSummary) and said.camera.mode == "refine"
    assert said.camera.iou_after == report.camera["iou_after"]


def test_the_sentences(report):
    said = ReportSummary.from_dict(report.to_dict())
    before, after = report.silhouette_iou["before"], report.silhouette_iou["after"]
    assert said.iou_change() == f"{before:.3f} -> {after:.3f}"
    outcome = said.outcome()
    assert outcome.startswith(f", silhouette IoU {before:.2f} -> {after:.2f}, moved ")
    assert (", volume " in outcome) == (report.self_check["volume_change"] is not None)  # None: an open mesh
    assert said.camera.change(precise=True).startswith(f"silhouette IoU {report.camera['iou_before']:.3f} -> ")


def test_the_volume_said_is_the_whole_change_scale_included():
    check = {"shift": 0.01, "scale": 0.9, "volume_change": 0.0, "warnings": []}  # shape kept, shrunk by 0.9
    assert ReportSummary.from_dict({"self_check": check}).outcome() == ", moved 1.0 % of its size, scaled x0.900, volume -27 %"


def test_a_report_without_measurements_says_so():
    said = ReportSummary.from_dict({"iterations_run": 0, "self_check": {"warnings": []}})
    assert said.iou_change() == "n/a -> n/a" and said.outcome() == "" and said.camera is None
