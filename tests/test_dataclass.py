"""dockyard.dataclass.dataclass makes a class's methods as closures instead of the source text
dataclasses compiles per class (the start-up cost of every command): each class it makes behaves
as the one dataclasses.dataclass makes from the same body (a twin): construction (positional,
keyword, defaults, fresh default_factory values, init=False fields, kw_only, __post_init__), the
TypeErrors of a wrong call, repr (recursive too), eq per compare= field, order, hash per hash=
field, frozen assignment and deletion, __match_args__, __dataclass_params__, fields(),
replace(), asdict(). First on classes made here for each feature, then on every class of the
package made by it."""

from __future__ import annotations

import dataclasses
import importlib
import pickle
import pkgutil
from dataclasses import field
from typing import ClassVar

import pytest

import dockyard
from dockyard import dataclass as dc
from dockyard.dataclass import dataclass

_GENERATED = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__",
              "__lt__", "__le__", "__gt__", "__ge__", "__match_args__", "__dataclass_params__",
              "__dataclass_fields__", "__dict__", "__weakref__")


_ATTRS = ("__match_args__", "__dict__", "__weakref__")
_RECORDS = ("__dataclass_", "__dockyard_")


def _ours(value: object) -> bool:
    return getattr(getattr(value, "__code__", None), "co_filename", None) == dc.__file__


