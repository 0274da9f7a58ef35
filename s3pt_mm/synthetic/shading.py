"""Surface appearance of the synthetic world: materials, procedural textures, lighting.

Every hit point gets an albedo (RGB in [0, 1]), a surface normal and a LiDAR gain from its
material and its coordinates (world coordinates on the ground, box-local coordinates on parts),
so textures stick to surfaces and are identical for every sensor and every sample. Cameras use
Lambertian sun + ambient light with distance haze; the LiDAR intensity is albedo x gain x
|cos(incidence)|. Noise comes from an integer hash (``value_noise``) so images are
bit-identical for a seed on every machine.
"""
from typing import Dict, Tuple

import numpy as np

from .raycast import GROUND, Parts
from .scene_layout import Material, RoadLayout


def hash01(ix: np.ndarray, iy: np.ndarray, seed: int = 0) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice point (32-bit hash)."""
    h = (np.asarray(ix, dtype=np.int64) * 374761393 + np.asarray(iy, dtype=np.int64) * 668265263
         + (seed * 2246822519) % 4294967296) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return h.astype(np.float64) / 4294967296.0


def value_noise(x: np.ndarray, y: np.ndarray, scale: float, seed: int = 0) -> np.ndarray:
    """Smooth 2-D value noise in [0, 1): bilinear (smoothstep) blend of lattice hashes.

    Args:
        x, y (np.ndarray): (...) coordinates (metres).
        scale (float): lattice spacing (feature size) in metres.
        seed (int): decorrelates layers.

    Returns:
        np.ndarray: (...) noise values.
    """
    fx, fy = np.asarray(x) / scale, np.asarray(y) / scale
    ix, iy = np.floor(fx), np.floor(fy)
    tx, ty = fx - ix, fy - iy
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
    ix, iy = ix.astype(np.int64), iy.astype(np.int64)
    a, b = hash01(ix, iy, seed), hash01(ix + 1, iy, seed)
    c, d = hash01(ix, iy + 1, seed), hash01(ix + 1, iy + 1, seed)
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty


def _mix(a: np.ndarray, b, w: np.ndarray) -> np.ndarray:
    """Per-row blend a * (1 - w) + b * w of (N, 3) colours by (N,) weights."""
    return a * (1 - w[:, None]) + np.asarray(b, dtype=np.float64) * w[:, None]


def ground_albedo(x: np.ndarray, y: np.ndarray, layout: RoadLayout
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """Albedo and LiDAR gain of ground points: asphalt with markings, or grass.

    Markings: double yellow centre line, dashed white lane lines (3 m on, 6 m off), solid edge
    lines, zebra crossings; bike strips are tinted red.

    Args:
        x, y (np.ndarray): (N,) world coordinates of ground points.
        layout (RoadLayout): the street.

    Returns:
        Tuple[np.ndarray, np.ndarray]: (N, 3) albedo and (N,) LiDAR gain.
    """
    n = len(x)
    ay = np.abs(y)
    fine = value_noise(x, y, 0.35, seed=11)
    coarse = value_noise(x, y, 4.0, seed=12)
    asphalt = (0.26 + 0.07 * coarse + 0.05 * fine)[:, None] * np.array([1.0, 1.0, 1.04])
    grass = np.array([0.22, 0.36, 0.12]) * (0.75 + 0.5 * fine)[:, None]
    grass = _mix(grass, [0.38, 0.31, 0.2], np.clip(coarse * 1.6 - 0.8, 0, 1))
    road = ay <= layout.road_edge
    albedo = np.where(road[:, None], asphalt, grass)
    gain = np.ones(n)
    r = layout.carriageway_half
    white = (ay <= r) & (ay >= r - 0.15)                     # edge lines
    for k in range(1, layout.lanes_per_direction):           # dashed lane lines
        white |= (np.abs(ay - k * layout.lane_width) < 0.075) & (np.mod(x, 9.0) < 3.0)
    for xc in layout.crosswalks:                              # zebra crossings
        white |= (np.abs(x - xc) < 2.0) & (ay < r) & (np.mod(y, 1.2) < 0.6)
    yellow = np.abs(ay - 0.15) < 0.06
    albedo[white] = 0.82
    albedo[yellow] = (0.8, 0.65, 0.15)
    gain[white | yellow] = 3.0
    for side, kind in zip((-1, 1), layout.strip_kinds):
        if kind == 'bike':
            sel = (np.sign(y) == side) & (ay > r) & road
            albedo[sel] = albedo[sel] * np.array([1.5, 0.8, 0.75])
    return np.clip(albedo, 0, 1), gain


def _face_coordinates(local: np.ndarray, half: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Face axis (0 = x, 1 = y, 2 = z) and outward sign of box-local hit points."""
    rel = np.abs(local) / half
    axis = np.argmax(rel, axis=1)
    sign = np.sign(local[np.arange(len(local)), axis])
    sign[sign == 0] = 1
    return axis, sign


