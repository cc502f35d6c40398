"""Strict, hand-written readers for the policy JSON: types checked, unknown fields refused, sizes bounded.

This is the gate's hot path, so it imports neither YAML nor JSON Schema. Every error is a
:class:`PolicyError` whose sentence names the field (``requirements.strict.roles.approver``);
the error also carries the field as a path so the YAML compiler can point at a line.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final, NoReturn, TypeVar

from sealgate.errors import PolicyError, Reason

__all__ = [
    "MAX_LIST_ENTRIES",
    "PolicyFieldError",
    "Reader",
]

Path = tuple[str | int, ...]
E = TypeVar("E", bound=Enum)

MAX_LIST_ENTRIES: Final = 1024
_SHOW = 60


class PolicyFieldError(PolicyError):
    """A :class:`PolicyError` about one field; ``path`` locates it in the document."""

    def __init__(self, message: str, *, path: Path, reason: Reason = Reason.POLICY_INVALID) -> None:
        super().__init__(message, reason=reason)
        self.path = path


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(the document)"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW else text[: _SHOW - 1] + "…"


class Reader:
    """Typed access to a parsed JSON value; ``what`` names the document in every sentence."""

    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, path: Path, problem: str, *, reason: Reason = Reason.POLICY_INVALID) -> NoReturn:
        if path:
            raise PolicyFieldError(f"{self.what} field {format_path(path)} {problem}", path=path, reason=reason)
        raise PolicyFieldError(f"{self.what} {problem}", path=path, reason=reason)

    def obj(
        self, value: object, path: Path, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
    ) -> dict[str, object]:
        """A JSON object with exactly the known fields: every ``required`` one, any ``optional`` one."""
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, not {type(value).__name__}")
        known = set(required) | set(optional)
        for key in value:
            if key not in known:
                shown = ", ".join(sorted(known))
                self.fail((*path, key), f"is not a known field; the fields here are: {shown}")
        for key in required:
            if key not in value:
                self.fail((*path, key), "is required")
        return value

    def mapping(self, value: object, path: Path, *, max_items: int, key_pattern: re.Pattern[str]) -> dict[str, object]:
        """A JSON object used as a map from names to values (names checked, size bounded)."""
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, not {type(value).__name__}")
        if len(value) > max_items:
            self.fail(path, f"has {len(value)} entries, more than the limit of {max_items}")
        for key in value:
            if not key_pattern.fullmatch(key):
                self.fail((*path, key), "is not a valid name")
        return value

    def array(self, value: object, path: Path, *, min_items: int = 0, max_items: int) -> list[object]:
        if not isinstance(value, list):
            self.fail(path, f"must be a list, not {type(value).__name__}")
        if len(value) < min_items:
            self.fail(path, f"must have at least {min_items} entr{'y' if min_items == 1 else 'ies'}")
        if len(value) > max_items:
            self.fail(path, f"has {len(value)} entries, more than the limit of {max_items}")
        return value

    def string(self, value: object, path: Path, *, pattern: re.Pattern[str] | None = None, max_len: int = 256) -> str:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, not {type(value).__name__}")
        if not 1 <= len(value) <= max_len:
            self.fail(path, f"must be a string of 1 to {max_len} characters")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(path, f"has an invalid value {_show(value)}")
        return value

    def integer(self, value: object, path: Path, *, low: int, high: int) -> int:
        # bool is a subclass of int in Python; JSON true is not a number. Floats such as 10.0
        # are refused too, so one value has one spelling.
        if type(value) is not int:
            self.fail(path, f"must be an integer, not {_show(value)}")
        if not low <= value <= high:
            self.fail(path, f"must be an integer from {low} to {high}, not {value}")
        return value

    def boolean(self, value: object, path: Path) -> bool:
        if type(value) is not bool:
            self.fail(path, f"must be true or false, not {_show(value)}")
        return value

    def enum(self, value: object, path: Path, cls: type[E], *, allowed: tuple[E, ...] | None = None) -> E:
        choices = allowed if allowed is not None else tuple(cls)
        for member in choices:
            if value == member.value and isinstance(value, str):
                return member
        self.fail(path, f"must be one of {', '.join(str(m.value) for m in choices)}, not {_show(value)}")

    def choice(self, value: object, path: Path, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in choices:
            self.fail(path, f"must be one of {', '.join(choices)}, not {_show(value)}")
        return value

    def unique_strings(
        self, value: object, path: Path, *, pattern: re.Pattern[str] | None, max_len: int, min_items: int = 0
    ) -> list[str]:
        """A list of distinct strings; a repeated entry is an error (one meaning per document)."""
        items = self.array(value, path, min_items=min_items, max_items=MAX_LIST_ENTRIES)
        out: list[str] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            text = self.string(item, (*path, i), pattern=pattern, max_len=max_len)
            if text in seen:
                self.fail((*path, i), f"repeats the entry {_show(text)}")
            seen.add(text)
            out.append(text)
        return out
