"""The distribution's dependency ranges: from the lowest tested versions to the next major."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .packaging_info import declared_dependencies, lower_bound, service_pins, upper_bound

DEPENDENCIES = declared_dependencies()


def test_the_package_declares_ranges_not_the_services_pins() -> None:
    assert DEPENDENCIES
    for requirement in DEPENDENCIES:
        operators = sorted(spec.operator for spec in requirement.specifier)
        assert operators == ["<", ">="], f"{requirement}: a range, >= lowest tested, < next major"


@pytest.mark.parametrize("requirement", DEPENDENCIES, ids=str)
def test_each_range_holds_the_pinned_version_and_ends_at_its_next_major(
    requirement: Requirement,
) -> None:
    pinned = service_pins()[canonicalize_name(requirement.name)]
    assert requirement.specifier.contains(pinned), f"requirements.txt pins {pinned}"
    assert lower_bound(requirement) <= pinned
    # Below 1.0 a minor release may break, but the projects depended on (prometheus-client)
    # keep 0.x compatible; their next major is 1.
    assert upper_bound(requirement) == Version(f"{pinned.major + 1}"), (
        f"{requirement.name}: up to the next major after the tested {pinned}"
    )


def test_the_service_pins_every_dependency_of_the_package() -> None:
    pinned = service_pins()
    missing = [r.name for r in DEPENDENCIES if canonicalize_name(r.name) not in pinned]
    assert not missing, f"requirements.txt lacks exact pins for {missing}"
