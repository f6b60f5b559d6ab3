"""Hypothesis strategies shared by the crypto tests."""
from __future__ import annotations

import base64

from hypothesis import strategies as st

# Every value ``json.loads`` can return, including what Python's json reads from ``Infinity``,
# ``-Infinity`` and ``NaN`` (json.dumps writes them back the same way).
_SCALARS = (st.none() | st.booleans() | st.integers() | st.text(max_size=20)
            | st.floats(allow_infinity=True, allow_nan=True))

JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

# JSON *text* nested deeper than json.loads can recurse (it raises RecursionError, not ValueError),
# even with the extra ~2000 frames Hypothesis allows, and short enough for the 8 KiB key-file limit.
def _nested(levels: int, kind: str, closed: bool) -> str:
    if kind == "array":
        return "[" * levels + ("1" + "]" * levels if closed else "")
    return '{"":[' * (levels // 2)  # two levels per five characters


DEEP_JSON_TEXT = st.builds(_nested, st.integers(2_500, 3_000), st.sampled_from(["array", "object"]),
                           st.booleans())


# Integers near every boundary Argon2Params.from_json checks, as ints and as decimal strings.
_BOUNDARY_INTS = st.sampled_from([-1, 0, 1, 2, 7, 8, 9, 15, 16, 17, 20, 21, 64, 127, 128,
                                  2 * 1024 * 1024, 2 * 1024 * 1024 + 1])
PARAM_FIELD = (st.integers(-5, 40) | st.integers() | _BOUNDARY_INTS
               | _BOUNDARY_INTS.map(str) | st.integers(-50, 50).map(lambda n: f" {n} ")
               | JSON_VALUES)


def params_dict(field: st.SearchStrategy = PARAM_FIELD) -> st.SearchStrategy:
    """Dicts shaped like Argon2 parameters, some keys possibly missing, some extra."""
    return st.fixed_dictionaries(
        {},
        optional={"iterations": field, "lanes": field, "memory_cost": field,
                  "extra": JSON_VALUES},
    )


# Argon2 parameters that are in range *and* cheap enough to actually run in a property test.
CHEAP_VALID_PARAMS = st.fixed_dictionaries({
    "iterations": st.integers(1, 2),
    "lanes": st.integers(1, 2),
    "memory_cost": st.integers(16, 128),
})



def _cheap(value: object) -> bool:
    """False for any value ``int()`` would turn into an expensive Argon2 memory cost."""
    try:
        return int(value) <= 1024  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return True


CHEAP_PARAM_FIELD = PARAM_FIELD.filter(_cheap)

B64_TEXT = st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode("ascii"))
MAYBE_B64 = B64_TEXT | JSON_VALUES
