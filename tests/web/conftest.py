"""The web pages' fixtures: the sample after a simulated fortnight (tests/web/world.py), built
once per module, and the pages drawn from it as of Thursday 20:00 of its second week."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ipfm_scheduler.cli.web import WebPages
from tests.web.world import World, build, utc_now


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = build(tmp_path_factory.mktemp("web"))
    yield made
    made.repo.close()


@pytest.fixture(scope="module")
def pages(world: World) -> WebPages:
    return WebPages(world.repo, world.station, clock=utc_now)
