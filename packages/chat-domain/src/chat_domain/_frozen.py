"""`quick_init`: a faster `__init__` for the domain's frozen, slotted dataclasses.

A frozen dataclass cannot assign its fields in `__init__` (its `__setattr__` refuses), so the
`__init__` that `dataclasses` writes calls `object.__setattr__(self, name, value)` per field:
the generic attribute machinery, with a tuple of arguments built and taken apart per call. That
makes a frozen dataclass ~4x slower to build than a plain one, and a command builds a dozen of
them (the command, its event and message, the new state, ...): ~15 % of the instructions of a
whole PostMessage, SQLite's included. The `__init__` written here sets each field through its
slot descriptor, which skips the generic lookup: about half that cost (callgrind: 397k → 368k
instructions per PostMessage), with nothing else changed (same parameters, defaults and
`__post_init__`; instances stay frozen).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

_T = TypeVar("_T")


def quick_init(cls: type[_T]) -> type[_T]:
    """Give the frozen, slotted dataclass `cls` a faster `__init__`; apply above `@dataclass`.

    The new `__init__` takes the same parameters as the one `dataclasses` wrote, in the same
    order and with the same defaults, and calls `__post_init__` if the class has one. Refused
    (`TypeError`) for what it does not reproduce: a class that is not a frozen dataclass with
    slots, keyword-only fields and `InitVar`s.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init needs a frozen dataclass with slots")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    # What `dataclasses` wrote takes every init field, in order, positionally or by keyword;
    # anything else (keyword-only fields, InitVars) is not reproduced here.
    written = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if [(p.name, p.kind) for p in written] != [
        (f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for f in fields if f.init
    ]:
        raise TypeError(f"{cls.__name__}: quick_init supports only plain positional fields")
    defaults = {p.name: p.default for p in written}
    names: dict[str, Any] = {}
    parameters: list[str] = []
    lines: list[str] = []
    for number, f in enumerate(fields):
        # On the class, a slot's member descriptor (inherited ones too) is returned as is.
        names[f"_set{number}"] = getattr(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            names[f"_default{number}"] = f.default
            value = f"_default{number}"
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory{number}"] = f.default_factory
            value = f"_factory{number}()"
        else:
            value = ""
        if f.init:
            if value.endswith("()"):  # built per call unless passed, with the same marker
                names[f"_omitted{number}"] = defaults[f.name]
                parameters.append(f"{f.name}=_omitted{number}")
                value = f"{value} if {f.name} is _omitted{number} else {f.name}"
            else:
                parameters.append(f"{f.name}={value}" if value else f.name)
                value = f.name
        elif not value:
            continue  # not set by `dataclasses` either
        lines.append(f"    _set{number}(self, {value})")
    if hasattr(cls, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(parameters)}):\n" + ("\n".join(lines) or "    pass")
    exec(source, names)
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
