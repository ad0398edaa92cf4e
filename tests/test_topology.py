"""Welding the copies of a vertex that exporters split along seams."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.topology import weld


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_copies_weld_into_one_vertex_in_input_order(unique, copies, seed):
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, (unique, 3))
    source = np.concatenate([np.arange(unique), rng.integers(0, unique, copies)])
    rng.shuffle(source)
    verts = points[source]
    index, first = weld(verts)
    np.testing.assert_array_equal(verts[first][index], verts)  # every vertex is its welded vertex
    assert len(first) == len(np.unique(source)) and np.all(np.diff(first) > 0)
    assert np.array_equal(index[first], np.arange(len(first)))


def test_without_copies_nothing_changes_and_groups_stay_apart():
    verts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    index, first = weld(verts)
    np.testing.assert_array_equal(index, [0, 1, 2])
    np.testing.assert_array_equal(first, [0, 1, 2])
    touching = np.array([[0.0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 1e-9], [0, 0, 1e-3]])
    index, _ = weld(touching, groups=np.array([0, 0, 0, 1, 1]))
    assert index[0] == index[2] != index[3]  # one object's copies weld; another object's point does not
    assert index[3] != index[4]  # a thousandth of the size apart is not a copy


def test_far_from_the_origin_and_all_at_one_point():
    """Positions are counted from the mesh's own box: a scan in survey coordinates (here 1e13 units
    off, 1 unit large) keeps its points apart, and a mesh collapsed to one point is one vertex."""
    verts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]]) + 1e13
    index, first = weld(verts)
    np.testing.assert_array_equal(index, [0, 1, 2, 2])
    index, first = weld(np.full((3, 3), 5.0))
    np.testing.assert_array_equal(index, [0, 0, 0])
    np.testing.assert_array_equal(first, [0])
