"""Identifier and value-object parsing: accepted forms, canonical output, named rejections."""

from __future__ import annotations

import pytest
from chat_domain import (
    EventId,
    GroupChatId,
    GroupChatName,
    MemberId,
    MessageContent,
    MessageId,
    Role,
    UserAccountId,
    ValidationError,
    ids,
)

ULID_TEXT = "01ARYZ6S41TSV4RRFFQ69G5FAV"


@pytest.mark.parametrize(
    ("cls", "prefix"), [(GroupChatId, "GroupChat-"), (UserAccountId, "UserAccount-")]
)
@pytest.mark.parametrize("with_prefix", [True, False])
@pytest.mark.parametrize("text", [ULID_TEXT, ULID_TEXT.lower()])
def test_prefixed_id_is_read_and_written_prefixed_upper_case_when_given_either_form(
    cls: type[GroupChatId | UserAccountId], prefix: str, with_prefix: bool, text: str
) -> None:
    parsed = cls.parse(prefix + text if with_prefix else text)
    assert str(parsed) == prefix + ULID_TEXT
    assert str(parsed.ulid) == ULID_TEXT


@pytest.mark.parametrize("cls", [MemberId, MessageId, EventId])
def test_bare_id_is_written_upper_case_when_parsed_from_lower_case(
    cls: type[MemberId | MessageId | EventId],
) -> None:
    assert str(cls.parse(ULID_TEXT.lower())) == ULID_TEXT


@pytest.mark.parametrize(
    ("cls", "raw", "field"),
    [
        (GroupChatId, "not-an-id", "groupChatId"),
        (GroupChatId, "UserAccount-" + ULID_TEXT, "groupChatId"),
        (GroupChatId, "groupchat-" + ULID_TEXT, "groupChatId"),
        (GroupChatId, "GroupChat-", "groupChatId"),
        (GroupChatId, " " + ULID_TEXT, "groupChatId"),
        (UserAccountId, "GroupChat-" + ULID_TEXT, "userAccountId"),
        (UserAccountId, "", "userAccountId"),
        (MemberId, "GroupChat-" + ULID_TEXT, "memberId"),
        (MessageId, ULID_TEXT + "0", "messageId"),
        (EventId, "ILOU" * 6 + "00", "eventId"),
    ],
)
def test_id_parse_raises_validation_error_naming_the_field_when_garbage(
    cls: type[GroupChatId], raw: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        cls.parse(raw)
    assert caught.value.field == field
    assert caught.value.code == "validation_error"
    assert caught.value.status == 400
    assert field in str(caught.value)


@pytest.mark.parametrize("raw", [None, 42, ["x"], {"id": ULID_TEXT}, True])
def test_id_parse_raises_validation_error_when_value_is_not_a_string(raw: object) -> None:
    with pytest.raises(ValidationError) as caught:
        UserAccountId.parse(raw, field="executorId")
    assert caught.value.field == "executorId"


def test_ids_of_different_kinds_differ_when_wrapping_the_same_ulid() -> None:
    group_chat = GroupChatId.parse(ULID_TEXT)
    user = UserAccountId.parse(ULID_TEXT)
    assert group_chat != user  # type: ignore[comparison-overlap]
    assert group_chat == GroupChatId.parse("GroupChat-" + ULID_TEXT)
    assert hash(group_chat) == hash(GroupChatId.parse(ULID_TEXT))


@pytest.mark.parametrize("cls", [GroupChatId, UserAccountId, MemberId, MessageId, EventId])
def test_ids_compare_and_hash_alike_whether_or_not_written_out_before(
    cls: type[GroupChatId | UserAccountId | MemberId | MessageId | EventId],
) -> None:
    written, fresh = cls.parse(ULID_TEXT.lower()), cls.parse(ULID_TEXT)
    text = str(written)  # computed once, then kept
    assert str(written) is text
    assert written == fresh
    assert hash(written) == hash(fresh)
    assert repr(written) == repr(fresh) == f"{cls.__name__}('{text}')"
    assert sorted([fresh, cls.generate(), written])[:2] == [written, fresh]


def test_generated_ids_are_distinct_and_increasing_when_generated_in_a_row() -> None:
    first, second = GroupChatId.generate(), GroupChatId.generate()
    assert first < second
    assert str(first).startswith("GroupChat-")


# --- GroupChatName --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Team", "Team"), ("  Team  ", "Team"), ("x", "x"), ("a" * 100, "a" * 100)],
)
def test_name_is_trimmed_when_valid(raw: str, expected: str) -> None:
    assert GroupChatName.parse(raw).value == expected


