"""Procedural street scenes: the road layout, static geometry and moving road users.

A scene is a straight street along +x in a *world* frame (z up, ground at z = 0) that a
``world2global`` pose places in the nuScenes global frame. Everything is made of boxes
(``raycast.Parts``): static objects (sidewalk slabs, buildings, walls, hedges, trees, street
lights, signs, a tree line / block closing the world) and *actors* (the annotated road users:
cars, trucks, buses, pedestrians, cyclists, parked bicycles, traffic cones, barriers). Actors move
with constant velocity along straight lines, so nuScenes' ``box_velocity`` (a finite difference of
annotated positions) equals their true velocity. ``build_scene`` is deterministic for a
``numpy.random.Generator`` state.
"""
from dataclasses import dataclass
from enum import IntEnum
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .classes import SEMANTIC_ID
from .geometry import make_pose, rotation_z
from .raycast import GroundPlane, Parts

class Material(IntEnum):
    """Material ids of parts (the ground's material is decided by ``RoadLayout`` regions)."""

    PAVING = 0      # sidewalk slab: tiles on top, concrete curb on the sides
    FACADE = 1      # building: windows on the walls, dark roof
    CONCRETE = 2    # walls, fences, end-of-street blocks
    PAINT = 3       # car / truck body: tyres on the sides, lights front and back
    GLASS = 4       # car cabin: glass with a paint-coloured frame and roof
    BUS = 5         # bus body: window band on the sides, windscreen at the front
    CAB = 6         # truck cab: windscreen on the front face
    CARGO = 7       # truck cargo box: vertical ribs
    CLOTH = 8
    SKIN = 9
    CONE = 10       # retro-reflective plastic
    BARRIER = 11    # red/white diagonal stripes
    METAL = 12
    FOLIAGE = 13
    BARK = 14
    SIGN = 15       # sign plate with a white border
    RUBBER = 16     # bicycle frame / wheels, cone base