_MATERIAL_GAIN: Dict[int, float] = {
    Material.CONE: 4.0, Material.BARRIER: 2.5, Material.SIGN: 5.0, Material.PAINT: 1.2,
    Material.GLASS: 0.4, Material.METAL: 1.5, Material.RUBBER: 0.5,
}


_DARK_GLASS = np.array([0.08, 0.1, 0.13])


def _paving(f: '_Surface') -> None:
    top = f.axis == 2
    grid = (np.mod(f.local[:, 0], 0.6) < 0.04) | (np.mod(f.local[:, 1], 0.6) < 0.04)
    f.paint(top & grid, f.base * 0.7)
    f.paint(~top, np.array([0.55, 0.55, 0.53]))


def _facade(f: '_Surface') -> None:
    floor_z = np.mod(f.z, 3.2)
    col_s = np.mod(f.s, 2.6)
    window = (f.side & (f.z > 3.2) & (floor_z > 0.9) & (floor_z < 2.5) & (col_s > 0.5)
              & (col_s < 2.0))
    shop = f.side & (f.z <= 3.2) & (f.z > 0.4) & (f.z < 2.6) & (np.mod(f.s, 6.0) < 4.5)
    glass = window | shop
    lit = hash01(np.floor(f.s[glass] / 2.6), np.floor(f.z[glass] / 3.2) + 1000 * f.part[glass],
                 seed=5) > 0.85
    f.albedo[glass] = np.where(lit[:, None], [0.75, 0.68, 0.45], [0.12, 0.16, 0.22])
    f.paint(f.axis == 2, f.base * 0.45)


def _concrete(f: '_Surface') -> None:
    f.paint(f.axis == 2, f.base * 0.8)


def _vehicle_paint(f: '_Surface') -> None:
    length = f.half[:, 0]
    wheel_x = length - np.minimum(0.85, 0.5 * length)
    radius = np.minimum(0.34, f.half[:, 2] * 0.6)
    dist = np.minimum(np.abs(f.local[:, 0] - wheel_x), np.abs(f.local[:, 0] + wheel_x))
    tyre = (f.axis == 1) & ((dist ** 2 + (f.z - radius) ** 2) < radius ** 2)
    f.paint(tyre, np.array([0.04, 0.04, 0.04]))
    lights = ((f.axis == 0) & (f.z > f.half[:, 2] * 1.3) & (f.z < f.half[:, 2] * 1.7)
              & (np.abs(f.local[:, 1]) > f.half[:, 1] * 0.7))
    f.paint(lights & (f.sign > 0), np.array([0.95, 0.95, 0.85]))
    f.paint(lights & (f.sign < 0), np.array([0.8, 0.05, 0.05]))


def _cabin_glass(f: '_Surface') -> None:
    edge = np.where(f.axis == 0, f.half[:, 1], f.half[:, 0]) - 0.1
    f.paint(f.side & (np.abs(f.s) <= edge) & (f.z >= 0.06), _DARK_GLASS)


