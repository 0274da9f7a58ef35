"""A 32-beam spinning LiDAR (Velodyne HDL-32E like nuScenes' LIDAR_TOP), simulated by ray casting.

Beam k (the ``ring`` column) points at elevation -30.67 deg + k * 4/3 deg (k = 0..31, up to
+10.67 deg) in the LiDAR frame; one revolution has 1084 azimuth steps (0.332 deg), the numbers
measured on the real keyframe. All rays are cast at one instant (the sample's timestamp) so the
points agree exactly with the cameras; rays that hit nothing within ``max_range`` return no
point (nuScenes keeps some zero points; we drop them). Points are written like nuScenes'
``.pcd.bin``: float32 (x, y, z, intensity 0-255, ring) in the LiDAR frame, ordered by azimuth
step then ring.
"""
from dataclasses import dataclass

import numpy as np

from .geometry import invert_pose
from .raycast import GROUND, Parts, cast_rays, spherical_object_rects
from .scene_layout import RoadLayout
from .shading import surface_properties


@dataclass(frozen=True)
class LidarSpec:
    """Beam geometry of the simulated LiDAR.

    Attributes:
        num_beams (int): rings. Defaults to 32.
        elevation_min_deg (float): elevation of ring 0. Defaults to -30.67.
        elevation_step_deg (float): elevation increment per ring. Defaults to 4/3.
        num_azimuths (int): azimuth steps per revolution. Defaults to 1084.
        max_range (float): farthest return in metres. Defaults to 100.
    """

    num_beams: int = 32
    elevation_min_deg: float = -30.67
    elevation_step_deg: float = 4.0 / 3.0
    num_azimuths: int = 1084
    max_range: float = 100.0

    @property
    def azimuth0(self) -> float:
        """Azimuth (atan2(y, x), LiDAR frame) of step 0: just past -pi, the sensor's left side."""
        return -np.pi + np.pi / self.num_azimuths

    def directions(self) -> np.ndarray:
        """(num_beams, num_azimuths, 3) unit ray directions in the LiDAR frame."""
        rings = np.arange(self.num_beams)
        elev = np.radians(self.elevation_min_deg + self.elevation_step_deg * rings)[:, None]
        az = self.azimuth0 + 2 * np.pi / self.num_azimuths * np.arange(self.num_azimuths)
        shape = (self.num_beams, self.num_azimuths)
        return np.stack([np.cos(elev) * np.cos(az), np.cos(elev) * np.sin(az),
                         np.broadcast_to(np.sin(elev), shape)], axis=-1)


@dataclass
class LidarScan:
    """One simulated sweep.

    Attributes:
        points (np.ndarray): (N, 5) float32 x, y, z (LiDAR frame), intensity, ring.
        part (np.ndarray): (N,) int32 index of the part each return hit (``GROUND`` = ground).
    """

    points: np.ndarray
    part: np.ndarray


def simulate_lidar(parts: Parts, layout: RoadLayout, lidar2world: np.ndarray,
                   spec: LidarSpec = LidarSpec()) -> LidarScan:
    """Cast every beam of one revolution and return the returns in the LiDAR frame.

    Intensity = clip(255 * gain * mean(albedo) * |cos(incidence)|, 0, 255): bright paint,
    retro-reflective cones/signs/markings, dark glass and tyres.

    Args:
        parts (Parts): world parts of the sample.
        layout (RoadLayout): the street (ground plane and its appearance).
        lidar2world (np.ndarray): (4, 4) LiDAR -> world pose.
        spec (LidarSpec): beam geometry.

    Returns:
        LidarScan: the points (float32, LiDAR frame) and the part hit by each.
    """
    dirs_lidar = spec.directions()
    dirs = dirs_lidar @ lidar2world[:3, :3].T
    origin = lidar2world[:3, 3]
    rects = spherical_object_rects(parts, invert_pose(lidar2world), spec.num_beams,
                                   spec.azimuth0, spec.num_azimuths)
    hits = cast_rays(origin, dirs, parts, rects, layout.ground_plane)
    # Order returns by azimuth step, then ring (like nuScenes' files).
    t = hits.t.T.reshape(-1)
    part = hits.part.T.reshape(-1)
    ring = np.broadcast_to(np.arange(spec.num_beams)[None], (spec.num_azimuths, spec.num_beams))
    ring = ring.reshape(-1)
    d_lidar = dirs_lidar.transpose(1, 0, 2).reshape(-1, 3)
    d_world = dirs.transpose(1, 0, 2).reshape(-1, 3)
    keep = np.isfinite(t) & (t <= spec.max_range)
    t, part, ring, d_lidar, d_world = t[keep], part[keep], ring[keep], d_lidar[keep], d_world[keep]
    world_points = origin + t[:, None] * d_world
    albedo, normal, gain = surface_properties(world_points, part, parts, layout)
    cos_inc = np.abs(np.sum(normal * d_world, axis=1))
    intensity = np.clip(255.0 * gain * albedo.mean(1) * cos_inc, 0, 255)
    points = np.concatenate([t[:, None] * d_lidar, intensity[:, None], ring[:, None]], axis=1)
    return LidarScan(points=points.astype(np.float32), part=part.astype(np.int32))


__all__ = ['LidarSpec', 'LidarScan', 'simulate_lidar', 'GROUND']