@dataclass(frozen=True)
class RoadLayout:
    """Cross-section of the straight street along +x (world frame, metres).

    From the centre line y = 0 outwards on each side: ``lanes_per_direction`` lanes of
    ``lane_width``, a ``strip_width`` parking or bike strip (both drivable), a sidewalk slab of
    ``sidewalk_width`` raised by ``curb_height``, then terrain. Traffic drives on the right: lanes
    with y < 0 go +x.

    Attributes:
        x_range (Tuple[float, float]): street extent along x (also the ground plane's).
        y_half_extent (float): the ground plane covers |y| <= this.
        lanes_per_direction (int): lanes on each side of the centre line.
        lane_width (float): lane width.
        strip_width (float): parking / bike strip width.
        strip_kinds (Tuple[str, str]): 'parking' or 'bike' for the right (y < 0) and left side.
        sidewalk_width (float): sidewalk width.
        curb_height (float): sidewalk height above the road.
        crosswalks (Tuple[float, ...]): x positions of zebra crossings.
    """

    x_range: Tuple[float, float]
    y_half_extent: float
    lanes_per_direction: int
    lane_width: float
    strip_width: float
    strip_kinds: Tuple[str, str]
    sidewalk_width: float
    curb_height: float
    crosswalks: Tuple[float, ...]

    @property
    def carriageway_half(self) -> float:
        """Half-width of the lanes (centre line to the lane edge line)."""
        return self.lanes_per_direction * self.lane_width

    @property
    def road_edge(self) -> float:
        """|y| of the curb (outer edge of the strips)."""
        return self.carriageway_half + self.strip_width

    @property
    def sidewalk_outer(self) -> float:
        """|y| of the sidewalk's outer edge."""
        return self.road_edge + self.sidewalk_width

    @property
    def ground_plane(self) -> GroundPlane:
        """The ground plane z = 0 over the street's x range and |y| <= ``y_half_extent``."""
        return GroundPlane(self.x_range, (-self.y_half_extent, self.y_half_extent))

    def ground_semantic(self, y: np.ndarray) -> np.ndarray:
        """Semantic id of ground points at lateral position ``y`` ((N,) -> (N,) uint8)."""
        ay = np.abs(y)
        out = np.full(np.shape(y), SEMANTIC_ID['terrain'], dtype=np.uint8)
        out[ay <= self.sidewalk_outer] = SEMANTIC_ID['sidewalk']
        out[ay <= self.road_edge] = SEMANTIC_ID['driveable_surface']
        return out

    def on_semantic_prior(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether world points lie on the nuScenes map's semantic prior (road and sidewalks)."""
        return ((np.abs(y) <= self.sidewalk_outer) & (x >= self.x_range[0])
                & (x <= self.x_range[1]))




@dataclass
class Actor:
    """An annotated road user moving with constant velocity.

    Attributes:
        category (str): nuScenes category name.
        attribute (Optional[str]): nuScenes attribute name or None.
        size_wlh (np.ndarray): (3,) annotation box width, length, height (nuScenes order).
        parts (Parts): the actor's parts in its own frame (origin = annotation box centre,
            x = heading), ``obj`` all 0.
        center0 (np.ndarray): (3,) world box centre at t = 0.
        yaw (float): world heading.
        velocity (np.ndarray): (3,) world velocity in m/s (z = 0).
    """

    category: str
    attribute: Optional[str]
    size_wlh: np.ndarray
    parts: Parts
    center0: np.ndarray
    yaw: float
    velocity: np.ndarray

    def center(self, t: float) -> np.ndarray:
        """(3,) world box centre at time ``t`` seconds after the scene start."""
        return self.center0 + self.velocity * t


@dataclass
class Scene:
    """A generated street scene (world frame) and the ego trajectory through it.

    Attributes:
        layout (RoadLayout): the street cross-section.
        static_parts (Parts): world parts of the static objects (object ids 0..S-1).
        actors (List[Actor]): annotated road users.
        ego_start (np.ndarray): (3,) ego-frame origin (rear axle on the ground) at t = 0.
        ego_velocity (np.ndarray): (3,) ego velocity (m/s); the ego heading is +x.
        world2global (np.ndarray): (4, 4) world -> nuScenes global pose.
        sun (np.ndarray): (3,) unit direction towards the sun (world).
        description (str): one-line summary for the nuScenes scene table.
    """

    layout: RoadLayout
    static_parts: Parts
    actors: List[Actor]
    ego_start: np.ndarray
    ego_velocity: np.ndarray
    world2global: np.ndarray
    sun: np.ndarray
    description: str = ''

    def ego2world(self, t: float) -> np.ndarray:
        """(4, 4) ego -> world pose at time ``t`` (flat ground, heading +x)."""
        return make_pose(np.eye(3), self.ego_start + self.ego_velocity * t)

    def present_actors(self, t: float) -> np.ndarray:
        """Indices of the actors inside the street (x within the ground plane, 2 m margin)."""
        x0, x1 = self.layout.x_range
        xs = np.array([a.center(t)[0] for a in self.actors])
        return np.flatnonzero((xs > x0 + 2.0) & (xs < x1 - 2.0))

    def parts_at(self, t: float) -> Tuple[Parts, np.ndarray]:
        """World parts of the scene at time ``t``.

        Returns:
            Tuple[Parts, np.ndarray]: all parts (static objects first, then the present actors,
            one object each) and (num_objects,) the actor index of every object (-1 = static).
        """
        present = self.present_actors(t)
        num_static = self.static_parts.num_objects
        groups = [self.static_parts]
        for k, i in enumerate(present):
            actor = self.actors[i]
            rot = rotation_z(actor.yaw)
            p = actor.parts
            groups.append(Parts(center=p.center @ rot.T + actor.center(t), half=p.half,
                                yaw=p.yaw + actor.yaw, material=p.material, color=p.color,
                                semantic=p.semantic,
                                obj=np.full(len(p), num_static + k, dtype=np.int64)))
        parts = concat_parts(groups)
        object_actor = np.concatenate([np.full(num_static, -1, dtype=np.int64), present])
        return parts, object_actor


def concat_parts(groups: Sequence[Parts]) -> Parts:
    """Concatenate part sets (object ids are kept as given)."""
    return Parts(*(np.concatenate([getattr(g, f) for g in groups]) for f in
                   ('center', 'half', 'yaw', 'material', 'color', 'semantic', 'obj')))


class _PartList:
    """Accumulates box parts (full sizes) and returns them as ``Parts``."""

    def __init__(self) -> None:
        self.rows: list = []
        self.num_objects = 0

    def new_object(self) -> int:
        self.num_objects += 1
        return self.num_objects - 1

    def add(self, center, size, material: Material, color, semantic: str, obj: int = 0,
            yaw: float = 0.0) -> None:
        self.rows.append((center, np.asarray(size, dtype=np.float64) / 2, yaw, int(material),
                          color, SEMANTIC_ID[semantic], obj))

    def to_parts(self) -> Parts:
        if not self.rows:
            return Parts(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.int64),
                         np.zeros((0, 3)), np.zeros(0, np.uint8), np.zeros(0, np.int64))
        center, half, yaw, material, color, semantic, obj = zip(*self.rows)
        return Parts(np.array(center, dtype=np.float64), np.array(half),
                     np.array(yaw, dtype=np.float64), np.array(material, dtype=np.int64),
                     np.array(color, dtype=np.float64), np.array(semantic, dtype=np.uint8),
                     np.array(obj, dtype=np.int64))


