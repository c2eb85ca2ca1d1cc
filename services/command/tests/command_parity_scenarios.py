"""The request scenarios both parity tests of the command service send (Lambda and ASGI).

Each scenario is a list of `Step`s; a test builds its table from the shared ones here and adds
those only its edge has (Lambda: authorizer claims, base64 bodies; ASGI: chunked and slow
bodies, disconnects, repeated headers). Also the id placeholders both compare answers with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from command_test_support import ALICE, BOB, CAROL, GROUP_CHATS

HEALTHCHECK = "/command/v1/healthcheck"
UNKNOWN_CHAT = "GroupChat-01H42K4ABWQ5V2XQEP3A48VE9Z"


@dataclass(frozen=True)
class Step:
    """One request. `body`: a dict (JSON, with "{chat}"/"{message}" standing for the ids of
    earlier answers), a str or bytes (sent as is). `token`: "valid" or "invalid", an
    `Authorization` header from the test issuer. `falls_through`: not routed by the fast path
    (the app behind it answers; checked by the ASGI tests).

    Lambda only: `claims`, the JWT authorizer's subject; `base64_body`, the body base64-encoded
    in the event.

    ASGI only: `chunks`, sent in that many `http.request` messages without `Content-Length`
    (chunked transfer); `length`, the `Content-Length` to declare instead of the body's;
    `delay`, seconds before each message; `leave`, the client disconnects after the chunks,
    before the body is complete; `repeated`, more header lines after those of `headers` (a
    name may repeat)."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    falls_through: bool = False
    claims: str | None = None
    base64_body: bool = False
    chunks: int = 1
    length: str | None = None
    delay: float = 0.0
    leave: bool = False
    repeated: tuple[tuple[str, str], ...] = ()


def post(name: str, body: Any, **kwargs: Any) -> Step:
    """A POST of a JSON `body` to the command `name`."""
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return Step("POST", f"{GROUP_CHATS}/{name}", body, headers=headers, **kwargs)


def create(executor: str = ALICE, name: str = "developers", **kwargs: Any) -> Step:
    """A create command."""
    return post("create", {"name": name, "executorId": executor}, **kwargs)


CHAT = {"groupChatId": "{chat}", "executorId": ALICE}
WITH_BOB = [create(), post("add-member", {**CHAT, "userAccountId": BOB, "role": "member"})]
WITH_MESSAGE = [*WITH_BOB, post("post-message", {**CHAT, "content": "hello"})]
MESSAGE = {**CHAT, "messageId": "{message}"}

# -- health check, routing ---------------------------------------------------------------------

ROUTING_CASES: dict[str, list[Step]] = {
    "healthcheck": [Step("GET", HEALTHCHECK)],
    "healthcheck posted (405)": [Step("POST", HEALTHCHECK, "{}")],
    "healthcheck HEAD": [Step("HEAD", HEALTHCHECK)],
    "command with GET (405)": [Step("GET", f"{GROUP_CHATS}/create")],
    "command with PUT (405)": [Step("PUT", f"{GROUP_CHATS}/create", "{}")],
    "unknown command (404)": [post("unknown", {}, falls_through=True)],
    "unknown path (404)": [Step("GET", "/command/v1/nothing", falls_through=True)],
    "trailing slash (redirect)": [
        post("create/", {"name": "x", "executorId": ALICE}, falls_through=True)
    ],
    "graphql (falls through)": [
        Step(
            "POST",
            "/command/graphql",
            {"query": "{ __typename }"},
            headers={"content-type": "application/json"},
            falls_through=True,
        )
    ],
    "openapi document (falls through)": [Step("GET", "/command/openapi.json", falls_through=True)],
}

# -- create: good and bad bodies ---------------------------------------------------------------

BODY_CASES: dict[str, list[Step]] = {
    "create": [create()],
    "create, extra fields ignored": [post("create", {"name": "x", "executorId": ALICE, "x": 1})],
    "create, client request id": [create(headers={"x-request-id": "client-id-1"})],
    "create, unusable client request id": [create(headers={"x-request-id": "bad id!"})],
    "invalid JSON": [post("create", "{not json")],
    "truncated JSON": [post("create", '{"name": "x", "executorId": ')],
    "empty body": [post("create", "")],
    "JSON null": [post("create", "null")],
    "JSON array": [post("create", "[]")],
    "JSON string": [post("create", '"x"')],
    "JSON number": [post("create", "42")],
    "lone surrogate": [post("create", '{"name": "\\ud800", "executorId": "' + ALICE + '"}')],
    "no content type": [Step("POST", f"{GROUP_CHATS}/create", {"name": "x", "executorId": ALICE})],
    "text/plain content type": [create(headers={"content-type": "text/plain"})],
    "+json content type": [create(headers={"content-type": "application/merge-patch+json"})],
    "json with charset": [create(headers={"content-type": "application/json; charset=utf-8"})],
    "missing fields": [post("create", {})],
    "one missing field": [post("create", {"name": "x"})],
    "number for a string": [post("create", {"name": 1, "executorId": ALICE})],
    "null for a string": [post("create", {"name": None, "executorId": ALICE})],
    "object for a string": [post("create", {"name": {"a": 1}, "executorId": ALICE})],
    "wrong type and missing": [post("create", {"name": True})],
    "garbage executor id": [create(executor="nope")],
    "bare ULID executor id": [create(executor=ALICE.removeprefix("UserAccount-"))],
    "empty name": [create(name="")],
    "name too long": [create(name="x" * 101)],
}

