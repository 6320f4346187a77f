"""`dataclass`, `field`, `fields`, `replace`, `asdict`: the standard library's dataclasses, minus what it
costs a program to start with them.

dataclasses writes every class's `__init__`, `__repr__`, `__eq__` (and, as asked, the order
methods, `__hash__`, the frozen `__setattr__`/`__delattr__`) as source text and compiles it when
the class is made: 0.2-0.6 ms a class, at every start of the program (an in-process build makes
~60-80 classes: 15-28 ms of a 70-180 ms command); and importing it loads inspect, ast, dis and
tokenize (~8 ms). This module makes the same classes without either: it reads the fields as
dataclasses reads them (annotations in order, inherited fields first, ClassVar left out, defaults
and `field()` specs, kw_only, slots, `__match_args__`) and gives the class those methods as
closures over its fields, made without compiling anything, behaving as the generated ones do:
the same arguments, defaults, fresh `default_factory` values, `__post_init__`, TypeErrors,
compare=/repr=/hash= of each field, identity-first comparison of field tuples, FrozenInstanceError,
recursive repr. What dataclasses keeps about a class (`__dataclass_fields__`,
`__dataclass_params__`) is made when first read, so dataclasses.fields(), replace(), asdict(),
is_dataclass() and dataclass subclasses work on these classes as on its own. A class made in
great numbers (a tar member, a log line) asks for its `__init__` compiled (`compiled_init=True`).
tests/test_dataclass.py proves it class by class against the twin dataclasses makes.

What it does not take (InitVar and KW_ONLY annotations, a class without a docstring, whose
docstring dataclasses writes from the generated __init__'s signature, unsafe_hash, frozen with
slots, weakref_slot, an order method or a frozen __setattr__ written by hand, a base made by
dataclasses itself) goes to dataclasses.dataclass unchanged. What differs: `inspect.signature`
of the `__init__` is `(self, *args, **kwargs)`.
"""

from __future__ import annotations

import abc
import re
import sys
from _thread import get_ident
from operator import attrgetter
from types import MappingProxyType, MemberDescriptorType

TYPE_CHECKING = False  # typing costs ~2 ms at each start of the program
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MADE: list[type] = []  # the classes made here, for tests/test_dataclass.py


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # no default (dataclasses.MISSING in what dataclasses reads)


class _Fresh:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


FRESH = _Fresh()  # a default_factory field's default in a compiled __init__ (dataclasses' _HAS_DEFAULT_FACTORY)


class Field:
    """A field as dataclasses.Field describes it (`classvar`: a ClassVar, which is no field)."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare", "metadata",
                 "kw_only", "classvar")

    def __init__(self, default: object, default_factory: object, init: bool, repr: bool,  # noqa: A002
                 hash: bool | None, compare: bool, metadata: Mapping | None, kw_only: object) -> None:  # noqa: A002
        self.name: str = ""
        self.type: object = None
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.hash, self.compare, self.kw_only = init, repr, hash, compare, kw_only
        self.metadata = metadata
        self.classvar = False


def field(*, default: object = MISSING, default_factory: object = MISSING, init: bool = True,
          repr: bool = True, hash: bool | None = None, compare: bool = True,  # noqa: A002
          metadata: Mapping | None = None, kw_only: object = MISSING) -> object:
    """dataclasses.field()."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, hash, compare, metadata, kw_only)


def fields(class_or_instance: object) -> tuple[Field, ...]:
    """dataclasses.fields(): the fields of a class made here, or of any dataclass (as this
    module's Field, its MISSING for no default)."""
    cls = class_or_instance if isinstance(class_or_instance, type) else type(class_or_instance)
    ours = cls.__dict__.get("__dockyard_fields__")
    if ours is not None:
        return ours  # type: ignore[no-any-return]
    import dataclasses

    out = []
    for spec in dataclasses.fields(class_or_instance):  # type: ignore[arg-type]
        f = _our_field(spec)
        f.name, f.type = spec.name, spec.type
        out.append(f)
    return tuple(out)


