"""The GraphQL schemas: exactly API.md's signatures, and the copies in docs/graphql up to date."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    is_introspection_type,
    is_specified_scalar_type,
)

ROOT = Path(__file__).resolve().parents[2]

# API.md, section GraphQL, as SDL: the names, casing, nullability and argument order that the
# clients of this API family rely on. Descriptions are free; nothing else is.
WRITE_CONTRACT = """
type Query { healthCheck: HealthCheckOutput! }
type HealthCheckOutput { value: String! }
type Mutation {
  createGroupChat(input: CreateGroupChatInput!): GroupChatOutput!
  renameGroupChat(input: RenameGroupChatInput!): GroupChatOutput!
  deleteGroupChat(input: DeleteGroupChatInput!): GroupChatOutput!
  addMember(input: AddMemberInput!): GroupChatOutput!
  removeMember(input: RemoveMemberInput!): GroupChatOutput!
  postMessage(input: PostMessageInput!): MessageOutput!
  editMessage(input: EditMessageInput!): MessageOutput!
  deleteMessage(input: DeleteMessageInput!): GroupChatOutput!
}
input CreateGroupChatInput { name: String!, executorId: String! }
input RenameGroupChatInput { groupChatId: String!, name: String!, executorId: String! }
input DeleteGroupChatInput { groupChatId: String!, executorId: String! }
input AddMemberInput {
  groupChatId: String!, userAccountId: String!, role: String!, executorId: String!
}
input RemoveMemberInput { groupChatId: String!, userAccountId: String!, executorId: String! }
input PostMessageInput { groupChatId: String!, content: String!, executorId: String! }
input EditMessageInput {
  groupChatId: String!, messageId: String!, content: String!, executorId: String!
}
input DeleteMessageInput { groupChatId: String!, messageId: String!, executorId: String! }
type GroupChatOutput { groupChatId: String! }
type MessageOutput { groupChatId: String!, messageId: String! }
"""

READ_CONTRACT = """
type Query {
  getGroupChat(groupChatId: String!, userAccountId: String!): GroupChatOutput!
  getGroupChats(userAccountId: String!): [GroupChatOutput!]!
  getMember(groupChatId: String!, userAccountId: String!): MemberOutput!
  getMembers(groupChatId: String!, userAccountId: String!): [MemberOutput!]!
  getMessage(messageId: String!, userAccountId: String!): MessageOutput!
  getMessages(groupChatId: String!, userAccountId: String!): [MessageOutput!]!
}
type GroupChatOutput {
  id: String!, name: String!, ownerId: String!, createdAt: String!, updatedAt: String!
}
type MemberOutput {
  id: String!, groupChatId: String!, userAccountId: String!, role: String!,
  createdAt: String!, updatedAt: String!
}
type MessageOutput {
  id: String!, groupChatId: String!, userAccountId: String!, text: String!,
  createdAt: String!, updatedAt: String!
}
"""

Signature = dict[str, tuple[str, dict[str, tuple[str, tuple[tuple[str, str], ...]]]]]

# What the schemas add to API.md: optional input fields only. A client written against API.md
# never sends them, and an optional field with a null default does not change how its
# operations validate or run; a new required field, or any change to API.md's own fields,
# would break those clients.
EXTENSIONS: dict[str, dict[str, dict[str, str]]] = {
    "command.graphql": {
        name: {"idempotencyKey": "String"}
        for name in (
            "CreateGroupChatInput",
            "RenameGroupChatInput",
            "DeleteGroupChatInput",
            "AddMemberInput",
            "RemoveMemberInput",
            "PostMessageInput",
            "EditMessageInput",
            "DeleteMessageInput",
        )
    },
    "query.graphql": {},
}


def extended(contract: Signature, extensions: dict[str, dict[str, str]]) -> Signature:
    """`contract` with the optional input `extensions` (type -> field -> type) added."""
    result = dict(contract)
    for type_name, fields in extensions.items():
        kind, existing = result[type_name]
        assert kind == "GraphQLInputObjectType", type_name
        result[type_name] = (kind, {**existing, **{f: (t, ()) for f, t in fields.items()}})
    return result


def signature(schema: GraphQLSchema) -> Signature:
    """Every named type's kind, fields, field types and (ordered) arguments; no descriptions."""
    result: Signature = {}
    for name, named in schema.type_map.items():
        if is_introspection_type(named) or is_specified_scalar_type(named):
            continue
        fields: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
        if isinstance(named, GraphQLObjectType):
            for field_name, field in named.fields.items():
                arguments = tuple((arg, str(value.type)) for arg, value in field.args.items())
                fields[field_name] = (str(field.type), arguments)
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                fields[field_name] = (str(input_field.type), ())
        result[name] = (type(named).__name__, fields)
    return result


def _load_export_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_graphql_schema", ROOT / "tools" / "export_graphql_schema.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


export_tool = _load_export_tool()


@pytest.mark.parametrize(
    ("name", "contract"), [("command.graphql", WRITE_CONTRACT), ("query.graphql", READ_CONTRACT)]
)
def test_schema_has_exactly_the_api_md_signatures_when_printed_by_strawberry(
    name: str, contract: str
) -> None:
    printed = export_tool.render(name)

    assert signature(build_schema(printed)) == extended(
        signature(build_schema(contract)), EXTENSIONS[name]
    )


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_extensions_are_optional_input_fields_when_the_schema_adds_to_api_md(name: str) -> None:
    schema = build_schema(export_tool.render(name))

    for type_name, fields in EXTENSIONS[name].items():
        named = schema.type_map[type_name]
        assert isinstance(named, GraphQLInputObjectType)
        for field_name in fields:
            field = named.fields[field_name]
            # Nullable input fields are optional: a client may leave them out.
            assert not str(field.type).endswith("!"), (type_name, field_name)


def test_checked_in_schemas_match_the_code_when_the_types_change() -> None:
    stale = [str(path.relative_to(ROOT)) for path in export_tool.stale_files()]

    assert not stale, (
        f"{', '.join(stale)} out of date with the GraphQL types; regenerate with "
        "`uv run --no-sync python tools/export_graphql_schema.py` and commit the result"
    )


def test_export_check_reports_a_stale_file_when_the_docs_differ(tmp_path: Path) -> None:
    (tmp_path / "command.graphql").write_text(export_tool.render("command.graphql"))
    (tmp_path / "query.graphql").write_text("type Query { old: String }\n")

    assert export_tool.stale_files(tmp_path) == [tmp_path / "query.graphql"]


def test_signature_differs_when_a_field_loses_its_non_null_marker() -> None:
    loosened = WRITE_CONTRACT.replace("value: String!", "value: String")

    assert signature(build_schema(loosened)) != signature(build_schema(WRITE_CONTRACT))