# Palettes (linear RGB albedo).
_CAR_PAINTS = np.array([[0.85, 0.85, 0.85], [0.06, 0.06, 0.07], [0.55, 0.56, 0.58],
                        [0.3, 0.31, 0.33], [0.6, 0.06, 0.05], [0.08, 0.18, 0.5],
                        [0.05, 0.1, 0.25], [0.12, 0.3, 0.15], [0.7, 0.62, 0.45],
                        [0.85, 0.7, 0.1]])
_BUS_PAINTS = np.array([[0.75, 0.1, 0.08], [0.1, 0.3, 0.65], [0.88, 0.88, 0.85], [0.9, 0.7, 0.1]])
_FACADES = np.array([[0.78, 0.72, 0.6], [0.65, 0.65, 0.63], [0.58, 0.3, 0.22], [0.88, 0.87, 0.83],
                     [0.4, 0.4, 0.42], [0.85, 0.78, 0.55], [0.6, 0.7, 0.8], [0.8, 0.6, 0.6]])
_CLOTHES = np.array([[0.1, 0.1, 0.12], [0.2, 0.25, 0.45], [0.6, 0.1, 0.1], [0.7, 0.7, 0.68],
                     [0.15, 0.35, 0.2], [0.55, 0.45, 0.3], [0.8, 0.55, 0.1], [0.35, 0.2, 0.45]])
_SKIN = np.array([[0.85, 0.65, 0.5], [0.6, 0.42, 0.3], [0.35, 0.22, 0.15], [0.95, 0.78, 0.65]])


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 0.04) -> np.ndarray:
    color = palette[rng.integers(len(palette))] + rng.uniform(-jitter, jitter, 3)
    return np.clip(color, 0.02, 0.98)


def _make_actor(category: str, attribute: Optional[str], parts: _PartList, xy, base_z: float,
                yaw: float, speed: float) -> Actor:
    """Recentre a part list on its tight bounding box and wrap it as an ``Actor``.

    ``parts`` are given in the actor frame with z = 0 on the ground; the annotation box is the
    tight box around them (so every LiDAR return on the actor lies in its box).
    """
    p = parts.to_parts()
    corners = p.corners().reshape(-1, 3)
    lo, hi = corners.min(0), corners.max(0)
    mid = (lo + hi) / 2
    p.center = p.center - mid
    rot = rotation_z(yaw)
    center0 = np.array([xy[0], xy[1], base_z]) + rot @ mid
    size = hi - lo
    velocity = np.array([np.cos(yaw), np.sin(yaw), 0.0]) * speed
    return Actor(category=category, attribute=attribute,
                 size_wlh=np.array([size[1], size[0], size[2]]), parts=p, center0=center0,
                 yaw=float(yaw), velocity=velocity)


def make_car(rng: np.random.Generator) -> _PartList:
    """Car: body box with tyres/lights texture + glass cabin (4.0-4.9 x 1.75-2.0 x 1.45-1.7 m)."""
    l, w, h = rng.uniform(4.0, 4.9), rng.uniform(1.75, 2.0), rng.uniform(1.45, 1.7)
    paint = _pick(rng, _CAR_PAINTS)
    parts = _PartList()
    parts.add((0, 0, 0.29 * h), (l, w, 0.58 * h), Material.PAINT, paint, 'car')
    parts.add((-0.06 * l, 0, 0.79 * h), (0.55 * l, 0.9 * w, 0.42 * h), Material.GLASS, paint, 'car')
    return parts