def replace(obj: object, /, **changes: object) -> object:
    """dataclasses.replace(): a copy of obj with `changes` (init=False fields cannot change)."""
    ours = type(obj).__dict__.get("__dockyard_fields__")
    if ours is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    for f in ours:
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def asdict(obj: object) -> dict:
    """dataclasses.asdict(): the fields as a dict, dataclasses, lists, tuples and dicts within
    copied the same way, anything else deep-copied."""
    if not _is_instance(obj):
        raise TypeError("asdict() should be called on dataclass instances")
    return _asdict(obj)  # type: ignore[return-value]


def _is_instance(obj: object) -> bool:
    # a class made here says so without reading __dataclass_fields__, whose first read
    # imports dataclasses (~8 ms: a network command's NetworkState.to_json paid it)
    return not isinstance(obj, type) and ("__dockyard_fields__" in type(obj).__dict__
                                          or hasattr(type(obj), "__dataclass_fields__"))


def _asdict(obj: object) -> object:
    if _is_instance(obj):
        return {f.name: _asdict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*[_asdict(v) for v in obj])
    if isinstance(obj, (list, tuple)):
        return type(obj)(_asdict(v) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((_asdict(k), _asdict(v)) for k, v in obj.items())
    from copy import deepcopy

    return deepcopy(obj)


def dataclass(cls: type | None = None, /, *, init: bool = True, repr: bool = True, eq: bool = True,  # noqa: A002
              order: bool = False, unsafe_hash: bool = False, frozen: bool = False, match_args: bool = True,
              kw_only: bool = False, slots: bool = False, compiled_init: bool = False) -> Callable[[type], type] | type:
    """dataclasses.dataclass(cls, ...), made as the module says. `compiled_init`: the __init__
    is compiled as dataclasses compiles it (~0.1 ms once), for a class made in great numbers (a
    tar member, a log line: the closure's takes 2-4 us a call, a compiled one 0.3-0.5)."""
    params = {"init": init, "repr": repr, "eq": eq, "order": order, "unsafe_hash": unsafe_hash,
              "frozen": frozen, "match_args": match_args, "kw_only": kw_only, "slots": slots}

    def wrap(cls: type) -> type:
        made = _make(cls, params)
        if compiled_init and init and made in MADE:
            _set(made, "__init__", _compiled_init(made, made.__dockyard_fields__), replace=True)  # type: ignore[attr-defined]
        return made

    return wrap if cls is None else wrap(cls)


_ORDER = ("__lt__", "__le__", "__gt__", "__ge__")
# dataclasses' reading of a string annotation (re compiles it when a ClassVar is first looked for
# in a string: never without typing loaded, as in a cached build; ~0.3 ms at each start otherwise)
_IDENTIFIER = r"^(?:\s*(\w+)\s*\.)?\s*(\w+)"


def _make(cls: type, params: dict[str, bool]) -> type:
    found = _fields(cls, params)
    if found is None:
        import dataclasses

        for name, value in list(cls.__dict__.items()):  # field() specs as dataclasses reads them
            if isinstance(value, Field):
                setattr(cls, name, _real_field(dataclasses, value))
        return dataclasses.dataclass(cls, **params)  # type: ignore[call-overload,no-any-return]
    every, own = found
    frozen = params["frozen"]
    cls.__dockyard_every__ = every  # type: ignore[attr-defined]  # ClassVars too, for subclasses
    fields = cls.__dockyard_fields__ = tuple(f for f in every.values() if not f.classvar)  # type: ignore[attr-defined]
    cls.__dockyard_params__ = dict(params)  # type: ignore[attr-defined]
    for f in own:  # the class attribute is the default (a field() without one: none)
        if isinstance(cls.__dict__.get(f.name), Field):
            if f.default is MISSING:
                delattr(cls, f.name)
            else:
                setattr(cls, f.name, f.default)
    # dataclasses' rule: an explicit __hash__, not the None that a class body's __eq__ implies
    class_hash = cls.__dict__.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in cls.__dict__))
    if params["init"]:
        _set(cls, "__init__", _init(cls, fields, frozen, params["slots"]))
    if params["repr"]:
        _set(cls, "__repr__", _repr(tuple(f.name for f in fields if f.repr)))
    if params["eq"]:
        _set(cls, "__eq__", _compare("__eq__", tuple(f.name for f in fields if f.compare)))
    if params["order"]:
        names = tuple(f.name for f in fields if f.compare)
        for method in _ORDER:
            _set(cls, method, _compare(method, names))
    if frozen:
        _frozen(cls, tuple(f.name for f in fields))
    if params["eq"] and not explicit_hash:
        if frozen:
            hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
            _set(cls, "__hash__", _hash(hashed), replace=True)
        else:
            cls.__hash__ = None  # type: ignore[assignment]
    if params["match_args"] and "__match_args__" not in cls.__dict__:
        cls.__match_args__ = tuple(f.name for f in fields if f.init and not f.kw_only)  # type: ignore[attr-defined]
    if params["slots"]:
        cls = _add_slots(cls, fields)
    cls.__dataclass_fields__ = _Later(cls, _real_fields)  # type: ignore[attr-defined]
    cls.__dataclass_params__ = _Later(cls, _real_params)  # type: ignore[attr-defined]
    abc.update_abstractmethods(cls)
    MADE.append(cls)
    return cls


