"""`dataclass`: dataclasses.dataclass with the same behaviour, minus the cost of making a class.

dataclasses writes every class's `__init__`, `__repr__`, `__eq__` (and, as asked, the order
methods, `__hash__`, the frozen `__setattr__`/`__delattr__`) as source text and compiles it
when the class is made: ~0.2-0.6 ms a class, at every start of the program (an in-process build
makes ~60-80 classes: 15-28 ms of a 70-180 ms command). This decorator lets dataclasses do the
rest (fields, defaults, slots, `__match_args__`, `fields()`/`replace()`/`asdict()`) and gives
the class those methods as closures over its fields, made without compiling anything, that
behave as the generated ones do: the same arguments, defaults, fresh `default_factory` values,
`__post_init__`, TypeErrors, compare=/repr=/hash= of each field, identity-first comparison of
field tuples, `FrozenInstanceError`, recursive repr, `__dataclass_params__`
(tests/test_dataclass.py proves it class by class against the generated twin).

What it does not take (InitVar fields, a class without a docstring, whose docstring dataclasses
writes from the generated __init__'s signature, unsafe_hash, frozen with slots, an order method
or a frozen __setattr__ written by hand) goes to dataclasses.dataclass unchanged. What differs:
`inspect.signature` of the `__init__` is `(self, *args, **kwargs)`.
"""

from __future__ import annotations

import dataclasses
from _thread import get_ident
from dataclasses import MISSING, FrozenInstanceError
from operator import attrgetter

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from collections.abc import Callable

MADE: list[type] = []  # the classes made here, for tests/test_dataclass.py


def dataclass(cls: type | None = None, /, *, init: bool = True, repr: bool = True, eq: bool = True,  # noqa: A002
              order: bool = False, unsafe_hash: bool = False, frozen: bool = False, match_args: bool = True,
              kw_only: bool = False, slots: bool = False) -> Callable[[type], type] | type:
    """dataclasses.dataclass(cls, ...) with the methods made as closures (see the module)."""
    params = {"init": init, "repr": repr, "eq": eq, "order": order, "unsafe_hash": unsafe_hash,
              "frozen": frozen, "match_args": match_args, "kw_only": kw_only, "slots": slots}

    def wrap(cls: type) -> type:
        return _make(cls, params)

    return wrap if cls is None else wrap(cls)


_ORDER = ("__lt__", "__le__", "__gt__", "__ge__")


def _make(cls: type, params: dict[str, bool]) -> type:
    own = cls.__dict__
    # frozen= of the dataclasses it inherits from (dataclasses checks they agree with this one's)
    bases_frozen = {base.__dict__["__dataclass_params__"].frozen for base in cls.__mro__[1:]
                    if "__dataclass_params__" in base.__dict__}
    if (not own.get("__doc__") or params["unsafe_hash"] or (params["frozen"] and params["slots"])
            or (params["order"] and (not params["eq"] or any(name in own for name in _ORDER)))
            or (params["frozen"] and ("__setattr__" in own or "__delattr__" in own))
            or (bases_frozen and (params["frozen"] or True in bases_frozen)) or _has_initvar(cls)):
        return dataclasses.dataclass(cls, **params)  # type: ignore[call-overload,no-any-return]
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False, order=False,  # type: ignore[call-overload]
                                unsafe_hash=False, frozen=False, match_args=params["match_args"],
                                kw_only=params["kw_only"], slots=params["slots"])
    # the parameters as dataclasses records them (subclasses read frozen=)
    for name in ("init", "repr", "eq", "order", "unsafe_hash", "frozen"):
        setattr(cls.__dataclass_params__, name, params[name])
    fields = dataclasses.fields(cls)
    own = cls.__dict__
    # dataclasses' rule: an explicit __hash__, not the None that a class body's __eq__ implies
    class_hash = own.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in own))
    if params["init"]:
        _set(cls, "__init__", _init(cls, fields, params["frozen"], params["slots"]))
    if params["repr"]:
        _set(cls, "__repr__", _repr(tuple(f.name for f in fields if f.repr)))
    if params["eq"]:
        _set(cls, "__eq__", _compare("__eq__", tuple(f.name for f in fields if f.compare)))
    if params["order"]:
        names = tuple(f.name for f in fields if f.compare)
        for method in _ORDER:
            _set(cls, method, _compare(method, names))
    if params["frozen"]:
        _frozen(cls, tuple(f.name for f in fields))
    if params["eq"] and not explicit_hash:
        if params["frozen"]:
            hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
            _set(cls, "__hash__", _hash(hashed), replace=True)
        else:
            cls.__hash__ = None  # type: ignore[assignment]
    MADE.append(cls)
    return cls


def _has_initvar(cls: type) -> bool:
    annotations = cls.__dict__.get("__annotations__", {})
    return any("InitVar" in str(kind) for kind in annotations.values())


def _set(cls: type, name: str, fn: Callable, *, replace: bool = False) -> None:
    """As dataclasses sets a method: never over one the class body wrote (but __hash__), named
    as dataclasses names it."""
    if replace or name not in cls.__dict__:
        fn.__name__, fn.__qualname__ = name, f"{cls.__qualname__}.{name}"
        setattr(cls, name, fn)


