"""Symmetry plane detection on shapes in arbitrary poses (property-based)."""

from __future__ import annotations

import numpy as np
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from engine.symmetry import Plane, detect_plane, fit_plane_offset
from engine.symmetry.choose import sample_surface


def _chair() -> trimesh.Trimesh:
    """Symmetric about x = 0, but not about y = 0 or z = 0."""
    parts = [
        trimesh.creation.box((1.0, 1.0, 0.1)),
        trimesh.creation.box((1.0, 0.1, 1.0)).apply_translation((0, 0.45, 0.55)),
        trimesh.creation.box((0.1, 0.1, 0.6)).apply_translation((0.45, -0.45, -0.3)),
        trimesh.creation.box((0.1, 0.1, 0.6)).apply_translation((-0.45, -0.45, -0.3)),
        trimesh.creation.icosphere(2, 0.15).apply_translation((0.0, -0.3, 0.2)),
    ]
    return trimesh.util.concatenate(parts)


def _asymmetric() -> trimesh.Trimesh:
    parts = [
        trimesh.creation.box((1.0, 0.3, 0.2)),
        trimesh.creation.box((0.2, 0.8, 0.2)).apply_translation((0.4, 0.3, 0)),
        trimesh.creation.icosphere(2, 0.25).apply_translation((-0.3, -0.2, 0.3)),
        trimesh.creation.cylinder(0.1, 0.6).apply_translation((0.1, 0.2, -0.3)),
    ]
    return trimesh.util.concatenate(parts)


def _samples(mesh: trimesh.Trimesh, rot: np.ndarray, shift: np.ndarray, seed: int = 0) -> np.ndarray:
    verts = np.asarray(mesh.vertices) @ rot.T + shift
    return sample_surface(verts, np.asarray(mesh.faces), 4000, np.random.default_rng(seed))


@settings(max_examples=12, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.tuples(*[st.floats(-0.3, 0.3)] * 3),
)
def test_finds_the_plane_of_a_symmetric_object_in_any_pose(seed, shift):
    rot = Rotation.random(random_state=seed).as_matrix()
    plane, score = detect_plane(_samples(_chair(), rot, np.array(shift), seed))
    assert plane is not None, f"score {score}"
    true_normal = rot @ np.array([1.0, 0.0, 0.0])
    assert abs(np.dot(plane.normal, true_normal)) > np.cos(np.radians(3.0))
    # The plane passes through the object's (rotated, shifted) symmetry plane x = 0.
    assert abs(plane.offset - np.sign(np.dot(plane.normal, true_normal)) * np.dot(true_normal, shift)) < 0.02


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_rejects_an_asymmetric_object(seed):
    rot = Rotation.random(random_state=seed).as_matrix()
    plane, score = detect_plane(_samples(_asymmetric(), rot, np.zeros(3), seed))
    assert plane is None and score > 2.0


def test_forced_axis_keeps_the_normal_and_fits_the_offset():
    points = _samples(_chair(), np.eye(3), np.array([0.2, 0.0, 0.0]))
    plane = fit_plane_offset(points, np.array([1.0, 0.0, 0.0]))
    assert plane.normal == (1.0, 0.0, 0.0)
    assert abs(plane.offset - 0.2) < 0.01


def test_reflect_is_an_involution():
    plane = Plane((0.0, 0.6, 0.8), 0.3)
    p = np.random.default_rng(1).normal(size=(10, 3))
    np.testing.assert_allclose(plane.reflect(plane.reflect(p)), p, atol=1e-12)
    np.testing.assert_allclose(plane.reflect(p) @ np.array(plane.normal) - 0.3, -(p @ np.array(plane.normal) - 0.3))