def _bus(f: '_Surface') -> None:
    hz = f.half[:, 2]
    band = f.side & (f.z > hz * 0.9) & (f.z < hz * 1.75) & (np.mod(f.s, 1.6) > 0.12)
    f.paint(band | ((f.axis == 0) & (f.sign > 0) & (f.z > hz * 0.7)), _DARK_GLASS)


def _truck_cab(f: '_Surface') -> None:
    hz = f.half[:, 2]
    windscreen = (f.axis == 0) & (f.sign > 0) & (f.z > hz) & (f.z < hz * 1.8)
    door = (f.axis == 1) & (f.z > hz) & (f.z < hz * 1.7) & (f.local[:, 0] > 0)
    f.paint(windscreen | door, _DARK_GLASS)


def _cargo(f: '_Surface') -> None:
    f.paint(f.side & (np.mod(f.s, 0.6) < 0.08), f.base * 0.75)


def _barrier(f: '_Surface') -> None:
    f.paint(f.side & (np.mod(f.s + f.z, 0.8) < 0.4), np.array([0.9, 0.9, 0.9]))


def _foliage(f: '_Surface') -> None:
    leaf = (value_noise(f.s + 3 * f.axis, f.z, 0.25, seed=7) * 0.6
            + value_noise(f.s, f.z, 1.2, seed=8) * 0.4)
    f.albedo[:] = f.base * (0.55 + 0.8 * leaf)[:, None]


def _sign(f: '_Surface') -> None:
    hz = f.half[:, 2]
    border = ((np.abs(f.local[:, 1]) > f.half[:, 1] - 0.06)
              | (np.abs(f.z - hz) > hz - 0.06))
    f.paint((f.axis == 0) & border, np.array([0.95, 0.95, 0.95]))
    f.paint((f.axis == 0) & (f.sign < 0), np.array([0.6, 0.6, 0.6]))


_TEXTURES = {Material.PAVING: _paving, Material.FACADE: _facade, Material.CONCRETE: _concrete,
             Material.PAINT: _vehicle_paint, Material.GLASS: _cabin_glass, Material.BUS: _bus,
             Material.CAB: _truck_cab, Material.CARGO: _cargo, Material.BARRIER: _barrier,
             Material.FOLIAGE: _foliage, Material.SIGN: _sign}


class _Surface:
    """Hit points of one material: box-local coordinates and the albedo being textured."""

    def __init__(self, local: np.ndarray, part: np.ndarray, parts: Parts) -> None:
        self.local = local
        self.part = part
        self.half = parts.half[part]
        self.base = parts.color[part].astype(np.float64)
        self.axis, self.sign = _face_coordinates(local, self.half)
        # Horizontal coordinate along the face (x on y-faces, y on x-faces), height above bottom.
        self.s = np.where(self.axis == 0, local[:, 1], local[:, 0])
        self.z = local[:, 2] + self.half[:, 2]
        self.side = self.axis < 2
        self.albedo = self.base * (0.9 + 0.2 * value_noise(self.s, self.z + 10 * self.axis, 0.8,
                                                           seed=3))[:, None]

    def paint(self, mask: np.ndarray, color: np.ndarray) -> None:
        self.albedo[mask] = color if color.ndim == 1 else color[mask]