def make_truck(rng: np.random.Generator, short: bool = False) -> _PartList:
    """Truck: cab with windscreen + ribbed cargo box (6-10 m long, 2.8-3.8 m high)."""
    l = rng.uniform(6.0, 7.0) if short else rng.uniform(6.5, 10.0)
    w, h = rng.uniform(2.3, 2.55), rng.uniform(2.8, 3.8)
    cab_l = 2.2
    parts = _PartList()
    parts.add((l / 2 - cab_l / 2, 0, 0.42 * h), (cab_l, w * 0.97, 0.84 * h), Material.CAB,
              _pick(rng, _CAR_PAINTS), 'truck')
    cargo_l = l - cab_l - 0.25
    parts.add((-l / 2 + cargo_l / 2, 0, h / 2), (cargo_l, w, h), Material.CARGO,
              _pick(rng, _FACADES), 'truck')
    return parts


def make_bus(rng: np.random.Generator) -> _PartList:
    """Rigid bus: one box with a window band (10-12.5 x 2.5-2.9 x 3.0-3.4 m)."""
    l, w, h = rng.uniform(10.0, 12.5), rng.uniform(2.5, 2.9), rng.uniform(3.0, 3.4)
    parts = _PartList()
    parts.add((0, 0, h / 2), (l, w, h), Material.BUS, _pick(rng, _BUS_PAINTS), 'bus')
    return parts


def make_pedestrian(rng: np.random.Generator) -> _PartList:
    """Adult pedestrian: legs, torso, head (1.55-1.9 m)."""
    h, w, d = rng.uniform(1.55, 1.9), rng.uniform(0.48, 0.62), rng.uniform(0.38, 0.52)
    parts = _PartList()
    parts.add((0, 0, 0.235 * h), (0.8 * d, 0.72 * w, 0.47 * h), Material.CLOTH,
              _pick(rng, _CLOTHES[:3]), 'pedestrian')
    parts.add((0, 0, 0.645 * h), (d, w, 0.35 * h), Material.CLOTH, _pick(rng, _CLOTHES),
              'pedestrian')
    head = min(0.2, 0.4 * w)
    parts.add((0.02, 0, 0.82 * h + 0.065 * h), (0.7 * d, head, 0.13 * h), Material.SKIN,
              _pick(rng, _SKIN, 0.02), 'pedestrian')
    return parts


def make_bicycle(rng: np.random.Generator, rider: bool) -> _PartList:
    """Bicycle (thin dark frame/wheels box), optionally with a rider (pedestrian pixels)."""
    parts = _PartList()
    length = rng.uniform(1.6, 1.8)
    frame_h = rng.uniform(0.95, 1.1)
    parts.add((0, 0, frame_h / 2), (length, 0.14, frame_h), Material.RUBBER,
              _pick(rng, np.array([[0.05, 0.05, 0.05], [0.5, 0.05, 0.05], [0.1, 0.2, 0.5]])),
              'bicycle')
    if rider:
        parts.add((0.0, 0, 0.78), (0.3, 0.36, 0.42), Material.CLOTH, _pick(rng, _CLOTHES[:3]),
                  'pedestrian')
        parts.add((-0.12, 0, 1.27), (0.4, 0.44, 0.56), Material.CLOTH, _pick(rng, _CLOTHES),
                  'pedestrian')
        parts.add((0.0, 0, 1.66), (0.22, 0.19, 0.22), Material.SKIN, _pick(rng, _SKIN, 0.02),
                  'pedestrian')
    return parts


def make_cone(rng: np.random.Generator) -> _PartList:
    """Traffic cone: black base + three tapering orange/white/orange boxes (0.7-0.8 m)."""
    h = rng.uniform(0.7, 0.8)
    orange = np.array([0.95, 0.35, 0.05])
    parts = _PartList()
    parts.add((0, 0, 0.02), (0.42, 0.42, 0.04), Material.RUBBER, (0.05, 0.05, 0.05), 'traffic_cone')
    parts.add((0, 0, 0.17), (0.3, 0.3, 0.26), Material.CONE, orange, 'traffic_cone')
    parts.add((0, 0, 0.4), (0.22, 0.22, 0.2), Material.CONE, (0.92, 0.92, 0.92), 'traffic_cone')
    parts.add((0, 0, 0.5 + (h - 0.5) / 2), (0.13, 0.13, h - 0.5), Material.CONE, orange,
              'traffic_cone')
    return parts


def make_barrier(rng: np.random.Generator) -> _PartList:
    """Road barrier, long side across its heading like nuScenes' (0.45 x 2.0-2.6 x 0.9-1.1 m)."""
    h, w = rng.uniform(0.9, 1.1), rng.uniform(2.0, 2.6)
    parts = _PartList()
    parts.add((0, 0, h / 2), (0.45, w, h), Material.BARRIER, (0.8, 0.08, 0.06), 'barrier')
    return parts


