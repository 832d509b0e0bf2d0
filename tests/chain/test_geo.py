"""The circle a placement tests nodes against, worked out once, says what `within` says."""

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.deployment.geo import MAX_RADIUS_KM, disc, unit_vector, within

latitudes = st.integers(-90_000_000, 90_000_000)
longitudes = st.integers(-180_000_000, 180_000_000)


@settings(max_examples=300, deadline=None)
@given(latitudes, longitudes, st.integers(1, MAX_RADIUS_KM), latitudes, longitudes)
def test_a_disc_holds_exactly_the_points_within_its_radius(
    lat: int, lon: int, radius_km: int, point_lat: int, point_lon: int
) -> None:
    point = unit_vector(point_lat, point_lon)
    expected = within(unit_vector(lat, lon), radius_km, point)
    assert disc(lat, lon, radius_km).holds(point) == expected
