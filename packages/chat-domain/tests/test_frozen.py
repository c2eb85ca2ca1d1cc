"""`quick_init`: the faster `__init__` of the domain's frozen dataclasses changes nothing else."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from datetime import UTC, datetime

import pytest
from chat_domain import (
    EventId,
    GroupChatId,
    GroupChatMessagePosted,
    Message,
    MessageContent,
    MessageId,
    PostMessage,
    Ulid,
    UserAccountId,
    ValidationError,
    codec,
    commands,
    events,
    ids,
    limits,
    state,
    ulid,
    values,
)
from chat_domain._frozen import quick_init


def _domain_dataclasses() -> list[type]:
    modules = (codec, commands, events, ids, limits, state, ulid, values)
    found = {
        obj
        for module in modules
        for obj in vars(module).values()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__ == module.__name__
    }
    return sorted(found, key=lambda cls: cls.__qualname__)


@pytest.mark.parametrize("cls", _domain_dataclasses(), ids=lambda cls: cls.__qualname__)
def test_every_domain_dataclass_takes_its_fields_in_order(cls: type) -> None:
    init_fields = [f for f in dataclasses.fields(cls) if f.init]
    parameters = list(inspect.signature(cls).parameters.values())
    assert [(p.name, p.kind) for p in parameters] == [
        (f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for f in init_fields
    ]
    for parameter, f in zip(parameters, init_fields, strict=True):
        expected = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert parameter.default == expected
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def _message() -> Message:
    at = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    return Message(
        MessageId.generate(), UserAccountId.generate(), MessageContent("hi"), False, at, at
    )


def test_positional_and_keyword_arguments_build_the_same_value() -> None:
    message = _message()
    by_keyword = Message(
        id=message.id,
        sender_id=message.sender_id,
        content=message.content,
        deleted=message.deleted,
        created_at=message.created_at,
        updated_at=message.updated_at,
    )
    assert by_keyword == message
    assert hash(by_keyword) == hash(message)
    assert dataclasses.astuple(by_keyword) == dataclasses.astuple(message)
    assert repr(by_keyword) == repr(message)


def test_instances_stay_frozen() -> None:
    message = _message()
    with pytest.raises(FrozenInstanceError):
        message.deleted = True  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del message.content  # type: ignore[misc]
    chat_id = GroupChatId.generate()
    with pytest.raises(FrozenInstanceError):
        chat_id.ulid = Ulid(1)  # type: ignore[misc]


def test_replace_and_inherited_fields_work() -> None:
    message = _message()
    event = GroupChatMessagePosted(
        EventId.generate(),
        GroupChatId.generate(),
        2,
        message.sender_id,
        message.created_at,
        message,
    )
    assert event.seq_nr == 2
    assert event.message is message
    later = dataclasses.replace(event, seq_nr=3)
    assert later.seq_nr == 3
    assert later.event_id == event.event_id


def test_post_init_validation_still_runs() -> None:
    with pytest.raises(ValidationError) as raised:
        MessageContent("   ")
    assert raised.value.field == "content"
    with pytest.raises(ValueError, match="128 bits"):
        Ulid(1 << 128)


def test_init_false_fields_get_their_defaults() -> None:
    chat_id = GroupChatId(Ulid(12345))
    assert chat_id._text is None
    assert str(chat_id).startswith("GroupChat-")
    assert chat_id == GroupChatId(Ulid(12345))


def test_wrong_arguments_are_type_errors() -> None:
    content = MessageContent("hi")
    with pytest.raises(TypeError):
        PostMessage(GroupChatId.generate(), MessageId.generate(), content)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        MessageContent(value="hi", extra=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        MessageContent("hi", value="hi")  # type: ignore[misc]


def test_defaults_factories_and_post_init_as_dataclasses_writes_them() -> None:
    calls: list[str] = []

    def build(fast: bool) -> type:
        @dataclass(frozen=True, slots=True)
        class Record:
            name: str
            count: int = 3
            tags: list[str] = field(default_factory=list)
            hidden: int = field(default=7, init=False)
            made: list[int] = field(default_factory=lambda: [1], init=False)

            def __post_init__(self) -> None:
                calls.append(self.name)

        return quick_init(Record) if fast else Record

    fast, plain = build(True), build(False)
    assert inspect.signature(fast) == inspect.signature(plain)
    for args, kwargs in (((), {"name": "a"}), (("b", 5), {}), (("c",), {"tags": ["x"]})):
        assert dataclasses.astuple(fast(*args, **kwargs)) == dataclasses.astuple(
            plain(*args, **kwargs)
        )
    assert calls == ["a", "a", "b", "b", "c", "c"]
    first, second = fast("x"), fast("y")
    assert first.tags == []
    assert first.tags is not second.tags  # a fresh default per instance
    assert first.made == [1]
    assert first.made is not second.made


def test_what_it_cannot_reproduce_is_refused() -> None:
    @dataclass(slots=True)
    class Mutable:
        x: int

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        x: int = field(kw_only=True)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        x: int
        seed: InitVar[int]

        def __post_init__(self, seed: int) -> None:
            pass

    for cls in (Mutable, NoSlots, KeywordOnly, WithInitVar, int):
        with pytest.raises(TypeError):
            quick_init(cls)