def _sample_layout(rng: np.random.Generator, x_range: Tuple[float, float],
                   crosswalks: Tuple[float, ...]) -> RoadLayout:
    kinds = tuple('parking' if rng.random() < 0.65 else 'bike' for _ in range(2))
    if kinds == ('bike', 'bike'):
        kinds = ('bike', 'parking')
    sidewalk = rng.uniform(4.3, 5.5)
    lanes = int(rng.integers(1, 3))
    lane_w = rng.uniform(3.3, 3.7)
    strip = rng.uniform(2.3, 2.7)
    y_half = lanes * lane_w + strip + sidewalk + rng.uniform(40.0, 55.0)
    return RoadLayout(x_range=x_range, y_half_extent=y_half, lanes_per_direction=lanes,
                      lane_width=lane_w, strip_width=strip, strip_kinds=kinds,
                      sidewalk_width=sidewalk, curb_height=0.15, crosswalks=crosswalks)


def _free(x: float, half_len: float, blocked: List[Tuple[float, float]]) -> bool:
    return all(x + half_len < a or x - half_len > b for a, b in blocked)


def _build_static(rng: np.random.Generator, layout: RoadLayout, blocked: List[Tuple[float, float]]
                  ) -> Parts:
    """Sidewalks, buildings, walls, hedges, trees, street lights, signs and the closing blocks."""
    parts = _PartList()
    x0, x1 = layout.x_range
    length = x1 - x0
    y_half = layout.y_half_extent
    for side in (-1, 1):
        sw_center = side * (layout.road_edge + layout.sidewalk_width / 2)
        parts.add(((x0 + x1) / 2, sw_center, layout.curb_height / 2),
                  (length, layout.sidewalk_width, layout.curb_height), Material.PAVING,
                  (0.62, 0.6, 0.57), 'sidewalk', parts.new_object())
        # Buildings with gaps holding walls or hedges.
        x = x0 - rng.uniform(0, 10)
        while x < x1:
            width = rng.uniform(8.0, 28.0)
            setback = rng.uniform(0.5, 5.0)
            depth = rng.uniform(9.0, 20.0)
            height = rng.uniform(5.0, 14.0) if rng.random() < 0.6 else rng.uniform(14.0, 32.0)
            y_near = layout.sidewalk_outer + setback
            cx = min(x + width, x1) / 2 + max(x, x0) / 2
            w_eff = min(x + width, x1) - max(x, x0)
            if w_eff > 1.0:
                parts.add((cx, side * (y_near + depth / 2), height / 2), (w_eff, depth, height),
                          Material.FACADE, _pick(rng, _FACADES), 'manmade', parts.new_object())
            x += width
            gap = rng.uniform(0.0, 9.0)
            if gap > 2.0 and x + gap < x1:
                if rng.random() < 0.5:
                    parts.add((x + gap / 2, side * (layout.sidewalk_outer + 0.4), 0.9),
                              (gap - 0.2, 0.3, 1.8), Material.CONCRETE,
                              _pick(rng, _FACADES[[1, 3, 4]]), 'manmade', parts.new_object())
                else:
                    parts.add((x + gap / 2, side * (layout.sidewalk_outer + 0.8), 0.55),
                              (gap - 0.4, 0.9, 1.1), Material.FOLIAGE, (0.15, 0.35, 0.1),
                              'vegetation', parts.new_object())
            x += gap
        # Back row closing the world sideways: tree line and blocks.
        x = x0
        while x < x1:
            seg = min(rng.uniform(20.0, 45.0), x1 - x)
            height = rng.uniform(8.0, 18.0)
            foliage = rng.random() < 0.6
            parts.add((x + seg / 2, side * (y_half - 4.0), height / 2), (seg, 8.0, height),
                      Material.FOLIAGE if foliage else Material.FACADE,
                      (0.12, 0.3, 0.1) if foliage else _pick(rng, _FACADES),
                      'vegetation' if foliage else 'manmade', parts.new_object())
            x += seg
        # Street furniture on a 3 m slot grid along the curb.
        edge = side * layout.road_edge
        next_light = x0 + rng.uniform(5, 30)
        for xs in np.arange(x0 + 3.0, x1 - 3.0, 3.0):
            xs = xs + rng.uniform(-0.4, 0.4)
            if not _free(xs, 1.5, blocked):
                continue
            if xs >= next_light:
                next_light = xs + rng.uniform(25.0, 40.0)
                obj = parts.new_object()
                pole_h = rng.uniform(7.0, 9.0)
                parts.add((xs, edge + side * 0.5, pole_h / 2), (0.22, 0.22, pole_h), Material.METAL,
                          (0.45, 0.46, 0.48), 'manmade', obj)
                parts.add((xs, edge - side * 0.6, pole_h - 0.1), (0.14, 2.1, 0.14), Material.METAL,
                          (0.45, 0.46, 0.48), 'manmade', obj)
                parts.add((xs, edge - side * 1.45, pole_h - 0.25), (0.35, 0.6, 0.16),
                          Material.METAL, (0.85, 0.85, 0.8), 'manmade', obj)
                continue
            r = rng.random()
            if r < 0.3:  # tree: trunk + two crossed crown boxes
                obj = parts.new_object()
                trunk_h = rng.uniform(2.2, 3.5)
                crown = rng.uniform(2.2, 3.6)
                parts.add((xs, edge + side * 1.0, trunk_h / 2), (0.3, 0.3, trunk_h), Material.BARK,
                          (0.3, 0.2, 0.12), 'vegetation', obj)
                green = np.array([0.15, 0.35, 0.1]) * rng.uniform(0.8, 1.25)
                for yaw in (0.0, np.pi / 4):
                    parts.add((xs, edge + side * 1.0, trunk_h + crown / 2), (crown, crown, crown),
                              Material.FOLIAGE, green, 'vegetation', obj, yaw)
            elif r < 0.36:  # traffic sign facing the traffic of this side
                obj = parts.new_object()
                parts.add((xs, edge + side * 0.4, 1.3), (0.08, 0.08, 2.6), Material.METAL,
                          (0.5, 0.5, 0.5), 'manmade', obj)
                color = np.array([[0.75, 0.05, 0.05], [0.05, 0.2, 0.65], [0.9, 0.75, 0.1]])
                parts.add((xs, edge + side * 0.4, 2.9), (0.05, 0.7, 0.7), Material.SIGN,
                          color[rng.integers(3)], 'manmade', obj, 0.0 if side < 0 else np.pi)
    # End blocks closing the street at both ends (outside the ground plane).
    for xe, sgn in ((x0, -1), (x1, 1)):
        height = rng.uniform(12.0, 25.0)
        parts.add((xe + sgn * 10.0, 0.0, height / 2), (20.0, 2 * y_half, height), Material.FACADE,
                  _pick(rng, _FACADES), 'manmade', parts.new_object())
    return parts.to_parts()


