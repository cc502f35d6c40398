"""A small, import-light stand-in for :mod:`dataclasses` on the gate's hot path.

``sealgate verify`` runs in a fresh process before every execution. The standard
``dataclasses`` module imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``) and
compiles generated source for every decorated class: together about a third of the
process's start-up here (docs/decisions/0004-import-light-dataclasses.md). This module
implements the subset sealgate uses, with closures instead of generated source:

- ``@dataclass(frozen=..., slots=..., eq=...)`` with ``__init__`` (positional or keyword),
  ``__post_init__``, ``__repr__``, ``__eq__``, ``__hash__`` (frozen and eq), frozen
  assignment errors, ``__slots__``, ``__match_args__`` and ``__dataclass_fields__``;
- ``field(default=, default_factory=, init=, repr=, compare=)``;
- ``replace(obj, **changes)``.

Type checkers see the standard library's definitions (below, under ``TYPE_CHECKING``), so
mypy checks every constructor call exactly as for real dataclasses; tests pin the runtime
behaviour to the standard module's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["FrozenInstanceError", "dataclass", "field", "replace"]

if TYPE_CHECKING:
    from dataclasses import FrozenInstanceError, dataclass, field, replace
else:
    from types import MemberDescriptorType

    class FrozenInstanceError(AttributeError):
        """Assignment to a field of a frozen instance."""

    class _Missing:
        __slots__ = ()

        def __repr__(self) -> str:
            return "MISSING"

    _MISSING = _Missing()

    class Field:
        __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

        def __init__(self, default, default_factory, init, repr, compare):
            if default is not _MISSING and default_factory is not _MISSING:
                raise ValueError("cannot specify both default and default_factory")
            self.name = ""
            self.default = default
            self.default_factory = default_factory
            self.init = init
            self.repr = repr
            self.compare = compare

        def __repr__(self):
            return f"Field(name={self.name!r})"

    def field(*, default=_MISSING, default_factory=_MISSING, init=True, repr=True, compare=True):
        return Field(default, default_factory, init, repr, compare)

    def _collect(cls):
        fields = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "__dataclass_fields__", {}))
        annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect is what we avoid
        for name, annotation in annotations.items():
            if isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            f = value if isinstance(value, Field) else Field(value, _MISSING, True, True, True)
            f.name = name
            fields[name] = f
        return fields

    def _bad_keywords(class_name, kwargs, position, given):
        for key in kwargs:
            index = position.get(key)
            if index is None:
                raise TypeError(f"{class_name}() got an unexpected keyword argument {key!r}")
            if index < given:
                raise TypeError(f"{class_name}() got multiple values for argument {key!r}")

    def _setter(cls, name):
        """A fast ``object.__setattr__(obj, name, value)`` for instances of ``cls``.

        For a slot this is the slot descriptor's own ``__set__``, which skips the attribute
        lookup that ``object.__setattr__`` does on every call.
        """
        descriptor = getattr(cls, name, None)
        if isinstance(descriptor, MemberDescriptorType):
            return descriptor.__set__
        return lambda obj, value: object.__setattr__(obj, name, value)

    def _make_init(fields, has_post_init):
        """``__init__`` and the dict of setters it uses, to be filled once the class exists."""
        all_fields = tuple(fields.values())
        init_names = tuple(f.name for f in all_fields if f.init)
        position = {name: i for i, name in enumerate(init_names)}
        init_set = frozenset(init_names)
        n_init = len(init_names)
        # Every field is an init field: a call that names each once needs no default.
        complete_when_all_given = n_init == len(all_fields)
        setters = {}  # field name -> setter, filled by _process
        init_setters = []  # the init fields' setters, in order

        # Gate decisions build several of these objects each, so the common calls (every
        # field given, positionally or by keyword) set the attributes directly; defaults,
        # init=False fields and errors take the general loop below.
        def __init__(self, *args, **kwargs):
            given = len(args)
            if given > n_init:
                raise TypeError(f"{type(self).__name__}() takes {n_init} positional arguments but {given} were given")
            for set_value, value in zip(init_setters, args, strict=False):
                set_value(self, value)
            if kwargs:
                if not kwargs.keys() <= init_set or (given and not kwargs.keys().isdisjoint(init_names[:given])):
                    _bad_keywords(type(self).__name__, kwargs, position, given)
                for key, value in kwargs.items():
                    setters[key](self, value)
            if not (complete_when_all_given and given + len(kwargs) == n_init):
                for f in all_fields[given:] if complete_when_all_given else all_fields:
                    if f.init and (f.name in kwargs or position[f.name] < given):
                        continue
                    if f.default is not _MISSING:
                        value = f.default
                    elif f.default_factory is not _MISSING:
                        value = f.default_factory()
                    elif f.init:
                        raise TypeError(f"{type(self).__name__}() missing required argument: {f.name!r}")
                    else:
                        continue
                    setters[f.name](self, value)
            if has_post_init:
                self.__post_init__()

        def bind(cls):
            setters.update({name: _setter(cls, name) for name in fields})
            init_setters.extend(setters[name] for name in init_names)

        return __init__, bind

    def _process(cls, frozen, slots, eq):
        fields = _collect(cls)
        names = tuple(fields)
        compare = tuple(f.name for f in fields.values() if f.compare)
        shown = tuple(f.name for f in fields.values() if f.repr)
        own = cls.__dict__
        has_explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
        namespace = dict(own)
        for name in names:
            namespace.pop(name, None)  # defaults live in the Field objects, not on the class
        namespace.pop("__dict__", None)
        namespace.pop("__weakref__", None)
        if slots:
            inherited = {n for base in cls.__mro__[1:] for n in getattr(base, "__slots__", ())}
            namespace["__slots__"] = tuple(n for n in names if n not in inherited)
        namespace["__dataclass_fields__"] = fields
        namespace["__match_args__"] = tuple(f.name for f in fields.values() if f.init)
        namespace["__init__"], bind_init = _make_init(fields, "__post_init__" in dir(cls))

        if "__repr__" not in own:

            def __repr__(self):
                inner = ", ".join(f"{n}={getattr(self, n, '<unset>')!r}" for n in shown)
                return f"{type(self).__qualname__}({inner})"

            namespace["__repr__"] = __repr__

        if eq and "__eq__" not in own:

            def __eq__(self, other):
                if other.__class__ is not self.__class__:
                    return NotImplemented
                return all(getattr(self, n) == getattr(other, n) for n in compare)

            namespace["__eq__"] = __eq__

        if not has_explicit_hash:
            if eq and frozen:

                def __hash__(self):
                    return hash(tuple(getattr(self, n) for n in compare))

                namespace["__hash__"] = __hash__
            elif eq:
                namespace["__hash__"] = None

        if frozen:

            def __setattr__(self, name, value):
                raise FrozenInstanceError(f"cannot assign to field {name!r}")

            def __delattr__(self, name):
                raise FrozenInstanceError(f"cannot delete field {name!r}")

            namespace["__setattr__"] = __setattr__
            namespace["__delattr__"] = __delattr__

        new_cls = type(cls)(cls.__name__, cls.__bases__, namespace)
        new_cls.__qualname__ = cls.__qualname__
        bind_init(new_cls)
        return new_cls

    def dataclass(cls=None, /, *, frozen=False, slots=False, eq=True):
        def wrap(target):
            return _process(target, frozen, slots, eq)

        return wrap if cls is None else wrap(cls)

    def replace(obj, /, **changes):
        for f in obj.__dataclass_fields__.values():
            if not f.init:
                if f.name in changes:
                    raise ValueError(f"field {f.name} is declared with init=False and cannot be replaced")
                continue
            if f.name not in changes:
                changes[f.name] = getattr(obj, f.name)
        return obj.__class__(**changes)
