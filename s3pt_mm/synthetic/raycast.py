"""Vectorised ray casting against yawed boxes and a bounded ground plane (pure numpy).

The world is a bounded ground plane z = 0 plus a set of *parts*: boxes that may rotate about
+z (yaw). Parts are grouped into *objects* (a car = body + cabin), and every sensor casts rays from
one origin through a 2-D grid of directions (pixels of a pinhole camera, or rings x azimuth steps
of a spinning LiDAR). Brute force would test every ray against every part; instead each object's
footprint on the ray grid is bounded first (``pinhole_object_rects``, ``spherical_object_rects``)
and only the rays inside that rectangle are tested, so the cost scales with the pixels an object
covers, like a rasteriser, while every depth stays an exact ray-box intersection.

Ray parameters: a hit point is ``origin + t * direction``; with camera directions scaled to
z_cam = 1, ``t`` is the camera z-depth, with unit directions it is the range.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .geometry import BOX_EDGES, box_corners

#: ``part`` value of a ray that hit the ground plane / nothing.
GROUND = -2
MISS = -1


@dataclass
class Parts:
    """Struct of arrays describing N world-frame box parts.

    Attributes:
        center (np.ndarray): (N, 3) box centres.
        half (np.ndarray): (N, 3) half extents along the part's heading, left, up.
        yaw (np.ndarray): (N,) rotation about +z.
        material (np.ndarray): (N,) int material id (see ``shading.Material``).
        color (np.ndarray): (N, 3) base RGB albedo in [0, 1].
        semantic (np.ndarray): (N,) uint8 semantic class id.
        obj (np.ndarray): (N,) int object index; parts of one object are contiguous.
    """

    center: np.ndarray
    half: np.ndarray
    yaw: np.ndarray
    material: np.ndarray
    color: np.ndarray
    semantic: np.ndarray
    obj: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw)

    @property
    def num_objects(self) -> int:
        return int(self.obj.max()) + 1 if len(self.obj) else 0

    def object_slices(self) -> np.ndarray:
        """(num_objects, 2) [start, stop) part index range of each object."""
        n = self.num_objects
        starts = np.searchsorted(self.obj, np.arange(n), side='left')
        stops = np.searchsorted(self.obj, np.arange(n), side='right')
        return np.stack([starts, stops], axis=1)

    def corners(self) -> np.ndarray:
        """(N, 8, 3) world-frame corners of every part."""
        return box_corners(self.center, self.half, self.yaw)


@dataclass(frozen=True)
class GroundPlane:
    """The plane z = ``height`` restricted to x in ``x_range`` and y in ``y_range``."""

    x_range: Tuple[float, float]
    y_range: Tuple[float, float]
    height: float = 0.0


def intersect_boxes_single(origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray,
                           center: np.ndarray, half: np.ndarray, yaw: float,
                           t_min: float = 1e-6) -> np.ndarray:
    """Entry distance of rays from one origin into one yawed box (slab method).

    In the box frame (rotate by -yaw about z, translate by -centre) the box is
    |x| <= hx, |y| <= hy, |z| <= hz; per axis the ray is inside for t in
    [min(t1, t2), max(t1, t2)] with t1,2 = (-+h - o) / d; the ray enters at the largest lower
    bound t_near and leaves at the smallest upper bound t_far (Kay & Kajiya 1986).

    Args:
        origin (np.ndarray): (3,) ray origin (world).
        dx, dy, dz (np.ndarray): (...) world ray direction components (any common shape).
        center (np.ndarray): (3,) box centre.
        half (np.ndarray): (3,) half extents.
        yaw (float): box yaw.
        t_min (float): hits with t_near <= t_min (behind the origin, or origin inside the box)
            count as misses. Defaults to 1e-6.

    Returns:
        np.ndarray: (...) float64 ray parameter of the entry point, ``inf`` where missed.
    """
    c, s = np.cos(yaw), np.sin(yaw)
    rx, ry, rz = origin[0] - center[0], origin[1] - center[1], origin[2] - center[2]
    ox, oy, oz = c * rx + s * ry, -s * rx + c * ry, rz
    lx = c * dx + s * dy
    ly = c * dy - s * dx
    with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
        t_near = np.full(np.shape(dx), -np.inf)
        t_far = np.full(np.shape(dx), np.inf)
        for o, d, h in ((ox, lx, half[0]), (oy, ly, half[1]), (oz, dz, half[2])):
            inv = 1.0 / d
            t1 = (-h - o) * inv
            t2 = (h - o) * inv
            np.maximum(t_near, np.minimum(t1, t2), out=t_near)
            np.minimum(t_far, np.maximum(t1, t2), out=t_far)
        hit = (t_near <= t_far) & (t_near > t_min)
    return np.where(hit, t_near, np.inf)


def intersect_ground(origin: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray,
                     ground: GroundPlane, t_min: float = 1e-6) -> np.ndarray:
    """Ray parameter of the hit with the bounded ground plane (``inf`` where missed).

    t = (height - o_z) / d_z for rays going down towards the plane, kept where the hit point lies
    inside the plane's x/y ranges.
    """
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (ground.height - origin[2]) / dz
        x = origin[0] + t * dx
        y = origin[1] + t * dy
        hit = ((t > t_min) & (x >= ground.x_range[0]) & (x <= ground.x_range[1])
               & (y >= ground.y_range[0]) & (y <= ground.y_range[1]))
    return np.where(hit, t, np.inf)


@dataclass
class RayHits:
    """Result of ``cast_rays``.

    Attributes:
        t (np.ndarray): (H, W) ray parameter of the first hit, ``inf`` where nothing was hit.
        part (np.ndarray): (H, W) int32 index of the part hit, ``GROUND`` or ``MISS``.
        unoccluded (np.ndarray): (num_objects,) number of rays that hit the object when it is
            alone in the world (for the nuScenes visibility level).
    """

    t: np.ndarray
    part: np.ndarray
    unoccluded: np.ndarray


def cast_rays(origin: np.ndarray, dirs: np.ndarray, parts: Parts, rects: np.ndarray,
              ground: Optional[GroundPlane], t_min: float = 1e-6) -> RayHits:
    """First hit of every ray of a grid against the ground and the parts.

    Args:
        origin (np.ndarray): (3,) common ray origin (world).
        dirs (np.ndarray): (H, W, 3) world ray directions.
        parts (Parts): the scene's parts.
        rects (np.ndarray): (num_objects, 4) int [row0, row1, col0, col1) rectangle of the ray
            grid that can hit each object; empty rectangles skip the object. Must be
            conservative (see ``pinhole_object_rects``).
        ground (GroundPlane | None): the ground plane, or None for none.
        t_min (float): minimum ray parameter of a hit. Defaults to 1e-6.

    Returns:
        RayHits: first-hit ray parameter, part index and per-object unoccluded ray counts.

    Raises:
        ValueError: if shapes do not match.
    """
    if dirs.ndim != 3 or dirs.shape[2] != 3:
        raise ValueError(f'dirs must have shape (H, W, 3), got {dirs.shape}')
    num_objects = parts.num_objects
    if rects.shape != (num_objects, 4):
        raise ValueError(f'rects must have shape ({num_objects}, 4), got {rects.shape}')
    dx = np.ascontiguousarray(dirs[..., 0])
    dy = np.ascontiguousarray(dirs[..., 1])
    dz = np.ascontiguousarray(dirs[..., 2])
    shape = dirs.shape[:2]
    if ground is not None:
        depth = intersect_ground(origin, dx, dy, dz, ground, t_min)
        part = np.where(np.isfinite(depth), GROUND, MISS).astype(np.int32)
    else:
        depth = np.full(shape, np.inf)
        part = np.full(shape, MISS, dtype=np.int32)
    unoccluded = np.zeros(num_objects, dtype=np.int64)
    slices = parts.object_slices()
    for k in np.flatnonzero((rects[:, 1] > rects[:, 0]) & (rects[:, 3] > rects[:, 2])):
        r0, r1, c0, c1 = rects[k]
        sub = (slice(r0, r1), slice(c0, c1))
        sdx, sdy, sdz = dx[sub], dy[sub], dz[sub]
        best_t, best_part = None, None
        for p in range(*slices[k]):
            t = intersect_boxes_single(origin, sdx, sdy, sdz, parts.center[p], parts.half[p],
                                       parts.yaw[p], t_min)
            if best_t is None:
                best_t, best_part = t, np.full(t.shape, p, dtype=np.int32)
            else:
                closer = t < best_t
                best_t = np.where(closer, t, best_t)
                best_part[closer] = p
        if best_t is None:
            continue
        unoccluded[k] = np.count_nonzero(np.isfinite(best_t))
        depth_sub = depth[sub]
        closer = best_t < depth_sub
        depth_sub[closer] = best_t[closer]
        part[sub][closer] = best_part[closer]
    return RayHits(t=depth, part=part, unoccluded=unoccluded)


def cast_rays_brute_force(origin: np.ndarray, dirs: np.ndarray, parts: Parts,
                          ground: Optional[GroundPlane], t_min: float = 1e-6
                          ) -> Tuple[np.ndarray, np.ndarray]:
    """First hit of arbitrary rays against every part (no culling; reference / occlusion tests).

    Args:
        origin (np.ndarray): (3,) common ray origin.
        dirs (np.ndarray): (N, 3) ray directions.
        parts (Parts): the scene's parts.
        ground (GroundPlane | None): the ground plane.
        t_min (float): minimum ray parameter of a hit.

    Returns:
        Tuple[np.ndarray, np.ndarray]: (N,) first-hit ray parameter (``inf`` = miss) and (N,)
        int32 part index (``GROUND``/``MISS`` for the ground/nothing).
    """
    dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    if ground is not None:
        best = intersect_ground(origin, dx, dy, dz, ground, t_min)
    else:
        best = np.full(len(dirs), np.inf)
    part = np.where(np.isfinite(best), GROUND, MISS).astype(np.int32)
    for p in range(len(parts)):
        t = intersect_boxes_single(origin, dx, dy, dz, parts.center[p], parts.half[p],
                                   parts.yaw[p], t_min)
        closer = t < best
        best[closer] = t[closer]
        part[closer] = p
    return best, part


def _reduce_rects(part_lo: np.ndarray, part_hi: np.ndarray, obj: np.ndarray,
                  num_objects: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-object min of ``part_lo`` and max of ``part_hi`` ((N, 2) each, NaN = part invisible)."""
    lo = np.full((num_objects, 2), np.inf)
    hi = np.full((num_objects, 2), -np.inf)
    valid = np.isfinite(part_lo).all(1) & np.isfinite(part_hi).all(1)
    np.minimum.at(lo, obj[valid], part_lo[valid])
    np.maximum.at(hi, obj[valid], part_hi[valid])
    return lo, hi


