"""Fixtures shared by the media tests."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.media.twins import Link, make_link


@pytest.fixture
def links() -> Iterator[tuple[Link, Link]]:
    """Two sending/receiving socket pairs with their SRTP ends, one per twin; closed afterwards."""
    pair = (make_link(), make_link())
    yield pair
    for link in pair:
        link.tx.close()
        link.rx.close()
