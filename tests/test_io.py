"""Mesh and image files: formats keep the vertex order; OBJ output keeps everything but positions."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import ExifTags, Image

from engine.io import load_image, load_mesh, save_mesh

from .conftest import EXAMPLE


@pytest.mark.parametrize("suffix", [".ply", ".glb", ".off", ".stl"])
def test_formats_round_trip_in_vertex_order(tmp_path, suffix):
    verts, faces = load_mesh(EXAMPLE / "coarse.obj")
    path = tmp_path / f"mesh{suffix}"
    trimesh.Trimesh(verts, faces, process=False).export(path)
    v2, f2 = load_mesh(path)
    if suffix == ".stl":  # STL stores triangle soup: positions per face corner
        np.testing.assert_allclose(v2[f2], verts[faces], atol=1e-5)
        return
    np.testing.assert_allclose(v2, verts, atol=1e-5)
    np.testing.assert_array_equal(f2, faces)


def test_obj_output_replaces_only_positions(tmp_path):
    src = tmp_path / "quad.obj"
    src.write_text(
        "# a quad with UVs\nmtllib none.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 1\ng part\nf 1/1 2/2 3/1 4/2\n"
    )
    verts, faces = load_mesh(src)
    assert faces.shape == (2, 3)  # the quad is triangulated for the optimization
    out = tmp_path / "out.obj"
    save_mesh(out, verts + 0.5, faces, template=src)
    lines = out.read_text().splitlines()
    assert lines[2] == "v 0.5 0.5 0.5" and "f 1/1 2/2 3/1 4/2" in lines and "g part" in lines


def test_rgba_alpha_is_the_silhouette():
    photo = load_image(EXAMPLE / "photo.png")
    rgb, mask = photo.rgb, photo.mask
    assert photo.source == "alpha" and rgb.shape == (240, 320, 3) and mask.shape == (240, 320)
    assert 0.05 < (mask > 0.5).mean() < 0.5 and mask.min() == 0.0 and mask.max() == 1.0


def test_a_phone_photo_is_turned_as_its_exif_orientation_says(tmp_path):
    """Stored 100 wide and 60 high, left half white, with the tag phones write for a portrait
    (turn 90 degrees clockwise to view): seen 60 wide and 100 high, top half white, as viewers
    show it; as stored (as Blender shows it) on request. A mask file is turned the same way."""
    stored = np.zeros((60, 100), np.uint8)
    stored[:, :50] = 255
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    photo, mask = tmp_path / "phone.jpg", tmp_path / "mask.png"
    Image.fromarray(stored).convert("RGB").save(photo, exif=exif)
    Image.fromarray(stored).save(mask, exif=exif)
    upright = load_image(photo, mask)
    assert upright.rgb.shape == (100, 60, 3) and upright.mask.shape == (100, 60)
    assert upright.rgb[:45].min() > 0.9 and upright.rgb[55:].max() < 0.1
    np.testing.assert_array_equal(upright.mask, np.repeat([[1.0]] * 50 + [[0.0]] * 50, 60, axis=1))
    as_stored = load_image(photo, mask, exif_orientation=False)
    assert as_stored.rgb.shape == (60, 100, 3) and as_stored.rgb[:, :45].min() > 0.9
    np.testing.assert_array_equal(as_stored.mask, stored / 255.0)


def test_a_16_bit_mask_keeps_its_grey_levels(tmp_path):
    """Pillow converts 16-bit grey to 8 bits by clipping; the mask's anti-aliased edge must stay."""
    levels = np.array([[0, 128, 32768, 65535]], np.uint16).repeat(3, axis=0)
    mask = tmp_path / "mask16.png"
    Image.fromarray(levels).save(mask)
    assert Image.open(mask).mode.startswith("I")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (4, 3)).save(photo)
    loaded = load_image(photo, mask).mask
    np.testing.assert_allclose(loaded[0], [0.0, 0.0, 128 / 255, 1.0], atol=1e-6)


@pytest.mark.parametrize("kind", ["JPEG", "WEBP", "opaque RGBA"])
def test_a_photo_without_a_silhouette_asks_for_one_to_be_found(tmp_path, kind):
    """No alpha, or an alpha that covers everything (a photo saved as RGBA): mask None."""
    img = Image.open(EXAMPLE / "photo.png").convert("RGB")
    path = tmp_path / "photo.png"
    if kind == "opaque RGBA":
        img.convert("RGBA").save(path)
    else:
        img.save(path := path.with_suffix("." + kind.lower()), kind)
    photo = load_image(path)
    assert photo.mask is None and photo.source == "automatic" and photo.rgb.shape == (240, 320, 3)
    mask_file = tmp_path / "mask.png"
    Image.new("L", (160, 120), 255).save(mask_file)
    with_mask = load_image(path, mask_file)
    assert with_mask.source == "mask" and with_mask.mask.shape == (120, 160) and with_mask.mask.min() == 1.0