def _fields(cls: type, params: dict[str, bool]) -> tuple[dict[str, Field], list[Field]] | None:
    """(every field by name, inherited first, ClassVars too; this class's own), as dataclasses
    finds them, with its checks; None for what this module does not take."""
    body = cls.__dict__
    if (not body.get("__doc__") or params["unsafe_hash"] or (params["frozen"] and params["slots"])
            or (params["order"] and any(name in body for name in _ORDER))
            or (params["frozen"] and ("__setattr__" in body or "__delattr__" in body))):
        return None
    every: dict[str, Field] = {}
    frozen_bases = []
    for base in cls.__mro__[-1:0:-1]:
        inherited = base.__dict__.get("__dockyard_every__")
        if inherited is None:
            if "__dataclass_fields__" in base.__dict__:
                return None  # made by dataclasses
            continue
        every.update(inherited)
        frozen_bases.append(base.__dict__["__dockyard_params__"]["frozen"])
    annotations = body.get("__annotations__", {})
    if any(("InitVar" in kind or "KW_ONLY" in kind) if isinstance(kind, str) else
           getattr(kind, "__module__", None) == "dataclasses" or type(kind).__module__ == "dataclasses"
           for kind in annotations.values()):  # (a string has no __module__: getattr's miss is slow)
        return None
    own = []
    for name, kind in annotations.items():
        default = getattr(cls, name, MISSING)
        if type(default).__name__ == "Field" and type(default).__module__ == "dataclasses":  # its field()
            default = _our_field(default)
            if name in body:
                setattr(cls, name, default)
        if isinstance(default, Field):
            f = default
        else:
            if isinstance(default, MemberDescriptorType):  # a slot: no default
                default = MISSING
            f = Field(default, MISSING, True, True, None, True, None, MISSING)
        f.name, f.type = name, kind
        f.classvar = _is_classvar(cls, kind)
        if f.classvar:
            if f.default_factory is not MISSING:
                raise TypeError(f"field {f.name} cannot have a default factory")
            if f.kw_only is not MISSING:
                raise TypeError(f"field {f.name} is a ClassVar but specifies kw_only")
        else:
            if f.kw_only is MISSING:
                f.kw_only = params["kw_only"]
            if f.default.__class__.__hash__ is None:
                raise ValueError(f"mutable default {type(f.default)} for field {f.name} is not allowed: "
                                 "use default_factory")
        own.append(f)
        every[name] = f
    for name, value in body.items():
        if isinstance(value, Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    if frozen_bases:
        if True in frozen_bases and not params["frozen"]:
            raise TypeError("cannot inherit non-frozen dataclass from a frozen one")
        if True not in frozen_bases and params["frozen"]:
            raise TypeError("cannot inherit frozen dataclass from a non-frozen one")
    if params["order"] and not params["eq"]:
        raise ValueError("eq must be true if order is true")
    return every, own


def _is_classvar(cls: type, kind: object) -> bool:
    """dataclasses' test: typing.ClassVar, or a string naming it in the class's module."""
    typing = sys.modules.get("typing")
    if typing is None:
        return False
    if kind is typing.ClassVar or (type(kind) is typing._GenericAlias and kind.__origin__ is typing.ClassVar):  # type: ignore[attr-defined]
        return True
    if not isinstance(kind, str):
        return False
    match = re.match(_IDENTIFIER, kind)
    if not match:
        return False
    module = sys.modules.get(cls.__module__)
    namespace = None
    if not match[1]:
        namespace = module.__dict__ if module else None
    elif module and module.__dict__.get(match[1]) is typing:
        namespace = typing.__dict__
    found = namespace.get(match[2]) if namespace else None
    return found is typing.ClassVar or (type(found) is typing._GenericAlias  # type: ignore[attr-defined]
                                        and found.__origin__ is typing.ClassVar)


def _slots_of(cls: type) -> tuple[str, ...]:
    match cls.__dict__.get("__slots__"):
        case None:
            return ()
        case str(slot):
            return (slot,)
        case iterable if not hasattr(iterable, "__next__"):
            return tuple(iterable)
        case _:
            raise TypeError(f"Slots of '{cls.__name__}' cannot be determined")


def _add_slots(cls: type, fields: tuple[Field, ...]) -> type:
    """The class again, with a slot per field (a class cannot be given __slots__ once made)."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    body = dict(cls.__dict__)
    names = tuple(f.name for f in fields)
    inherited = {slot for base in cls.__mro__[1:-1] for slot in _slots_of(base)}
    body["__slots__"] = tuple(name for name in names if name not in inherited)
    for name in names:
        body.pop(name, None)
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    qualname = cls.__qualname__
    cls = type(cls)(cls.__name__, cls.__bases__, body)
    cls.__qualname__ = qualname
    return cls


class _Later:
    """A class attribute made when first read (then stored on the class in its place)."""

    def __init__(self, owner: type, make: Callable[[type], object]) -> None:
        self.owner, self.make = owner, make

    def __set_name__(self, owner: type, name: str) -> None:
        pass

    def __get__(self, obj: object, objtype: type | None = None) -> object:
        for name, value in self.owner.__dict__.items():
            if value is self:
                made = self.make(self.owner)
                type.__setattr__(self.owner, name, made)
                return made
        raise AttributeError("__dataclass_fields__")


def _real_fields(cls: type) -> dict:
    """__dataclass_fields__ as dataclasses makes it (dataclasses.Field, its MISSING)."""
    import dataclasses

    out = {}
    for f in cls.__dockyard_every__.values():  # type: ignore[attr-defined]
        real = _real_field(dataclasses, f)
        real.name, real.type = f.name, f.type
        real._field_type = dataclasses._FIELD_CLASSVAR if f.classvar else dataclasses._FIELD  # type: ignore[attr-defined]
        out[f.name] = real
    return out


def _real_field(dataclasses, f: Field) -> object:  # noqa: ANN001 - the module
    """dataclasses.field() of the same spec."""
    def real(value: object) -> object:
        return dataclasses.MISSING if value is MISSING else value

    return dataclasses.field(default=real(f.default), default_factory=real(f.default_factory), init=f.init,
                             repr=f.repr, hash=f.hash, compare=f.compare, metadata=f.metadata,
                             kw_only=real(f.kw_only))


def _our_field(spec) -> Field:  # noqa: ANN001 - a dataclasses.Field
    """A dataclasses.field() spec as this module's."""
    import dataclasses

    def ours(value: object) -> object:
        return MISSING if value is dataclasses.MISSING else value

    metadata = None if spec.metadata is dataclasses._EMPTY_METADATA else spec.metadata  # type: ignore[attr-defined]
    return Field(ours(spec.default), ours(spec.default_factory), spec.init, spec.repr, spec.hash, spec.compare,
                 metadata, ours(spec.kw_only))


def _real_params(cls: type) -> object:
    """__dataclass_params__ as dataclasses makes it."""
    import dataclasses

    kind = dataclasses._DataclassParams  # type: ignore[attr-defined]
    made = object.__new__(kind)
    for name in kind.__slots__:
        setattr(made, name, cls.__dockyard_params__.get(name, False))  # type: ignore[attr-defined]
    return made


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


def _init(cls: type, fields: tuple[Field, ...], frozen: bool, slots: bool) -> Callable[..., None]:
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
    plan = tuple((f.name, f.init, f.default, f.default_factory) for f in fields
                 if f.init or f.default_factory is not MISSING or (slots and f.default is not MISSING))
    assign = object.__setattr__ if frozen else setattr
    post_init = hasattr(cls, "__post_init__")
    n = len(positional)
    defaults = sum(1 for f in fields if f.init and not f.kw_only
                   and (f.default is not MISSING or f.default_factory is not MISSING))
    required = frozenset(name for name, takes, default, factory in plan
                         if takes and default is MISSING and factory is MISSING)
    # the values go straight into the instance's __dict__ (as assignments would, in field order)
    # unless a slot, a descriptor or a __setattr__ of a class above must see them
    plain = not slots and not any(hasattr(type(getattr(cls, f.name, None)), "__set__") for f in fields)
    setter = object.__setattr__

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN001,ANN002,ANN003,N807
        if args:
            if kwargs:
                for name in kwargs:
                    if name not in accepted:
                        raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument '{name}'")
                    if name in positional[:len(args)]:
                        raise TypeError(f"{qualname}.__init__() got multiple values for argument '{name}'")
            if len(args) > n:
                _too_many(qualname, len(args), positional, defaults, sum(name in kwargs for name in keyword))
            given = dict(zip(positional, args))
            if kwargs:
                given.update(kwargs)
        else:
            given = kwargs
            if not given.keys() <= accepted:
                name = next(name for name in given if name not in accepted)
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument '{name}'")
        if not required <= given.keys():
            _check_missing(qualname, given, plan, positional, keyword)
        values = {}
        for name, takes, default, factory in plan:
            if takes and name in given:
                values[name] = given[name]
            elif factory is not MISSING:
                values[name] = factory()
            else:
                values[name] = default
        if plain and (frozen or type(self).__setattr__ is setter):
            self.__dict__.update(values)
        else:
            for name, value in values.items():
                assign(self, name, value)
        if post_init:
            self.__post_init__()

    return __init__


def _compiled_init(cls: type, fields: tuple[Field, ...]) -> Callable[..., None]:
    """cls's __init__ compiled from source, as dataclasses writes it (for a class that is not
    frozen, has no slots, keyword-only fields or __post_init__: the callers' classes)."""
    if (cls.__dockyard_params__["frozen"] or cls.__dockyard_params__["slots"]  # type: ignore[attr-defined]
            or hasattr(cls, "__post_init__") or any(f.kw_only or not f.init for f in fields)):
        raise TypeError(f"{cls.__qualname__}: compiled_init takes a plain class")
    namespace: dict[str, object] = {"FRESH": FRESH}
    params, body = ["self"], []
    for f in fields:
        if f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=FRESH")
            body.append(f"    self.{f.name} = _factory_{f.name}() if {f.name} is FRESH else {f.name}")
        elif f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
            body.append(f"    self.{f.name} = {f.name}")
        else:
            params.append(f.name)
            body.append(f"    self.{f.name} = {f.name}")
    source = f"def __init__({', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, namespace)  # noqa: S102 - the fields' names, as dataclasses does
    return namespace["__init__"]  # type: ignore[return-value]


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
            from dataclasses import FrozenInstanceError

            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):  # noqa: ANN001,ANN202,N807
        if type(self) is cls or name in names:
            from dataclasses import FrozenInstanceError

            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    _set(cls, "__setattr__", __setattr__, replace=True)
    _set(cls, "__delattr__", __delattr__, replace=True)
