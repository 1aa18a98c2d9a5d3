"""Record classes: the part of ``dataclasses`` trustbuild uses, without generating code.

``dataclasses`` writes ``__init__``, ``__repr__``, ``__eq__`` and ``__hash__`` as source and
compiles each with ``exec`` when a class is defined.  For trustbuild's sixty record types that
was 25-45 ms of every start-up, more than the work of a warm one-image check
(docs/performance.md).  A :class:`Record` subclass declares its fields as a dataclass does, and
type checkers read it as one (PEP 681); the methods are shared, so defining a class costs
nothing.

    class Point(Record, frozen=True):
        x: int
        y: int = 0
        tags: list[str] = field(default_factory=list, compare=False)

Semantics follow ``dataclasses``: fields in definition order, base classes first; ``==``
compares same-class instances field by field (``compare=False`` fields skipped); frozen records
refuse assignment and hash like the tuple of their compared fields, mutable ones are not
hashable; ``__post_init__`` runs after ``__init__``.  ``ClassVar`` annotations are not fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform

R = TypeVar("R", bound="Record")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

    def __init__(self, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
                 init: bool = True, repr: bool = True, compare: bool = True) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def initial(self, owner: type) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        if self.default is MISSING:
            raise TypeError(f"{owner.__qualname__}() missing required argument {self.name!r}")
        return self.default


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | None = None,
          init: bool = True, repr: bool = True, compare: bool = True) -> Any:
    """As ``dataclasses.field``."""
    if default is not MISSING and default_factory is not None:
        raise ValueError("cannot give both default and default_factory")
    return Field(default, default_factory, init, repr, compare)


class FrozenRecordError(AttributeError):
    """Assignment to a field of a frozen record."""


@dataclass_transform(field_specifiers=(field, Field))
class Record:
    __record_fields__: ClassVar[tuple[Field, ...]] = ()
    __record_init__: ClassVar[tuple[Field, ...]] = ()
    __record_compare__: ClassVar[tuple[str, ...]] = ()
    __record_frozen__: ClassVar[bool] = False

    def __init_subclass__(cls, *, frozen: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inherited = {f.name: f for f in cls.__record_fields__}
        if inherited and frozen != cls.__record_frozen__:
            raise TypeError(f"{cls.__qualname__}: cannot mix frozen and mutable records")
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if _is_classvar(annotation):
                continue
            value = cls.__dict__.get(name, MISSING)
            spec = value if isinstance(value, Field) else Field(default=value)
            spec.name = name
            if isinstance(value, Field):
                # A plain default stays a class attribute, as in dataclasses; a Field is no
                # value of its own.
                delattr(cls, name)
                if spec.default is not MISSING:
                    setattr(cls, name, spec.default)
            inherited.pop(name, None)
            inherited[name] = spec
        fields = tuple(inherited.values())
        required_after_default = False
        for spec in fields:
            if not spec.init:
                continue
            has_default = spec.default is not MISSING or spec.default_factory is not None
            if not has_default and required_after_default:
                raise TypeError(f"{cls.__qualname__}: non-default field {spec.name!r} follows a "
                                "field with a default")
            required_after_default = required_after_default or has_default
        cls.__record_fields__ = fields
        cls.__record_init__ = tuple(f for f in fields if f.init)
        cls.__record_compare__ = tuple(f.name for f in fields if f.compare)
        cls.__record_frozen__ = frozen
        if frozen:
            cls.__setattr__ = _refuse_assignment  # type: ignore[method-assign,assignment]
            cls.__delattr__ = _refuse_deletion  # type: ignore[method-assign,assignment]
            cls.__hash__ = _hash  # type: ignore[method-assign,assignment]
        else:
            cls.__hash__ = None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        init = cls.__record_init__
        if len(args) > len(init):
            raise TypeError(f"{cls.__qualname__}() takes {len(init)} positional arguments but "
                            f"{len(args)} were given")
        assign = object.__setattr__
        for position, spec in enumerate(init):
            if position < len(args):
                if spec.name in kwargs:
                    raise TypeError(f"{cls.__qualname__}() got multiple values for "
                                    f"{spec.name!r}")
                assign(self, spec.name, args[position])
            elif spec.name in kwargs:
                assign(self, spec.name, kwargs.pop(spec.name))
            else:
                assign(self, spec.name, spec.initial(cls))
        if kwargs:
            raise TypeError(f"{cls.__qualname__}() got an unexpected keyword argument "
                            f"{next(iter(kwargs))!r}")
        for spec in cls.__record_fields__:
            if not spec.init:
                assign(self, spec.name, spec.initial(cls))
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                          for f in type(self).__record_fields__ if f.repr)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _compared(self) == _compared(other)


def replace(record: R, **changes: Any) -> R:
    """A copy of *record* with *changes*, as ``dataclasses.replace``."""
    cls = type(record)
    for spec in cls.__record_fields__:
        if spec.init and spec.name not in changes:
            changes[spec.name] = getattr(record, spec.name)
        elif not spec.init and spec.name in changes:
            raise ValueError(f"field {spec.name!r} cannot be replaced: it is not an argument")
    return cls(**changes)


def _compared(record: Record) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in type(record).__record_compare__)


def _hash(self: Record) -> int:
    return hash(_compared(self))


def _refuse_assignment(self: Record, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of frozen "
                            f"{type(self).__qualname__}")


def _refuse_deletion(self: Record, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of frozen {type(self).__qualname__}")


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return getattr(annotation, "__origin__", None) is ClassVar
