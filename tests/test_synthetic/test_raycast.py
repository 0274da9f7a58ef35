"""Ray casting: slab intersections against closed forms, culled casting equal to brute force."""
import numpy as np
import pytest

from s3pt_mm.synthetic.camera_rig import CAMERAS, camera_intrinsics, camera_ray_directions
from s3pt_mm.synthetic.geometry import invert_pose
from s3pt_mm.synthetic.lidar import LidarSpec
from s3pt_mm.synthetic.raycast import (GROUND, GroundPlane, Parts, cast_rays,
                                       cast_rays_brute_force, intersect_boxes_single,
                                       intersect_ground, pinhole_object_rects,
                                       spherical_object_rects)
from s3pt_mm.synthetic.scene_layout import build_scene


def _hit(origin, direction, center, half, yaw):
    d = np.asarray(direction, dtype=np.float64)
    return float(intersect_boxes_single(np.asarray(origin, float), d[0:1], d[1:2], d[2:3],
                                        np.asarray(center, float), np.asarray(half, float), yaw)[0])


def test_slab_axis_aligned_faces():
    # Unit-half-size cube at x = 10: the +x ray enters its -x face at t = 9.
    assert _hit([0, 0, 0], [1, 0, 0], [10, 0, 0], [1, 1, 1], 0.0) == pytest.approx(9.0)
    # Direction of length 2: t halves (t is in units of the direction vector).
    assert _hit([0, 0, 0], [2, 0, 0], [10, 0, 0], [1, 1, 1], 0.0) == pytest.approx(4.5)
    # A ray parallel to a slab outside it misses; inside it hits.
    assert _hit([0, 0, 1.5], [1, 0, 0], [10, 0, 0], [1, 1, 1], 0.0) == np.inf
    assert _hit([0, 0, 0.5], [1, 0, 0], [10, 0, 0], [1, 1, 1], 0.0) == pytest.approx(9.0)
    # Behind the origin, or origin inside the box: no hit.
    assert _hit([0, 0, 0], [-1, 0, 0], [10, 0, 0], [1, 1, 1], 0.0) == np.inf
    assert _hit([10, 0, 0], [1, 0, 0], [10, 0, 0], [1, 1, 1], 0.0) == np.inf


def test_slab_yawed_box_corner_distance():
    # A square of half size 1 rotated by 45 deg has its corner at distance sqrt(2) from its centre.
    t = _hit([0, 0, 0], [1, 0, 0], [10, 0, 0], [1, 1, 1], np.pi / 4)
    assert t == pytest.approx(10 - np.sqrt(2))
    # Oblique ray onto the top face: z = 5 - 0.4 t reaches the top (z = 1) at t = 10.
    assert _hit([0, 0, 5], [1, 0, -0.4], [10, 0, 0], [2, 2, 1], 0.3) == pytest.approx(10.0)


def test_ground_plane_bounds():
    ground = GroundPlane((0.0, 100.0), (-10.0, 10.0))
    dx, dy, dz = np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.0]), np.array([-0.1, 0.1, -0.001])
    t = intersect_ground(np.array([50.0, 0.0, 2.0]), dx, dy, dz, ground)
    # Down-going ray hits at t = 2 / 0.1 = 20; the upward ray misses; the grazing one leaves the
    # plane (x = 50 + 2000 > 100).
    np.testing.assert_allclose(t, [20.0, np.inf, np.inf])


def _random_parts(rng, n_objects=40):
    center, half, yaw, obj = [], [], [], []
    for k in range(n_objects):
        for _ in range(int(rng.integers(1, 4))):
            c = rng.uniform([-40, -40, 0], [40, 40, 4])
            center.append(c)
            half.append(rng.uniform(0.1, 3.0, 3))
            yaw.append(rng.uniform(-np.pi, np.pi))
            obj.append(k)
    n = len(obj)
    return Parts(np.array(center), np.array(half), np.array(yaw), np.zeros(n, np.int64),
                 np.full((n, 3), 0.5), np.zeros(n, np.uint8), np.array(obj))