def pinhole_object_rects(parts: Parts, world2cam: np.ndarray, cam2img: np.ndarray,
                         height: int, width: int, near: float = 0.05) -> np.ndarray:
    """Pixel rectangles that contain each object's image for a pinhole camera.

    Each part is clipped by the plane z_cam = ``near`` (its visible vertices are the corners in
    front plus the intersections of its 12 edges with that plane); perspective projection maps a
    convex solid in front of the camera onto the convex hull of its projected vertices, so the
    bounds of those projections bound the part's image. A one-pixel margin absorbs rounding.
    Pixel (row i, column j) is the ray through image point (u, v) = (j, i).

    Args:
        parts (Parts): world-frame parts.
        world2cam (np.ndarray): (4, 4) world -> camera pose.
        cam2img (np.ndarray): (3, 3) intrinsics.
        height (int): image height H.
        width (int): image width W.
        near (float): clipping distance in metres. Defaults to 0.05.

    Returns:
        np.ndarray: (num_objects, 4) int64 [row0, row1, col0, col1) (empty when not visible).
    """
    corners = parts.corners() @ world2cam[:3, :3].T + world2cam[:3, 3]  # (N, 8, 3)
    edges = np.array(BOX_EDGES)
    a, b = corners[:, edges[:, 0]], corners[:, edges[:, 1]]  # (N, 12, 3)
    za, zb = a[..., 2] - near, b[..., 2] - near
    crosses = za * zb < 0
    with np.errstate(divide='ignore', invalid='ignore'):
        s = np.where(crosses, za / (za - zb), 0.0)
    cuts = a + s[..., None] * (b - a)
    pts = np.concatenate([corners, cuts], axis=1)  # (N, 20, 3)
    keep = np.concatenate([corners[..., 2] >= near, crosses], axis=1)
    z = np.where(keep, pts[..., 2], 1.0)
    u = cam2img[0, 0] * pts[..., 0] / z + cam2img[0, 1] * pts[..., 1] / z + cam2img[0, 2]
    v = cam2img[1, 1] * pts[..., 1] / z + cam2img[1, 2]
    uv = np.stack([u, v], axis=-1)
    lo = np.where(keep[..., None], uv, np.inf).min(axis=1)
    hi = np.where(keep[..., None], uv, -np.inf).max(axis=1)
    lo[~keep.any(1)] = np.nan
    lo, hi = _reduce_rects(lo, hi, parts.obj, parts.num_objects)
    rects = np.zeros((parts.num_objects, 4), dtype=np.int64)
    ok = np.isfinite(lo).all(1)
    rects[ok, 0] = np.clip(np.floor(lo[ok, 1]) - 1, 0, height)
    rects[ok, 1] = np.clip(np.ceil(hi[ok, 1]) + 2, 0, height)
    rects[ok, 2] = np.clip(np.floor(lo[ok, 0]) - 1, 0, width)
    rects[ok, 3] = np.clip(np.ceil(hi[ok, 0]) + 2, 0, width)
    return rects