def twin(cls: type, *, own_init: bool = True) -> type:
    """The class dataclasses.dataclass makes from cls's body and parameters (without an __init__
    the body wrote: own_init=False)."""
    params = cls.__dataclass_params__
    own = cls.__dict__.get("__annotations__", {})
    slots = "__slots__" in cls.__dict__
    body = {k: v for k, v in cls.__dict__.items()
            if not (k in _GENERATED and (v is None or _ours(v) or k in _ATTRS)) and not k.startswith(_RECORDS)
            and not (slots and k in cls.__slots__) and k != "__slots__" and (own_init or k != "__init__")}
    for f in dataclasses.fields(cls):
        if f.name in own:
            kw = {"init": f.init, "repr": f.repr, "hash": f.hash, "compare": f.compare, "kw_only": f.kw_only,
                  "metadata": f.metadata}
            if f.default is not dataclasses.MISSING:
                kw["default"] = f.default
            if f.default_factory is not dataclasses.MISSING:
                kw["default_factory"] = f.default_factory
            body[f.name] = field(**kw)  # type: ignore[call-overload]
    made = type(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return dataclasses.dataclass(made, init=params.init, repr=params.repr, eq=params.eq, order=params.order,
                                 frozen=params.frozen, match_args="__match_args__" in cls.__dict__, slots=slots)


def _outcome(fn):  # noqa: ANN001,ANN202
    try:
        return ("ok", fn())
    except Exception as err:  # noqa: BLE001 - compared, not handled
        return (type(err).__name__, str(err))


def _state(obj: object) -> dict:
    return _plain({f.name: getattr(obj, f.name, "<unset>") for f in dataclasses.fields(obj)})


def _plain(values: dict) -> dict:
    """The values, comparable (of a value without its own __eq__: its type)."""
    return {k: type(v) if type(v).__eq__ is object.__eq__ else v for k, v in values.items()}


def _calls(cls: type, values: dict) -> list[tuple[tuple, dict]]:
    """Calls of cls's __init__: right ones and wrong ones."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    pos = [f.name for f in fields if not f.kw_only]
    kwo = [f.name for f in fields if f.kw_only]
    required = [f.name for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    calls = [
        (tuple(values[n] for n in pos if n in required), {n: values[n] for n in kwo if n in required}),
        ((), {n: values[n] for n in required}),
        (tuple(values[n] for n in pos), {n: values[n] for n in kwo}),
        ((), {n: values[n] for n in pos + kwo}),
        ((), {}),                                                       # missing ones
        (tuple(values[n] for n in pos) + ("extra",), {}),                # too many
        (tuple(values[n] for n in pos) + ("extra", "more"), {n: values[n] for n in kwo}),
        ((), {**{n: values[n] for n in required}, "bogus": 1}),          # unknown keyword
    ]
    if pos:
        calls.append(((values[pos[0]],), {pos[0]: values[pos[0]]}))    # twice
    if len(required) > 2:
        calls.append(((), {required[0]: values[required[0]]}))
    return calls


def assert_same(cls: type, values: dict | None = None, *, own_init: bool = True) -> bool:
    """cls behaves as its twin; True if instances could be made to compare their methods."""
    ref = twin(cls, own_init=own_init)
    fields = dataclasses.fields(cls)
    values = {f.name: f"v-{f.name}" for f in fields} | (values or {})
    assert [(f.name, f.init, f.repr, f.compare, f.hash, f.kw_only) for f in fields] == \
           [(f.name, f.init, f.repr, f.compare, f.hash, f.kw_only) for f in dataclasses.fields(ref)]
    assert cls.__dataclass_params__.__repr__() == ref.__dataclass_params__.__repr__()
    assert getattr(cls, "__match_args__", None) == getattr(ref, "__match_args__", None)
    assert (cls.__hash__ is None) == (ref.__hash__ is None)
    made = False
    for args, kwargs in _calls(cls, values):
        ours = _outcome(lambda: cls(*args, **kwargs))  # noqa: B023
        theirs = _outcome(lambda: ref(*args, **kwargs))  # noqa: B023
        assert ours[0] == theirs[0], (args, kwargs, ours, theirs)
        if ours[0] != "ok":
            assert ours[1] == theirs[1], (args, kwargs)
            continue
        a, b = ours[1], theirs[1]
        assert _state(a) == _state(b)
        for f in fields:  # a fresh default_factory value per instance
            if f.default_factory is not dataclasses.MISSING and f.name not in kwargs:
                fresh = getattr(cls(*args, **kwargs), f.name) is not getattr(a, f.name)
                assert fresh == (getattr(ref(*args, **kwargs), f.name) is not getattr(b, f.name))
        if not made:
            made = True
            _same_methods(cls, ref, args, kwargs, a, b)
    return made


def _same_methods(cls: type, ref: type, args: tuple, kwargs: dict, a: object, b: object) -> None:
    params = cls.__dataclass_params__
    assert repr(a) == repr(b) or (not params.repr and cls.__repr__ is ref.__repr__ is object.__repr__)
    assert (a == cls(*args, **kwargs)) == (b == ref(*args, **kwargs))
    other = object()
    assert a.__eq__(other) == b.__eq__(other) and a.__eq__(b) == b.__eq__(a)  # another class
    assert _outcome(lambda: hash(a)) == _outcome(lambda: hash(b)) or cls.__hash__ is object.__hash__
    again = _outcome(lambda: hash(a) == hash(cls(*args, **kwargs)))
    assert again == _outcome(lambda: hash(b) == hash(ref(*args, **kwargs))) or cls.__hash__ is object.__hash__
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        changed = {**kwargs, f.name: ["changed"]}
        pargs = tuple(x for x in args)
        names = [g.name for g in dataclasses.fields(cls) if g.init and not g.kw_only][:len(args)]
        if f.name in names:
            pargs = tuple(["changed"] if n == f.name else v for n, v in zip(names, args))
            changed = dict(kwargs)
        ours = _outcome(lambda: cls(*pargs, **changed))  # noqa: B023
        theirs = _outcome(lambda: ref(*pargs, **changed))  # noqa: B023
        assert ours[0] == theirs[0] and (ours[0] == "ok" or ours[1] == theirs[1])
        if ours[0] != "ok":
            continue
        x, y = ours[1], theirs[1]
        assert repr(x) == repr(y) or not params.repr
        assert (x == a) == (y == b) and (x != a) == (y != b), f.name
        if params.order:
            for op in ("__lt__", "__le__", "__gt__", "__ge__"):
                assert _outcome(lambda: getattr(x, op)(a)) == _outcome(lambda: getattr(y, op)(b))  # noqa: B023
        if cls.__hash__ is not object.__hash__:
            assert _outcome(lambda: hash(x)) == _outcome(lambda: hash(y))  # noqa: B023
    if params.frozen:
        for f in dataclasses.fields(cls):
            assert _outcome(lambda: setattr(a, f.name, 1)) == _outcome(lambda: setattr(b, f.name, 1))  # noqa: B023
            assert _outcome(lambda: delattr(a, f.name)) == _outcome(lambda: delattr(b, f.name))  # noqa: B023
        assert _outcome(lambda: setattr(a, "other", 1)) == _outcome(lambda: setattr(b, "other", 1))
    if all(f.init for f in dataclasses.fields(cls)):
        assert _outcome(lambda: _state(dataclasses.replace(a))) == _outcome(lambda: _state(dataclasses.replace(b)))
    assert _outcome(lambda: _plain(dataclasses.asdict(a))) == _outcome(lambda: _plain(dataclasses.asdict(b)))
    assert _outcome(lambda: _plain(dc.asdict(a))) == _outcome(lambda: _plain(dataclasses.asdict(b)))


# ---------------------------------------------------------------------------- each feature

@dataclass
class Plain:
    """Positional fields, defaults, a factory, compare=/repr=/init= per field."""

    a: object
    b: object = "b"
    c: list = field(default_factory=list)
    d: object = field(default=0, compare=False)
    e: object = field(default=0, repr=False)
    f: list = field(init=False, default_factory=list)
    g: object = field(init=False, default="g")


@dataclass(frozen=True, order=True)
class Ordered:
    """Frozen and ordered, as Digest."""

    algorithm: str
    hex: str
    note: str = field(default="", compare=False)
    weight: int = field(default=0, hash=False)


@dataclass(frozen=True, eq=False)
class FrozenNoEq:
    """Frozen without eq: object's hash and eq."""

    x: object = None


@dataclass(slots=True, kw_only=True)
class Slotted:
    """Slots and keyword-only."""

    x: object
    y: object = 1
    z: list = field(default_factory=list)
    w: object = field(init=False, default="w")


@dataclass
class Mixed:
    """Some keyword-only fields, a __post_init__, an explicit __hash__."""

    a: object
    b: object = field(default=None, kw_only=True)
    c: object = field(kw_only=True, default_factory=dict)
    d: object = 2
    seen: list = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.seen.append((self.a, self.d))

    def __hash__(self) -> int:
        return 7


@dataclass
class Own:
    """Its own repr and eq are kept, as dataclasses keeps them."""

    a: object = 1

    def __repr__(self) -> str:
        return "own"

    def __eq__(self, other: object) -> bool:
        return True


@dataclass(frozen=True)
class Empty:
    """No fields."""


@dataclass(repr=False, eq=False, init=False)
class Nothing:
    """No generated method at all."""

    a: int = 0


@dataclass
class WithClassVar:
    """A ClassVar: no field."""

    kind: ClassVar[str] = "k"
    a: int = 0


@pytest.mark.parametrize("cls", [Plain, Ordered, FrozenNoEq, Slotted, Mixed, Own, Empty, Nothing, WithClassVar],
                         ids=lambda c: c.__qualname__)
def test_each_feature_behaves_as_dataclasses_makes_it(cls: type) -> None:
    assert cls in dc.MADE
    assert assert_same(cls)


def test_the_methods_are_not_compiled_and_named_as_dataclasses_names_them() -> None:
    for cls in (Plain, Ordered):
        for name in ("__init__", "__repr__", "__eq__"):
            fn = cls.__dict__[name]
            assert fn.__qualname__ == f"{cls.__qualname__}.{name}" and fn.__name__ == name
            assert fn.__code__.co_filename == dc.__file__  # ours, not exec'd text
    assert Ordered.__dict__["__lt__"].__qualname__ == "Ordered.__lt__"
    assert Own.__repr__(Own()) == "own" and Own() == Own(2)
    assert Mixed(1).seen == [(1, 2)] and hash(Mixed(1)) == 7
    assert Plain(1).f == [] and Plain(1).f is not Plain(1).f and Plain(1).g == "g"


def test_a_recursive_repr_shows_dots() -> None:
    a = Plain([])
    a.a.append(a)
    b = twin(Plain)([])
    b.a.append(b)
    assert repr(a) == repr(b) == "Plain(a=[...], b='b', c=[], d=0, f=[], g='g')"


def test_identity_first_comparison_of_fields_as_tuples_compare() -> None:
    nan = float("nan")
    assert Plain(nan) == Plain(nan)
    assert Plain(nan) != Plain(float("nan"))
    generated = twin(Plain)
    assert generated(nan) == generated(nan) and generated(nan) != generated(float("nan"))


def test_subclasses_and_pickle() -> None:
    @dataclass(frozen=True)
    class Base:
        """A frozen base."""

        a: int = 0

    @dataclasses.dataclass(frozen=True)
    class Child(Base):
        b: int = 1

    with pytest.raises(TypeError, match="cannot inherit non-frozen dataclass from a frozen one"):
        @dataclasses.dataclass
        class Wrong(Base):
            c: int = 2
    assert Child(1, 2) == Child(1, 2) and hash(Child(1, 2)) == hash((1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        Child().a = 3

    class Plainer(Ordered):  # a subclass that is no dataclass: frozen only for the fields
        pass

    p = Plainer("sha256", "0")
    p.other = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.hex = "1"
    o = Ordered("sha256", "ab")
    assert pickle.loads(pickle.dumps(o)) == o
    assert pickle.loads(pickle.dumps(Plain(1))) == Plain(1)


def test_dataclasses_reads_these_classes_as_its_own() -> None:
    # what dataclasses keeps about a class is made when first read, from the same fields
    @dataclass
    class Fresh:
        """Nothing read yet."""

        a: int = 0

    assert isinstance(Fresh.__dict__["__dataclass_fields__"], dc._Later)
    assert dataclasses.is_dataclass(Fresh) and isinstance(Fresh.__dict__["__dataclass_fields__"], dict)
    generated = twin(Plain)
    assert [(f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.hash, f.compare, f.kw_only)
            for f in dataclasses.fields(Plain)] == \
           [(f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.hash, f.compare, f.kw_only)
            for f in dataclasses.fields(generated)]
    # this module's fields() and replace() answer as dataclasses' do, for its classes and others
    for cls in (Plain, Ordered, Slotted, generated):
        assert [f.name for f in dc.fields(cls)] == [f.name for f in dataclasses.fields(cls)]
    assert dc.replace(Plain(1), b=2) == Plain(1, 2) == dataclasses.replace(Plain(1), b=2)
    assert dc.replace(generated(1), b=2) == generated(1, 2)
    for replace in (dc.replace, dataclasses.replace):
        with pytest.raises(ValueError, match="field f is declared with init=False"):
            replace(Plain(1), f=[])
    assert dataclasses.asdict(Ordered("sha256", "ab")) == {"algorithm": "sha256", "hex": "ab", "note": "", "weight": 0}
    nested = Plain([Ordered("a", "b"), {"k": (Ordered("c", "d"),)}])
    assert dc.asdict(nested) == dataclasses.asdict(nested)
    assert dc.asdict(nested)["c"] is not nested.c
    with pytest.raises(TypeError, match="asdict"):
        dc.asdict(Plain)
    # a ClassVar is no field, for either
    assert [f.name for f in dc.fields(WithClassVar)] == ["a"] == [f.name for f in dataclasses.fields(WithClassVar)]
    assert WithClassVar.kind == "k" and WithClassVar(1).a == 1


def test_what_it_does_not_take_goes_to_dataclasses() -> None:
    @dataclass
    class NoDoc:
        a: int = 0
        b: list = dc.field(default_factory=list)  # this module's field() too

    assert NoDoc not in dc.MADE and NoDoc.__doc__.startswith("NoDoc(a: ")
    assert NoDoc().b == [] and NoDoc().b is not NoDoc().b
    with pytest.raises(ValueError, match="eq must be true if order is true"):
        @dataclass(order=True, eq=False)
        class Bad:
            """Order without eq."""
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        @dataclass
        class Late:
            """A required field after a default one."""

            a: int = 0
            b: int  # type: ignore[misc]


# ---------------------------------------------------------------------------- every class made

def _package_classes() -> list[type]:
    for info in pkgutil.walk_packages(dockyard.__path__, "dockyard."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    made = (c for c in dc.MADE if c.__module__.startswith("dockyard."))
    return sorted(made, key=lambda c: f"{c.__module__}.{c.__qualname__}")


PACKAGE = _package_classes()


@pytest.mark.parametrize("cls", PACKAGE, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_class_of_the_package_behaves_as_dataclasses_makes_it(cls: type) -> None:
    assert_same(cls)


def test_a_compiled_init_is_the_generated_one() -> None:
    # the tar members and log lines (made in great numbers) have their __init__ compiled
    from dockyard.archive.diff import Header
    from dockyard.archive.tarreader import Entry
    from dockyard.runtime.logs import LogEntry

    for cls in (Entry, Header, LogEntry):
        assert cls.__dict__["__init__"].__code__.co_filename == "<string>"
        assert cls.__dict__["__init__"].__qualname__ == f"{cls.__qualname__}.__init__"
        assert assert_same(cls, own_init=False)
    with pytest.raises(TypeError, match="compiled_init takes a plain class"):
        @dataclass(frozen=True, compiled_init=True)
        class Frozen:
            """Frozen: not taken."""

            a: int = 0


def test_the_package_classes_are_covered() -> None:
    names = {f"{c.__module__}.{c.__qualname__}" for c in PACKAGE}
    assert "dockyard.digest.Digest" in names and "dockyard.image.config.ImageConfig" in names
    # the check proves something: most classes could be made with the probe's values
    assert sum(assert_same(c) for c in PACKAGE) >= len(PACKAGE) * 2 // 3