def _getter(names: tuple[str, ...]) -> Callable[[object], tuple]:
    """obj -> the tuple of its fields `names` (what the generated methods compare and hash)."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return attrgetter(*names)


def _init(cls: type, fields: tuple[dataclasses.Field, ...], frozen: bool, slots: bool) -> Callable[..., None]:
    qualname = cls.__qualname__
    positional = tuple(f.name for f in fields if f.init and not f.kw_only)
    keyword = tuple(f.name for f in fields if f.init and f.kw_only)
    accepted = frozenset(positional + keyword)
    # what dataclasses checks when it writes __init__'s signature
    seen_default = False
    for f in fields:
        if f.init and not f.kw_only:
            if f.default is MISSING and f.default_factory is MISSING:
                if seen_default:
                    raise TypeError(f"non-default argument {f.name!r} follows default argument")
            else:
                seen_default = True
    # per field, in order: (name, takes an argument, default, factory); a field that neither
    # takes an argument nor has a factory (nor a default with slots) is left to the class attribute
    plan = []
    for f in fields:
        if f.init or f.default_factory is not MISSING or (slots and f.default is not MISSING):
            plan.append((f.name, f.init, f.default, f.default_factory))
    plan = tuple(plan)  # type: ignore[assignment]
    assign = object.__setattr__ if frozen else setattr
    post_init = hasattr(cls, "__post_init__")
    n = len(positional)
    defaults = sum(1 for f in fields if f.init and not f.kw_only
                   and (f.default is not MISSING or f.default_factory is not MISSING))
    # every field is given positionally: a call with all of them only assigns (LogEntry per line)
    only_positional = len(plan) == n

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN001,ANN002,ANN003,N807
        if only_positional and not kwargs and len(args) == n:
            for name, value in zip(positional, args):
                assign(self, name, value)
            if post_init:
                self.__post_init__()
            return
        if kwargs:
            for name in kwargs:
                if name not in accepted:
                    raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument '{name}'")
                if name in positional[:len(args)]:
                    raise TypeError(f"{qualname}.__init__() got multiple values for argument '{name}'")
        if len(args) > n:
            _too_many(qualname, len(args), positional, defaults, sum(name in kwargs for name in keyword))
        given = dict(zip(positional, args))
        given.update(kwargs)
        if len(given) < len(accepted):
            _check_missing(qualname, given, plan, positional, keyword)
        for name, takes, default, factory in plan:
            if takes and name in given:
                value = given[name]
            elif factory is not MISSING:
                value = factory()
            else:
                value = default
            assign(self, name, value)
        if post_init:
            self.__post_init__()

    return __init__


def _too_many(qualname: str, given: int, positional: tuple[str, ...], defaults: int, kw_given: int) -> None:
    """The TypeError of a call with too many positional arguments, as CPython words it (self
    counts)."""
    most = len(positional) + 1
    takes = f"from {most - defaults} to {most}" if defaults else f"{most}"
    plural = "s" if defaults or most != 1 else ""
    also = (f" positional argument{'s' if given + 1 != 1 else ''} (and {kw_given} keyword-only "
            f"argument{'s' if kw_given != 1 else ''})") if kw_given else ""
    was = "was" if given + 1 == 1 and not kw_given else "were"
    raise TypeError(f"{qualname}.__init__() takes {takes} positional argument{plural} "
                    f"but {given + 1}{also} {was} given")


def _check_missing(qualname: str, given: dict, plan: tuple, positional: tuple[str, ...],
                   keyword: tuple[str, ...]) -> None:
    """The TypeError of a call that lacks required arguments, as CPython words it."""
    required = {name for name, takes, default, factory in plan
                if takes and default is MISSING and factory is MISSING}
    for names, kind in ((positional, "positional"), (keyword, "keyword-only")):
        missing = [name for name in names if name in required and name not in given]
        if missing:
            quoted = [f"'{name}'" for name in missing]
            listed = (quoted[0] if len(quoted) == 1 else f"{quoted[0]} and {quoted[1]}" if len(quoted) == 2
                      else ", ".join(quoted[:-1]) + f", and {quoted[-1]}")
            raise TypeError(f"{qualname}.__init__() missing {len(missing)} required {kind} "
                            f"argument{'s' if len(missing) > 1 else ''}: {listed}")


_running: set[tuple[int, int]] = set()  # the objects whose repr is being made (a cycle shows "...")


def _repr(names: tuple[str, ...]) -> Callable[[object], str]:
    def __repr__(self) -> str:  # noqa: N807
        key = id(self), get_ident()
        if key in _running:
            return "..."
        _running.add(key)
        try:
            shown = ", ".join([f"{name}={getattr(self, name)!r}" for name in names])
        finally:
            _running.discard(key)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _compare(method: str, names: tuple[str, ...]) -> Callable[[object, object], object]:
    values = _getter(names)
    op = getattr(tuple, method)

    def compare(self, other):  # noqa: ANN001,ANN202
        if other.__class__ is self.__class__:
            return op(values(self), values(other))
        return NotImplemented

    return compare


def _hash(values: Callable[[object], tuple]) -> Callable[[object], int]:
    def __hash__(self) -> int:  # noqa: N807
        return hash(values(self))

    return __hash__


def _frozen(cls: type, names: tuple[str, ...]) -> None:
    def __setattr__(self, name, value):  # noqa: ANN001,ANN202,N807
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):  # noqa: ANN001,ANN202,N807
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    _set(cls, "__setattr__", __setattr__, replace=True)
    _set(cls, "__delattr__", __delattr__, replace=True)
