"""Pinhole camera rendering by ray casting: RGB, exact z-depth, semantic labels.

Each pixel's ray goes through the pixel centre (``camera_rig.camera_ray_directions``), so the
depth map holds, per pixel, the exact camera-frame z of the first surface on that ray; the RGB
and label maps come from the same hit, which is why depth, labels and image agree exactly.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .camera_rig import camera_ray_directions
from .classes import SEMANTIC_ID
from .geometry import invert_pose
from .raycast import GROUND, Parts, cast_rays, pinhole_object_rects
from .scene_layout import RoadLayout
from .shading import shade, sky_color, surface_properties


@dataclass
class CameraRender:
    """One rendered camera image.

    Attributes:
        rgb (np.ndarray): (H, W, 3) uint8 sRGB image.
        depth (np.ndarray): (H, W) float32 camera z in metres, 0 where the ray hits only sky.
        semantic (np.ndarray): (H, W) uint8 ``SEMANTIC_CLASSES`` ids.
        part (np.ndarray): (H, W) int32 index of the part seen (``GROUND``/``MISS`` otherwise).
        unoccluded (np.ndarray): (num_objects,) pixels each object would cover if alone.
    """

    rgb: np.ndarray
    depth: np.ndarray
    semantic: np.ndarray
    part: np.ndarray
    unoccluded: np.ndarray


def render_camera(parts: Parts, layout: RoadLayout, cam2world: np.ndarray, cam2img: np.ndarray,
                  width: int, height: int, sun: np.ndarray,
                  dirs_cam: Optional[np.ndarray] = None) -> CameraRender:
    """Render one pinhole camera.

    Args:
        parts (Parts): world parts of the sample.
        layout (RoadLayout): the street (ground plane, its appearance and labels).
        cam2world (np.ndarray): (4, 4) camera -> world pose (camera x right, y down, z forward).
        cam2img (np.ndarray): (3, 3) intrinsics.
        width (int): image width W.
        height (int): image height H.
        sun (np.ndarray): (3,) unit direction towards the sun.
        dirs_cam (Optional[np.ndarray]): (H, W, 3) ``camera_ray_directions(cam2img, W, H)``,
            to reuse across samples. Defaults to None (computed).

    Returns:
        CameraRender: image, depth, labels, part map and per-object unoccluded pixel counts.
    """
    if dirs_cam is None:
        dirs_cam = camera_ray_directions(cam2img, width, height)
    dirs = dirs_cam @ cam2world[:3, :3].T
    origin = cam2world[:3, 3]
    rects = pinhole_object_rects(parts, invert_pose(cam2world), cam2img, height, width)
    hits = cast_rays(origin, dirs, parts, rects, layout.ground_plane)
    flat_part = hits.part.reshape(-1)
    flat_dirs = dirs.reshape(-1, 3)
    hit = flat_part != -1
    t = hits.t.reshape(-1)[hit]
    points = origin + t[:, None] * flat_dirs[hit]
    albedo, normal, _ = surface_properties(points, flat_part[hit], parts, layout)
    distance = t * np.linalg.norm(flat_dirs[hit], axis=1)
    color = np.empty((len(flat_part), 3))
    color[hit] = shade(albedo, normal, distance, sun)
    color[~hit] = sky_color(flat_dirs[~hit])
    # Gamma 2.2 for display: albedos are linear.
    rgb = np.round(255.0 * np.power(color, 1 / 2.2)).astype(np.uint8).reshape(height, width, 3)

    semantic = np.full(len(flat_part), SEMANTIC_ID['sky'], dtype=np.uint8)
    on_part = flat_part >= 0
    semantic[on_part] = parts.semantic[flat_part[on_part]]
    on_ground = flat_part == GROUND
    semantic[on_ground] = layout.ground_semantic(
        origin[1] + hits.t.reshape(-1)[on_ground] * flat_dirs[on_ground, 1])
    depth = np.where(np.isfinite(hits.t), hits.t, 0.0).astype(np.float32)
    return CameraRender(rgb=rgb, depth=depth, semantic=semantic.reshape(height, width),
                        part=hits.part, unoccluded=hits.unoccluded)