def _place_along(rng: np.random.Generator, lo: float, hi: float, gap: Tuple[float, float],
                 lengths) -> List[float]:
    """Centres of objects of the given lengths laid out from ``lo`` to ``hi`` with random gaps."""
    xs, x = [], lo + rng.uniform(0, gap[1])
    for length in lengths:
        if x + length > hi:
            break
        xs.append(x + length / 2)
        x += length + rng.uniform(*gap)
    return xs


def build_scene(rng: np.random.Generator, num_samples: int, dt: float = 0.5) -> Scene:
    """Generate a street scene for ``num_samples`` samples ``dt`` seconds apart.

    Layout: 1-2 lanes per direction, parking and/or bike strips, sidewalks with street lights,
    trees and signs, buildings, walls and hedges, closed by blocks and tree lines so every
    camera ray hits something within a few hundred metres or the sky. The ego drives at 3-10 m/s
    in a right-hand lane; lane traffic (cars 82 %, trucks 10 %, buses 8 %) moves at one speed per
    lane (so vehicles never collide), oncoming lanes may be stopped; pedestrians walk along the
    sidewalks at one speed per direction or stand; cyclists ride the bike strips; parked cars,
    parked bicycles, and a road-works zone of cones and barriers are static.

    Args:
        rng (np.random.Generator): random state (consumed).
        num_samples (int): number of samples (keyframes) the ego records.
        dt (float): time between samples in seconds. Defaults to 0.5 (nuScenes keyframes).

    Returns:
        Scene: the scene.

    Raises:
        ValueError: if ``num_samples`` < 1 or ``dt`` <= 0.
    """
    if num_samples < 1:
        raise ValueError(f'num_samples must be >= 1, got {num_samples}')
    if dt <= 0:
        raise ValueError(f'dt must be > 0, got {dt}')
    duration = (num_samples - 1) * dt
    ego_speed = rng.uniform(3.0, 10.0)
    x_start = 70.0
    travel = ego_speed * duration
    x_range = (0.0, x_start + travel + 110.0)
    view_lo, view_hi = x_start - 20.0, x_start + travel + 60.0
    crosswalks = tuple(float(x) for x in rng.uniform(view_lo, view_hi, int(rng.integers(0, 3))))
    layout = _sample_layout(rng, x_range, crosswalks)
    lw, r = layout.lane_width, layout.carriageway_half
    blocked = [(xc - 3.0, xc + 3.0) for xc in crosswalks]

    actors: List[Actor] = []
    x0, x1 = x_range
    # Road works on a parking strip: a line of cones at the lane edge, barriers behind them.
    parking_sides = [s for s, k in zip((-1, 1), layout.strip_kinds) if k == 'parking']
    works_side = parking_sides[int(rng.integers(len(parking_sides)))]
    works_len = rng.uniform(10.0, 25.0)
    works_x = rng.uniform(view_lo, view_hi - works_len)
    for xc in np.arange(works_x, works_x + works_len, rng.uniform(2.0, 3.0)):
        actors.append(_make_actor('movable_object.trafficcone', None, make_cone(rng),
                                  (xc, works_side * (r + 0.35)), 0.0, rng.uniform(-np.pi, np.pi),
                                  0.0))
    barrier_x = works_x + 1.5
    while barrier_x < works_x + works_len - 1.0:
        parts = make_barrier(rng)
        w = parts.rows[0][1][1] * 2
        actors.append(_make_actor('movable_object.barrier', None, parts,
                                  (barrier_x + w / 2, works_side * (r + layout.strip_width * 0.6)),
                                  0.0, np.pi / 2 + rng.uniform(-0.05, 0.05), 0.0))
        barrier_x += w + rng.uniform(0.1, 0.6)
    works = [(works_x - 2.0, works_x + works_len + 2.0)]

    # Parked cars (and a few short trucks) on parking strips, facing their side's traffic.
    for side in parking_sides:
        templates = [make_truck(rng, short=True) if rng.random() < 0.1 else make_car(rng)
                     for _ in range(int((x1 - x0) / 4))]
        lengths = [2 * t.to_parts().half[:, 0].max() + 0.3 for t in templates]
        for t, xc, ln in zip(templates, _place_along(rng, x0 + 3, x1 - 3, (0.8, 8.0), lengths),
                             lengths):
            if not _free(xc, ln / 2, works + blocked):
                continue
            category = 'vehicle.truck' if t.rows[0][3] == Material.CAB else 'vehicle.car'
            yaw = (0.0 if side < 0 else np.pi) + rng.uniform(-0.04, 0.04)
            y = side * (r + layout.strip_width / 2 + rng.uniform(0.0, 0.1))
            actors.append(_make_actor(category, 'vehicle.parked', t, (xc, y), 0.0, yaw, 0.0))

    # Lane traffic: one speed per lane; the ego lane moves with the ego and keeps a gap to it.
    ego_lane = int(rng.integers(layout.lanes_per_direction))
    ego_y = -(ego_lane + 0.5) * lw
    for side in (-1, 1):
        for lane in range(layout.lanes_per_direction):
            y = side * (lane + 0.5) * lw
            if side < 0 and lane == ego_lane:
                speed = ego_speed
            elif side < 0:
                speed = rng.uniform(3.0, 12.0)
            else:
                speed = 0.0 if rng.random() < 0.15 else rng.uniform(4.0, 12.0)
            heading = 0.0 if side < 0 else np.pi
            reach = speed * duration + 15.0
            kinds = rng.choice(3, size=int((x1 - x0 + 2 * reach) / 6), p=[0.82, 0.1, 0.08])
            makers = {0: ('vehicle.car', make_car), 1: ('vehicle.truck', make_truck),
                      2: ('vehicle.bus.rigid', make_bus)}
            templates = [(makers[k][0], makers[k][1](rng)) for k in kinds]
            lengths = [2 * t.to_parts().half[:, 0].max() for _, t in templates]
            gap = (6.0, 40.0) if speed > 0 else (1.5, 4.0)
            for (category, t), xc, ln in zip(
                    templates, _place_along(rng, x0 - reach, x1 + reach, gap, lengths), lengths):
                # Position at t = 0 so that the vehicle is at xc at mid-scene.
                x_t0 = xc - np.cos(heading) * speed * duration / 2
                gap_to_ego = x_t0 - x_start
                if side < 0 and lane == ego_lane and -ln / 2 - 12.0 < gap_to_ego < ln / 2 + 16.0:
                    continue  # keep the ego's own spot (ego body ~ -1..+3 m around its origin)
                attribute = 'vehicle.moving' if speed > 0 else 'vehicle.stopped'
                actors.append(_make_actor(category, attribute, t,
                                          (x_t0, y + rng.uniform(-0.1, 0.1)), 0.0, heading, speed))

    # Cyclists on bike strips, one speed per strip, riding with the traffic of their side.
    for side, kind in zip((-1, 1), layout.strip_kinds):
        if kind != 'bike':
            continue
        speed = rng.uniform(3.0, 6.0)
        heading = 0.0 if side < 0 else np.pi
        reach = speed * duration + 5.0
        for xc in _place_along(rng, x0 - reach, x1 + reach, (8.0, 60.0), [1.8] * 200):
            x_t0 = xc - np.cos(heading) * speed * duration / 2
            actors.append(_make_actor('vehicle.bicycle', 'cycle.with_rider',
                                      make_bicycle(rng, rider=True),
                                      (x_t0, side * (r + layout.strip_width / 2)), 0.0, heading,
                                      speed))

    # Pedestrians: two walking sub-lanes (one speed each) and shop-front standers per sidewalk.
    curb = layout.curb_height
    for side in (-1, 1):
        base = layout.road_edge
        for offset, direction in ((1.9, 1.0), (2.8, -1.0)):
            speed = rng.uniform(0.9, 1.5)
            heading = 0.0 if direction > 0 else np.pi
            reach = speed * duration + 2.0
            for xc in _place_along(rng, x0 - reach, x1 + reach, (4.0, 30.0), [0.6] * 400):
                x_t0 = xc - direction * speed * duration / 2
                actors.append(_make_actor('human.pedestrian.adult', 'pedestrian.moving',
                                          make_pedestrian(rng),
                                          (x_t0, side * (base + offset + rng.uniform(-0.15, 0.15))),
                                          curb, heading, speed))
        for xc in _place_along(rng, x0 + 2, x1 - 2, (8.0, 50.0), [0.6] * 200):
            actors.append(_make_actor('human.pedestrian.adult', 'pedestrian.standing',
                                      make_pedestrian(rng),
                                      (xc, side * (layout.sidewalk_outer - 0.45)), curb,
                                      rng.uniform(-np.pi, np.pi), 0.0))
        # A few parked bicycles in the furniture zone, away from lights/trees (own 3 m slots).
        for xc in rng.uniform(x0 + 5, x1 - 5, int(rng.integers(0, 4))):
            xc = np.round((xc - x0) / 3.0) * 3.0 + x0 + 1.5
            actors.append(_make_actor('vehicle.bicycle', 'cycle.without_rider',
                                      make_bicycle(rng, rider=False),
                                      (xc, side * (base + 1.0)), curb, rng.uniform(-0.1, 0.1), 0.0))

    static = _build_static(rng, layout, blocked)
    theta = rng.uniform(-np.pi, np.pi)
    rot = rotation_z(theta)
    y_half = layout.y_half_extent
    world_corners = np.array([[x0 - 20, -y_half, 0], [x1 + 20, -y_half, 0],
                              [x0 - 20, y_half, 0], [x1 + 20, y_half, 0]]) @ rot.T
    # Global frame: rotated street, all coordinates positive (nuScenes map masks start at 0).
    translation = 20.0 - world_corners.min(0)
    translation[2] = 0.0
    sun_elev, sun_az = rng.uniform(np.radians(25), np.radians(65)), rng.uniform(-np.pi, np.pi)
    sun = np.array([np.cos(sun_elev) * np.cos(sun_az), np.cos(sun_elev) * np.sin(sun_az),
                    np.sin(sun_elev)])
    description = (f'synthetic street, {layout.lanes_per_direction} lane(s) per direction, '
                   f'strips {layout.strip_kinds[0]}/{layout.strip_kinds[1]}, '
                   f'ego {ego_speed:.1f} m/s, {len(actors)} road users')
    return Scene(layout=layout, static_parts=static, actors=actors,
                 ego_start=np.array([x_start, ego_y, 0.0]),
                 ego_velocity=np.array([ego_speed, 0.0, 0.0]),
                 world2global=make_pose(rot, translation), sun=sun, description=description)