def test_culled_pinhole_casting_equals_brute_force():
    """Bounding each object's image must never drop a hit: culled == brute force, pixel by pixel."""
    rng = np.random.default_rng(0)
    parts = _random_parts(rng)
    ground = GroundPlane((-50.0, 50.0), (-50.0, 50.0))
    width, height = 96, 54
    for cam in CAMERAS:
        k = camera_intrinsics(cam, width, height)
        cam2world = cam.sensor2ego
        cam2world[:3, 3] += [0.0, 0.0, 0.2]
        dirs = camera_ray_directions(k, width, height) @ cam2world[:3, :3].T
        rects = pinhole_object_rects(parts, invert_pose(cam2world), k, height, width)
        hits = cast_rays(cam2world[:3, 3], dirs, parts, rects, ground)
        t_ref, part_ref = cast_rays_brute_force(cam2world[:3, 3], dirs.reshape(-1, 3), parts,
                                                ground)
        np.testing.assert_array_equal(hits.part.reshape(-1), part_ref)
        np.testing.assert_array_equal(hits.t.reshape(-1), t_ref)
        assert (part_ref >= 0).mean() > 0.05 and (part_ref == GROUND).any()


def test_culled_lidar_casting_equals_brute_force():
    rng = np.random.default_rng(1)
    parts = _random_parts(rng)
    # One object straddling the sensor's azimuth seam (-x) and one containing it (a canopy above).
    parts.center[0], parts.half[0], parts.yaw[0] = [-10.0, 0.0, 1.0], [1.0, 2.0, 1.0], 0.0
    parts.center[-1], parts.half[-1], parts.yaw[-1] = [0.0, 0.0, 3.5], [30.0, 30.0, 0.2], 0.4
    spec = LidarSpec(num_azimuths=360)
    pose = np.eye(4)
    pose[:3, 3] = [0.0, 0.0, 1.8]
    dirs = spec.directions()
    rects = spherical_object_rects(parts, invert_pose(pose), spec.num_beams, spec.azimuth0,
                                   spec.num_azimuths)
    ground = GroundPlane((-50.0, 50.0), (-50.0, 50.0))
    hits = cast_rays(pose[:3, 3], dirs, parts, rects, ground)
    t_ref, part_ref = cast_rays_brute_force(pose[:3, 3], dirs.reshape(-1, 3), parts, ground)
    np.testing.assert_array_equal(hits.part.reshape(-1), part_ref)
    np.testing.assert_array_equal(hits.t.reshape(-1), t_ref)
    # Both special parts are really hit, so their full-width rectangles were exercised.
    assert (part_ref == 0).sum() > 10 and (part_ref == len(parts) - 1).sum() > 1000
    assert (part_ref == GROUND).any()


def test_unoccluded_counts_match_rendering_objects_alone():
    rng = np.random.default_rng(2)
    parts = _random_parts(rng, n_objects=6)
    cam = CAMERAS[0]
    k = camera_intrinsics(cam, 64, 36)
    pose = cam.sensor2ego
    dirs = camera_ray_directions(k, 64, 36) @ pose[:3, :3].T
    rects = pinhole_object_rects(parts, invert_pose(pose), k, 36, 64)
    hits = cast_rays(pose[:3, 3], dirs, parts, rects, None)
    for obj in range(parts.num_objects):
        sel = parts.obj == obj
        alone = Parts(parts.center[sel], parts.half[sel], parts.yaw[sel], parts.material[sel],
                      parts.color[sel], parts.semantic[sel], np.zeros(sel.sum(), np.int64))
        t, _ = cast_rays_brute_force(pose[:3, 3], dirs.reshape(-1, 3), alone, None)
        assert hits.unoccluded[obj] == np.isfinite(t).sum()


def test_generated_scene_is_deterministic_and_plausible():
    a = build_scene(np.random.default_rng([3, 0]), 4)
    b = build_scene(np.random.default_rng([3, 0]), 4)
    pa, _ = a.parts_at(1.0)
    pb, _ = b.parts_at(1.0)
    np.testing.assert_array_equal(pa.center, pb.center)
    categories = {actor.category for actor in a.actors}
    assert {'vehicle.car', 'human.pedestrian.adult', 'movable_object.trafficcone',
            'movable_object.barrier'} <= categories
    # Actors are placed with their annotation box on the ground (or the 0.15 m curb).
    bottoms = [actor.center0[2] - actor.size_wlh[2] / 2 for actor in a.actors]
    assert set(np.round(bottoms, 6)) <= {0.0, round(a.layout.curb_height, 6)}