def part_albedo(local: np.ndarray, part: np.ndarray, parts: Parts
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Albedo, LiDAR gain and box-local normal of hit points on parts.

    Textures per material: paving tiles, facade windows (some lit), tyres and lights on cars,
    cabin/bus/cab glass, cargo ribs, barrier stripes, leafy noise, sign borders.

    Args:
        local (np.ndarray): (N, 3) hit points in their part's frame (centre at 0).
        part (np.ndarray): (N,) part indices.
        parts (Parts): the parts.

    Returns:
        Tuple[np.ndarray, np.ndarray, np.ndarray]: (N, 3) albedo, (N,) gain, (N, 3) unit normal
        in the part's frame (the face the point lies on).
    """
    material = parts.material[part]
    albedo = np.empty((len(part), 3))
    gain = np.ones(len(part))
    normal = np.zeros((len(part), 3))
    for m in np.unique(material):
        idx = np.flatnonzero(material == m)
        surface = _Surface(local[idx], part[idx], parts)
        texture = _TEXTURES.get(Material(int(m)))
        if texture is not None:
            texture(surface)
        albedo[idx] = surface.albedo
        gain[idx] = _MATERIAL_GAIN.get(int(m), 1.0)
        normal[idx, surface.axis] = surface.sign
    return np.clip(albedo, 0, 1), gain, normal


def surface_properties(points: np.ndarray, part: np.ndarray, parts: Parts, layout: RoadLayout
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Albedo, normal and LiDAR gain of world hit points.

    Args:
        points (np.ndarray): (N, 3) world hit points.
        part (np.ndarray): (N,) hit part index or ``GROUND``.
        parts (Parts): the parts.
        layout (RoadLayout): the street (ground appearance).

    Returns:
        Tuple[np.ndarray, np.ndarray, np.ndarray]: (N, 3) albedo in [0, 1], (N, 3) unit world
        normals, (N,) LiDAR gain.
    """
    n = len(points)
    albedo = np.zeros((n, 3))
    normal = np.zeros((n, 3))
    gain = np.ones(n)
    on_ground = part == GROUND
    if on_ground.any():
        albedo[on_ground], gain[on_ground] = ground_albedo(
            points[on_ground, 0], points[on_ground, 1], layout)
        normal[on_ground] = (0.0, 0.0, 1.0)
    on_part = part >= 0
    if on_part.any():
        p = part[on_part]
        yaw = parts.yaw[p]
        c, s = np.cos(yaw), np.sin(yaw)
        rel = points[on_part] - parts.center[p]
        local = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1],
                          rel[:, 2]], axis=1)
        albedo[on_part], gain[on_part], nl = part_albedo(local, p, parts)
        normal[on_part] = np.stack([c * nl[:, 0] - s * nl[:, 1], s * nl[:, 0] + c * nl[:, 1],
                                    nl[:, 2]], axis=1)
    return albedo, normal, gain


def sky_color(dirs: np.ndarray) -> np.ndarray:
    """Sky gradient (horizon haze to zenith blue) with soft clouds, for (N, 3) ray directions."""
    d = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    elev = np.clip(d[:, 2], 0, 1)
    w = np.sqrt(elev)
    color = _mix(np.tile([0.8, 0.86, 0.92], (len(d), 1)), [0.32, 0.52, 0.85], w)
    az = np.arctan2(d[:, 1], d[:, 0])
    cloud = value_noise(az * 12.0, elev * 25.0, 1.0, seed=21)
    cloud = np.clip((cloud - 0.55) * 3.0, 0, 1) * (elev > 0.02)
    return _mix(color, [0.95, 0.95, 0.97], 0.7 * cloud)


def shade(albedo: np.ndarray, normal: np.ndarray, distance: np.ndarray, sun: np.ndarray,
          haze_color: Tuple[float, float, float] = (0.8, 0.86, 0.92),
          haze_distance: float = 600.0) -> np.ndarray:
    """Lambertian sun + ambient lighting with exponential distance haze.

    colour = albedo * (0.45 + 0.7 * max(0, n . sun)), then blended towards ``haze_color`` by
    1 - exp(-distance / haze_distance).

    Args:
        albedo (np.ndarray): (N, 3) albedo.
        normal (np.ndarray): (N, 3) unit normals.
        distance (np.ndarray): (N,) distance to the viewer (metres).
        sun (np.ndarray): (3,) unit direction towards the sun.
        haze_color (Tuple[float, float, float]): colour at infinite distance.
        haze_distance (float): haze e-folding distance.

    Returns:
        np.ndarray: (N, 3) linear RGB in [0, 1].
    """
    light = 0.45 + 0.7 * np.clip(normal @ sun, 0, None)
    color = albedo * light[:, None]
    return np.clip(_mix(color, haze_color, 1 - np.exp(-distance / haze_distance)), 0, 1)