def test_name_of_100_characters_after_trimming_is_accepted_when_padded() -> None:
    assert len(GroupChatName.parse("  " + "a" * 100 + "  ").value) == 100


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", "a" * 101, None, 5])
def test_name_parse_raises_validation_error_naming_the_field_when_invalid(raw: object) -> None:
    with pytest.raises(ValidationError) as caught:
        GroupChatName.parse(raw)
    assert caught.value.field == "name"


@pytest.mark.parametrize("raw", ["   ", "a" * 101])
def test_name_parse_names_the_given_field_with_the_constructors_reason_when_invalid(
    raw: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        GroupChatName.parse(raw, field="body.title")
    assert caught.value.field == "body.title"
    with pytest.raises(ValidationError) as built:
        GroupChatName(raw.strip())
    assert caught.value.reason == built.value.reason
    assert str(caught.value) == f"body.title: {built.value.reason}"


def test_name_constructor_refuses_untrimmed_text_when_built_directly() -> None:
    with pytest.raises(ValidationError):
        GroupChatName(" Team")


# --- MessageContent -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["hi", "  indented\n", "a" * 4000, "日本語 🎉"])
def test_content_is_kept_verbatim_when_valid(raw: str) -> None:
    assert MessageContent.parse(raw).value == raw


@pytest.mark.parametrize("raw", ["", "  ", "\n\t", "a" * 4001, None, 1.5])
def test_content_parse_raises_validation_error_naming_the_field_when_invalid(raw: object) -> None:
    with pytest.raises(ValidationError) as caught:
        MessageContent.parse(raw)
    assert caught.value.field == "content"


@pytest.mark.parametrize("raw", ["  ", "a" * 4001])
def test_content_parse_names_the_given_field_with_the_constructors_reason_when_invalid(
    raw: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        MessageContent.parse(raw, field="body.text")
    assert caught.value.field == "body.text"
    with pytest.raises(ValidationError) as built:
        MessageContent(raw)
    assert caught.value.reason == built.value.reason


# --- Role -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("administrator", Role.ADMINISTRATOR),
        ("ADMINISTRATOR", Role.ADMINISTRATOR),
        ("Administrator", Role.ADMINISTRATOR),
        ("ADMIN", Role.ADMINISTRATOR),
        ("admin", Role.ADMINISTRATOR),
        ("member", Role.MEMBER),
        ("MEMBER", Role.MEMBER),
    ],
)
def test_role_is_read_case_insensitively_when_parsed(raw: str, expected: Role) -> None:
    role = Role.parse(raw)
    assert role is expected
    assert role.value == role.value.lower()
    assert str(role) == role.value


@pytest.mark.parametrize("raw", ["owner", "", " member", None, 1])
def test_role_parse_raises_validation_error_naming_the_field_when_unknown(raw: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Role.parse(raw)
    assert caught.value.field == "role"


@pytest.mark.parametrize(("cls", "field"), [(GroupChatName, "title"), (MessageContent, "body")])
@pytest.mark.parametrize("text", ["a\ud800b", "\udfff", "ok \ud83d"])
def test_text_with_a_lone_surrogate_is_refused_naming_the_field(
    cls: type[GroupChatName | MessageContent], field: str, text: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        cls.parse(text, field=field)
    assert raised.value.field == field
    assert "surrogate" in raised.value.reason
    with pytest.raises(ValidationError):
        cls(text)


@pytest.mark.parametrize("cls", [GroupChatName, MessageContent])
def test_text_beyond_the_basic_plane_is_accepted(
    cls: type[GroupChatName | MessageContent],
) -> None:
    assert cls.parse("héllo \U0001f600 世界").value == "héllo \U0001f600 世界"


def test_id_parse_gives_equal_ids_for_one_text_and_remembers_a_bounded_number_of_texts() -> None:
    # Parsed ids are remembered by text (requests name the same chats again and again); a
    # text of one kind never answers for another, and the memory stays bounded.
    text = "GroupChat-" + ULID_TEXT
    assert GroupChatId.parse(text) == GroupChatId.parse(text)
    assert MessageId.parse(ULID_TEXT) == MessageId.parse(ULID_TEXT)
    assert str(UserAccountId.parse(ULID_TEXT)) == "UserAccount-" + ULID_TEXT
    with pytest.raises(ValidationError):
        UserAccountId.parse(text)

    texts = [str(GroupChatId.generate()) for _ in range(2 * ids._PARSED_MAX + 1)]

    assert [str(GroupChatId.parse(t)) for t in texts] == texts
    assert len(ids._parsed) <= ids._PARSED_MAX