def spherical_object_rects(parts: Parts, world2sensor: np.ndarray, num_rows: int,
                           azimuth0: float, num_cols: int) -> np.ndarray:
    """Column ranges of a spinning sensor's ray grid that contain each object.

    Column k looks at azimuth ``azimuth0 + k * 2 pi / num_cols`` (atan2(y, x) in the sensor frame).
    The azimuths of a convex solid seen from a point outside its vertical projection span the
    azimuths of its vertices (taken relative to the part centre's azimuth, so the span never
    wraps); a part whose footprint contains the sensor, or whose span crosses the grid's seam,
    gets all columns. Rows are never culled.

    Args:
        parts (Parts): world-frame parts.
        world2sensor (np.ndarray): (4, 4) world -> sensor pose.
        num_rows (int): rows (rings) of the ray grid.
        azimuth0 (float): azimuth of column 0.
        num_cols (int): columns (azimuth steps) of the ray grid.

    Returns:
        np.ndarray: (num_objects, 4) int64 [row0, row1, col0, col1).
    """
    step = 2 * np.pi / num_cols
    corners = parts.corners() @ world2sensor[:3, :3].T + world2sensor[:3, 3]
    center = corners.mean(axis=1)
    az_c = np.arctan2(center[:, 1], center[:, 0])
    az = np.arctan2(corners[..., 1], corners[..., 0])
    rel = (az - az_c[:, None] + np.pi) % (2 * np.pi) - np.pi
    lo_az = az_c + rel.min(1)
    hi_az = az_c + rel.max(1)
    k_lo = np.floor((lo_az - azimuth0) / step) - 1
    k_hi = np.ceil((hi_az - azimuth0) / step) + 1
    span = k_hi - k_lo + 1
    lo_col = k_lo % num_cols
    hi_col = lo_col + span
    # Sensor inside the part's footprint, or a span across the grid's seam: take every column.
    full = _origin_in_footprint(corners) | (hi_col > num_cols)
    lo_col[full], hi_col[full] = 0, num_cols
    lo = np.stack([lo_col, np.zeros_like(lo_col)], axis=1)
    hi = np.stack([hi_col, np.full_like(hi_col, num_rows)], axis=1)
    lo, hi = _reduce_rects(lo, hi, parts.obj, parts.num_objects)
    rects = np.zeros((parts.num_objects, 4), dtype=np.int64)
    ok = np.isfinite(lo).all(1)
    rects[ok, 0], rects[ok, 1] = 0, num_rows
    rects[ok, 2] = lo[ok, 0]
    rects[ok, 3] = hi[ok, 0]
    return rects


def _origin_in_footprint(corners: np.ndarray) -> np.ndarray:
    """Whether the sensor origin's (0, 0) lies in each part's xy footprint (with 5 cm margin).

    The footprint is the convex hull of the 8 projected corners; for a box that is (nearly, with
    a tilted sensor) the parallelogram of its bottom face, tested by the signs of edge cross
    products over both the bottom and top faces to stay conservative.
    """
    inside = np.zeros(len(corners), dtype=bool)
    for face in ((0, 4, 6, 2), (1, 5, 7, 3)):  # bottom (z-) and top (z+) faces, in order
        poly = corners[:, face, :2]  # (N, 4, 2)
        nxt = np.roll(poly, -1, axis=1)
        edge = nxt - poly
        cross = edge[..., 0] * (0 - poly[..., 1]) - edge[..., 1] * (0 - poly[..., 0])
        length = np.linalg.norm(edge, axis=-1) + 1e-12
        dist = cross / length
        inside |= (dist >= -0.05).all(1) | (dist <= 0.05).all(1)
    return inside