# -- the other commands ------------------------------------------------------------------------

COMMAND_CASES: dict[str, list[Step]] = {
    "rename": [create(), post("rename", {**CHAT, "name": "renamed"})],
    "rename, same name (422)": [create(), post("rename", {**CHAT, "name": "developers"})],
    "rename by a non-member (422)": [
        create(),
        post("rename", {**CHAT, "executorId": BOB, "name": "x"}),
    ],
    "rename an unknown chat (404)": [
        post("rename", {"groupChatId": UNKNOWN_CHAT, "name": "x", "executorId": ALICE})
    ],
    "rename a garbage chat id (400)": [
        post("rename", {"groupChatId": "GroupChat-nope", "name": "x", "executorId": ALICE})
    ],
    "delete, then delete again (422)": [create(), post("delete", CHAT), post("delete", CHAT)],
    "add member, then again (422)": [*WITH_BOB, WITH_BOB[1]],
    "add member with a bad role (400)": [
        create(),
        post("add-member", {**CHAT, "userAccountId": BOB, "role": "owner"}),
    ],
    "remove member": [*WITH_BOB, post("remove-member", {**CHAT, "userAccountId": BOB})],
    "remove a non-member (422)": [
        create(),
        post("remove-member", {**CHAT, "userAccountId": CAROL}),
    ],
    "post, edit and delete a message": [
        *WITH_MESSAGE,
        post("edit-message", {**MESSAGE, "content": "edited"}),
        post("delete-message", MESSAGE),
        post("delete-message", MESSAGE),
    ],
    "edit someone else's message (422)": [
        *WITH_MESSAGE,
        post("edit-message", {**MESSAGE, "executorId": BOB, "content": "x"}),
    ],
    "post a blank message (400)": [create(), post("post-message", {**CHAT, "content": "  "})],
    "garbage message id (400)": [
        create(),
        post("delete-message", {**CHAT, "messageId": "nope"}),
    ],
    "edit-message, missing fields": [post("edit-message", {"groupChatId": 1})],
}

# -- idempotency -------------------------------------------------------------------------------

IDEMPOTENCY_CASES: dict[str, list[Step]] = {
    "idempotent replay, then key reuse (422)": [
        create(headers={"idempotency-key": "key-1"}),
        create(headers={"idempotency-key": "key-1"}),
        create(name="other", headers={"idempotency-key": "key-1"}),
    ],
    "idempotent post-message replay": [
        create(),
        post("post-message", {**CHAT, "content": "hi"}, headers={"idempotency-key": "k"}),
        post("post-message", {**CHAT, "content": "hi"}, headers={"idempotency-key": "k"}),
    ],
    "empty idempotency key (400)": [create(headers={"idempotency-key": ""})],
    "idempotency key too long (400)": [create(headers={"idempotency-key": "k" * 256})],
    "idempotency key with a bad body (400 body first)": [
        post("create", {}, headers={"idempotency-key": "k"})
    ],
}

# -- authentication ----------------------------------------------------------------------------

BEARER_CASES: dict[str, list[Step]] = {
    "valid bearer token": [create(token="valid")],
    "invalid bearer token (401)": [create(token="invalid")],
    "not a bearer scheme (401)": [create(headers={"authorization": "Basic abc"})],
    "valid token for someone else (403)": [create(executor=BOB, token="valid")],
}

NO_CALLER_CASES: dict[str, list[Step]] = {
    "healthcheck needs no caller": [Step("GET", HEALTHCHECK)],
    "wrong method without a caller (401)": [Step("GET", f"{GROUP_CHATS}/create")],
}


# -- comparing ---------------------------------------------------------------------------------

_ID = re.compile(r"(?:GroupChat-|UserAccount-)?[0-9A-HJKMNP-TV-Z]{26}")
_FIXED = {ALICE, BOB, CAROL, UNKNOWN_CHAT}


def normalized(text: str, seen: dict[str, str]) -> str:
    """`text` with generated ids replaced by `<id N>` (N: order of first appearance)."""

    def placeholder(found: re.Match[str]) -> str:
        value = found.group(0)
        return value if value in _FIXED else seen.setdefault(value, f"<id {len(seen)}>")

    return _ID.sub(placeholder, text)


def filled(value: Any, ids: dict[str, str]) -> Any:
    """`value` with "{chat}" and "{message}" replaced by the ids of earlier answers."""
    if isinstance(value, dict):
        return {k: filled(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value in ("{chat}", "{message}"):
        return ids[value.strip("{}")]
    return value
