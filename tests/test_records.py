"""trustbuild.records behaves like the dataclasses it replaces."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from trustbuild.records import FrozenRecordError, Record, field, replace


class Point(Record, frozen=True):
    x: int
    y: int = 0
    label: str = field(default="", compare=False, repr=False)
    LIMIT: ClassVar[int] = 10


class Point3(Point, frozen=True):
    z: int = 0


class Bag(Record):
    name: str
    items: list[str] = field(default_factory=list)
    count: int = field(default=0, init=False)
    seen: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.count = len(self.items)


@dataclasses.dataclass(frozen=True)
class DataPoint:
    x: int
    y: int = 0
    label: str = dataclasses.field(default="", compare=False, repr=False)


def test_construction_positional_keyword_and_defaults() -> None:
    assert (Point(1).x, Point(1).y) == (1, 0)
    assert Point(1, 2) == Point(x=1, y=2) == Point(y=2, x=1)
    assert Point3(1, 2, "a", 3).z == 3
    assert [f.name for f in Point3.__record_fields__] == ["x", "y", "label", "z"]


def test_argument_errors_match_a_dataclass() -> None:
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, "", 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, x=1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point(1, w=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        DataPoint()  # type: ignore[call-arg]


def test_equality_hash_and_repr_like_dataclasses() -> None:
    assert Point(1, 2, "a") == Point(1, 2, "b")  # label is compare=False
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 2) != Point3(1, 2)  # another class is never equal
    assert hash(Point(1, 2, "a")) == hash(Point(1, 2, "b"))
    assert len({Point(1, 2), Point(1, 2), Point(2, 2)}) == 2
    assert repr(Point(1, 2, "hidden")) == "Point(x=1, y=2)"
    assert repr(Point(1, 2)).removeprefix("Point") == repr(DataPoint(1, 2)).removeprefix(
        "DataPoint")


def test_frozen_refuses_assignment_mutable_allows_it() -> None:
    p = Point(1)
    with pytest.raises(FrozenRecordError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.x
    bag = Bag("b")
    bag.name = "c"
    assert bag.name == "c"
    with pytest.raises(TypeError):
        hash(bag)


def test_factories_init_false_and_post_init() -> None:
    a, b = Bag("a", ["x", "y"]), Bag("b")
    assert a.count == 2 and b.count == 0
    b.items.append("z")
    assert Bag("c").items == [] and a.seen is not b.seen
    with pytest.raises(TypeError):
        Bag("d", count=3)  # type: ignore[call-arg]


def test_replace() -> None:
    p = Point3(1, 2, "a", 3)
    q = replace(p, y=5)
    assert (q.x, q.y, q.label, q.z) == (1, 5, "a", 3) and p.y == 2
    with pytest.raises(ValueError):
        replace(Bag("a"), count=1)


def test_class_definition_errors() -> None:
    with pytest.raises(TypeError):
        class Bad(Record):
            a: int = 0
            b: int  # type: ignore[misc]
    with pytest.raises(TypeError):
        class Mixed(Point):  # type: ignore[misc]  # mutable subclass of a frozen one
            w: int = 0
    with pytest.raises(ValueError):
        field(default=1, default_factory=int)
