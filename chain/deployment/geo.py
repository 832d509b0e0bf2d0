"""Great-circle distance in integer arithmetic, so every validator draws the same circle.

Coordinates are millionths of a degree (as nodes declare them). A point becomes a unit vector
in fixed point (FIXED = 10**18) through a Taylor series for the sine; two points are within
`radius_km` of each other when the chord between their vectors is at most the chord of that
arc, 2 sin(arc / 2). Comparing squared chords needs no square root and no arc sine, and is
exact up to the series' last digit, which is the same on every machine.
"""

import math
from dataclasses import dataclass

FIXED = 10**18
PI = 3_141_592_653_589_793_238  # pi * FIXED
EARTH_RADIUS_M = 6_371_008  # the mean radius (IUGG), in metres
MICRO = 1_000_000
QUARTER_TURN = 90 * MICRO  # micro-degrees
HALF_TURN = 180 * MICRO
MAX_RADIUS_KM = 20_038  # half the equator: a circle this large holds the whole earth


@dataclass(frozen=True)
class Vector:
    """A point on the unit sphere, each coordinate times FIXED."""

    x: int
    y: int
    z: int


def sin_radians(x: int) -> int:
    """sin(x / FIXED) * FIXED for |x| <= pi/2 * FIXED, by its Taylor series."""
    term = x
    total = x
    k = 1
    while term != 0:
        term = -term * x // FIXED * x // FIXED // ((2 * k) * (2 * k + 1))
        total += term
        k += 1
    return total


def sin_micro_degrees(angle: int) -> int:
    """sin of an angle in micro-degrees (any value in -180..180 degrees) times FIXED."""
    if angle > QUARTER_TURN:
        angle = HALF_TURN - angle
    elif angle < -QUARTER_TURN:
        angle = -HALF_TURN - angle
    return sin_radians(angle * PI // HALF_TURN)


def cos_micro_degrees(angle: int) -> int:
    shifted = angle + QUARTER_TURN
    if shifted > HALF_TURN:
        shifted -= 2 * HALF_TURN
    return sin_micro_degrees(shifted)


def unit_vector(latitude: int, longitude: int) -> Vector:
    """The point at (latitude, longitude), both in micro-degrees."""
    cos_lat = cos_micro_degrees(latitude)
    return Vector(
        cos_lat * cos_micro_degrees(longitude) // FIXED,
        cos_lat * sin_micro_degrees(longitude) // FIXED,
        sin_micro_degrees(latitude),
    )


def chord_squared(a: Vector, b: Vector) -> int:
    return (a.x - b.x) ** 2 + (a.y - b.y) ** 2 + (a.z - b.z) ** 2


def max_chord_squared(radius_km: int) -> int:
    """The squared chord (times FIXED**2) of an arc of radius_km on the earth."""
    half_arc = min(radius_km * 1000 * FIXED // (2 * EARTH_RADIUS_M), PI // 2)
    chord = 2 * sin_radians(half_arc)
    return chord * chord


def within(centre: Vector, radius_km: int, point: Vector) -> bool:
    return chord_squared(centre, point) <= max_chord_squared(radius_km)


@dataclass(frozen=True)
class Disc:
    """The points within radius_km of a centre, worked out once to test many points (each test
    is then one squared chord, no series)."""

    centre: Vector
    max_chord: int  # max_chord_squared(radius_km)

    def holds(self, point: Vector) -> bool:
        return chord_squared(self.centre, point) <= self.max_chord


def disc(latitude: int, longitude: int, radius_km: int) -> Disc:
    """The same test as `within(unit_vector(latitude, longitude), radius_km, point)`."""
    return Disc(unit_vector(latitude, longitude), max_chord_squared(radius_km))


def distance_km(a: Vector, b: Vector) -> int:
    """The great-circle distance in whole km (for messages: rules compare chords)."""
    half_chord = math.isqrt(chord_squared(a, b)) // 2
    low, high = 0, PI // 2
    while high - low > 1:  # arc sine by bisection over the series
        middle = (low + high) // 2
        if sin_radians(middle) <= half_chord:
            low = middle
        else:
            high = middle
    return 2 * low * EARTH_RADIUS_M // FIXED // 1000
