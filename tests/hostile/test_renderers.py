"""Every renderer keeps its structure whatever the typed fields hold (``registry.RENDERERS``)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.conftest import HOSTILE, rolled_back
from tests.hostile.registry import RENDERERS, Renderer, world_values

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]


@pytest.mark.parametrize("renderer", RENDERERS, ids=lambda r: r.name)
@HOSTILE
@given(data=st.data())
def test_renderer_keeps_its_structure_with_hostile_text(world, renderer: Renderer, data):
    values = data.draw(world_values(renderer.models), label="values")
    with rolled_back():
        world.fill(values)
        output = renderer.render(world)
        renderer.check(world, output)
