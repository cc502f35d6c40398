"""The import-light dataclass stand-in behaves like the standard module where sealgate relies on it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from sealgate import _dataclass as shim


def _pair(**options: Any) -> tuple[type, type]:
    made = []
    for mod in (dataclasses, shim):

        @mod.dataclass(**options)
        class Point:
            x: int
            y: int = 0
            tags: list[str] = mod.field(default_factory=list, compare=False)
            secret: str = mod.field(default="s", repr=False)

        made.append(Point)
    return made[0], made[1]


@pytest.mark.parametrize("options", [{"frozen": True, "slots": True}, {"slots": True}, {"slots": True, "eq": False}])
def test_shim_matches_stdlib(options: dict[str, Any]) -> None:
    std, light = _pair(**options)
    for cls in (std, light):
        a, b, c = cls(1, 2), cls(x=1, y=2, tags=["t"]), cls(3)
        assert (a.x, a.y, a.tags, c.y) == (1, 2, [], 0)
        assert "secret" not in repr(a) and "x=1" in repr(a)
        assert cls.__match_args__ == ("x", "y", "tags", "secret")
        assert set(cls.__dataclass_fields__) == {"x", "y", "tags", "secret"}
        assert not hasattr(a, "__dict__")
        if options.get("eq", True):
            assert a == b and a != c  # tags do not take part in comparison
        else:
            assert a != b
        with pytest.raises(TypeError):
            cls()
        with pytest.raises(TypeError):
            cls(1, 2, [], "s", 5)
        with pytest.raises(TypeError):
            cls(1, z=3)
    std_frozen, light_frozen = std(1), light(1)
    if options.get("frozen"):
        assert hash(std(1, 2)) == hash(std(1, 2)) and hash(light(1, 2)) == hash(light(1, 2))
        with pytest.raises(dataclasses.FrozenInstanceError):
            std_frozen.x = 5
        with pytest.raises(AttributeError):
            light_frozen.x = 5
    elif options.get("eq", True):
        with pytest.raises(TypeError):
            hash(light(1))


def test_post_init_and_init_false() -> None:
    @shim.dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: int = shim.field(init=False, repr=False, compare=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "b", self.a * 2)

    d = Derived(4)
    assert d.b == 8 and repr(d) == "test_post_init_and_init_false.<locals>.Derived(a=4)"
    assert shim.replace(d, a=5).b == 10


def test_explicit_repr_is_kept() -> None:
    @shim.dataclass(frozen=True, slots=True)
    class Secret:
        value: bytes

        def __repr__(self) -> str:
            return "Secret(<redacted>)"

    assert repr(Secret(b"x")) == "Secret(<redacted>)"


def test_gate_hot_path_does_not_import_dataclasses_or_inspect() -> None:
    code = (
        "import sys, sealgate.gate, sealgate.registry.view, sealgate.policy, sealgate.audit._log, "
        "sealgate.audit._sqlite_store; print(sorted(m for m in ('dataclasses', 'inspect', 'ast') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("options", [{"frozen": True, "slots": True}, {"slots": True}, {}])
def test_constructor_calls_match_stdlib(options: dict[str, Any]) -> None:
    std, light = _pair(**options)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((1,), {}),
        ((1, 2), {"secret": "t"}),
        ((), {"y": 2, "x": 1}),
        ((1,), {"tags": ["a"]}),
        ((1, 2, ["b"], "u"), {}),
    ]
    for args, kwargs in calls:
        a, b = std(*args, **kwargs), light(*args, **kwargs)
        assert (a.x, a.y, a.tags, a.secret) == (b.x, b.y, b.tags, b.secret)
    assert light(1).tags is not light(1).tags  # a fresh default per instance
    refusals = [
        ((1,), {"x": 2}, "multiple values"),
        ((), {"y": 2}, "missing"),
        ((1,), {"z": 0}, "unexpected keyword"),
        ((1, 2, [], "s", 5), {}, "were given"),
    ]
    for args, kwargs, says in refusals:
        for cls in (std, light):
            with pytest.raises(TypeError, match=says):
                cls(*args, **kwargs)
