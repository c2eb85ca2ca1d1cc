"""The seeded read model and the requests both parity tests of the query service send.

The Lambda and the ASGI parity tests build their tables from the shared cases here and add
those only their edge has (Lambda: the JWT authorizer's claims; ASGI: raw query bytes,
repeated headers, chunked bodies, methods as sent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from auth.testing import TokenIssuer
from query_service.lambda_rest import GRAPHQL_PATH
from read_model import create_engine_for
from read_model.queries import get_messages
from read_model.testing import ReadModelSeeder

V1 = "/query/v1"
CHATS = f"{V1}/group-chats"
UNKNOWN_CHAT = "GroupChat-01JDQ4Z5V8X9Y0A1B2C3D4E5F6"
UNKNOWN_MESSAGE = "01JDQ4Z5V8X9Y0A1B2C3D4E5F7"
JSON_TYPE = (("content-type", "application/json"),)
# `limit` values both edges must read as the app does.
LIMITS = ["0", "-1", "6", "abc", "", "+2", "2.0", "2.5", "1_0", "%202", "1e1",
          "99999999999999999999999", "%D9%A3", "2&limit=9"]  # fmt: skip


@dataclass(frozen=True)
class World:
    """The seeded read model: who is where."""

    alice: str
    bob: str
    carol: str  # removed from `chat`
    stranger: str
    chat: str  # alice (owner), bob, carol (removed); messages
    bobs_chat: str  # bob only
    deleted_chat: str
    message: str
    deleted_message: str
    cursor: str  # `nextBefore` of the first page of `chat` (page size 3)


def ulid_of(prefixed: str) -> str:
    """The bare ULID of a prefixed id."""
    return prefixed.rsplit("-", 1)[-1]


def seed_world(read_model_url: str) -> World:
    """The read model at `read_model_url` seeded with the world both tests query."""
    engine = create_engine_for(read_model_url)
    try:
        seed = ReadModelSeeder(engine)
        alice, bob, carol, stranger = seed.user(), seed.user(), seed.user(), seed.user()
        chat = seed.group_chat(alice, "développeurs ✨")
        seed.member(chat, bob)
        seed.member(chat, carol)
        seed.remove_member(chat, carol)
        message = seed.message(chat, alice, 'héllo "wörld" 🌍 <b>&\u2028')
        for number in range(5):
            seed.message(chat, bob if number % 2 else alice, f"message {number}")
        deleted_message = seed.message(chat, bob, "oops")
        seed.delete_message(deleted_message)
        bobs_chat = seed.group_chat(bob, "bob's")
        deleted_chat = seed.group_chat(alice, "gone")
        seed.delete_group_chat(deleted_chat)
        seed.group_chat(alice, "second")
        page = get_messages(engine, chat, alice, limit=3)
        assert page is not None
        assert page.next_before is not None
        return World(
            alice, bob, carol, stranger, chat, bobs_chat, deleted_chat, message,
            deleted_message, page.next_before,
        )  # fmt: skip
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Case:
    """One request: `method` `path` (as sent: percent-encoded) `?query` (str: its UTF-8
    bytes; bytes: as they are, ASGI only), with `headers` (a name may repeat, ASGI only) and a
    `body`. `routed`: served by the fast path (else it falls through to the app behind).

    Lambda only: `claims_of`, the JWT authorizer's subject (a `World` attribute, or a literal
    subject). ASGI only: `chunks`, the body sent in that many messages (more than one: chunked,
    no `Content-Length`); `length`, the `Content-Length` to declare instead of the body's."""

    name: str
    method: str
    path: str
    query: str | bytes = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    chunks: int = 1
    length: str | None = None
    routed: bool = True
    claims_of: str | None = None


def rest_cases(w: World) -> list[Case]:
    """The requests both edges send with authentication off."""
    a, chat = w.alice, w.chat
    caller = f"userAccountId={a}"
    long_cursor = "x" * 257
    chats = CHATS
    messages = f"{chats}/{chat}/messages"
    return [
        Case("healthcheck", "GET", "/query/healthcheck"),
        Case("healthcheck v1", "GET", "/query/v1/healthcheck"),
        Case("healthcheck HEAD", "HEAD", "/query/v1/healthcheck"),
        # -- group chats --------------------------------------------------------------------
        Case("chats", "GET", chats, caller),
        Case("chats, bare lower-case caller", "GET", chats, f"userAccountId={ulid_of(a).lower()}"),
        Case("chats, encoded caller", "GET", chats,
             f"userAccountId={a.replace('-', '%2D')}&other=1"),
        Case("chats, repeated caller (last wins)", "GET", chats,
             f"userAccountId=bad&userAccountId={a}"),
        Case("chats, repeated caller (last bad)", "GET", chats, f"{caller}&userAccountId=bad"),
        Case("chats, stranger", "GET", chats, f"userAccountId={w.stranger}"),
        Case("chats, caller %FF", "GET", chats, "userAccountId=%FF"),
        Case("chats, caller with +", "GET", chats, "userAccountId=a+b"),
        Case("chats, raw non-ASCII caller", "GET", chats, "userAccountId=é"),
        Case("chats, blank name", "GET", chats, f"={a}&{caller}&&x"),
        Case("chats, no caller", "GET", chats),
        Case("chats, empty caller", "GET", chats, "userAccountId="),
        Case("chats, bad caller", "GET", chats, "userAccountId=nobody"),
        Case("chats, wrong prefix", "GET", chats, f"userAccountId={chat}"),
        Case("chats HEAD", "HEAD", chats, caller),
        # -- one group chat -----------------------------------------------------------------
        Case("chat", "GET", f"{chats}/{chat}", caller),
        Case("chat, bare id", "GET", f"{chats}/{ulid_of(chat).lower()}", caller),
        Case("chat, unknown", "GET", f"{chats}/{UNKNOWN_CHAT}", caller),
        Case("chat, deleted", "GET", f"{chats}/{w.deleted_chat}", caller),
        Case("chat, not a member", "GET", f"{chats}/{w.bobs_chat}", caller),
        Case("chat, removed member", "GET", f"{chats}/{chat}", f"userAccountId={w.carol}"),
        Case("chat, bad id", "GET", f"{chats}/not-an-id", caller),
        Case("chat, bad id, no caller", "GET", f"{chats}/not-an-id"),
        Case("chat, no caller", "GET", f"{chats}/{chat}"),
        Case("chat, encoded id", "GET", f"{chats}/GroupChat%2D{ulid_of(chat)}", caller),
        Case("chat, non-ASCII id", "GET", f"{chats}/%C3%A9t%C3%A9", caller),
        Case("chat, encoded slash", "GET", f"{chats}/a%2Fb/members", caller, routed=False),
        # -- members ------------------------------------------------------------------------
        Case("members", "GET", f"{chats}/{chat}/members", caller),
        Case("members, not a member", "GET", f"{chats}/{w.bobs_chat}/members", caller),
        Case("members, bad id", "GET", f"{chats}/x/members", caller),
        Case("member", "GET", f"{chats}/{chat}/members/{w.bob}", caller),
        Case("member, bare id", "GET", f"{chats}/{chat}/members/{ulid_of(w.bob)}", caller),
        Case("member, removed", "GET", f"{chats}/{chat}/members/{w.carol}", caller),
        Case("member, stranger", "GET", f"{chats}/{chat}/members/{w.stranger}", caller),
        Case("member of an invisible chat", "GET", f"{chats}/{w.bobs_chat}/members/{w.bob}",
             caller),
        Case("member, bad id", "GET", f"{chats}/{chat}/members/nope", caller),
        Case("member, bad ids, no caller", "GET", f"{chats}/x/members/nope"),
        # -- messages -----------------------------------------------------------------------
        Case("messages", "GET", messages, caller),
        Case("messages, limit 2", "GET", messages, f"{caller}&limit=2"),
        Case("messages, limit max", "GET", messages, f"{caller}&limit=5"),
        Case("messages, before", "GET", messages, f"{caller}&before={w.cursor}"),
        Case("messages, before and limit", "GET", messages,
             f"{caller}&before={w.cursor}&limit=1"),
        *(limit_case(w, raw) for raw in LIMITS),
        Case("messages, bad cursor", "GET", messages, f"{caller}&before=garbage"),
        Case("messages, empty cursor", "GET", messages, f"{caller}&before="),
        Case("messages, long cursor", "GET", messages, f"{caller}&before={long_cursor}"),
        Case("messages, long cursor and bad limit", "GET", messages,
             f"{caller}&before={long_cursor}&limit=0"),
        Case("messages, no caller and bad limit", "GET", messages, "limit=0"),
        Case("messages, bad caller and bad limit", "GET", messages, "userAccountId=x&limit=0"),
        Case("messages, bad chat id and bad limit", "GET", f"{chats}/x/messages",
             f"{caller}&limit=0"),
        Case("messages, not a member", "GET", f"{chats}/{w.bobs_chat}/messages", caller),
        Case("message", "GET", f"{V1}/messages/{w.message}", caller),
        Case("message, lower case", "GET", f"{V1}/messages/{w.message.lower()}", caller),
        Case("message, deleted", "GET", f"{V1}/messages/{w.deleted_message}", caller),
        Case("message, unknown", "GET", f"{V1}/messages/{UNKNOWN_MESSAGE}", caller),
        Case("message, not a member", "GET", f"{V1}/messages/{w.message}",
             f"userAccountId={w.stranger}"),
        Case("message, bad id", "GET", f"{V1}/messages/Message-{w.message}", caller),
        # -- not routed here ----------------------------------------------------------------
        Case("unknown path", "GET", f"{V1}/nothing", routed=False),
        Case("unknown chat sub-path", "GET", f"{chats}/{chat}/extra", caller, routed=False),
        Case("trailing slash", "GET", f"{chats}/", caller, routed=False),
        Case("OpenAPI document", "GET", "/query/openapi.json", routed=False),
        Case("GraphQL", "POST", GRAPHQL_PATH, "", JSON_TYPE,
             json.dumps({"query": "{ __typename }"}).encode(), routed=False),
    ]  # fmt: skip


def limit_case(w: World, raw: str) -> Case:
    """The messages of `w.chat` as alice, with `limit={raw}`."""
    return Case(
        f"messages, limit {raw!r}",
        "GET",
        f"{CHATS}/{w.chat}/messages",
        f"userAccountId={w.alice}&limit={raw}",
    )


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """An `Authorization` header with `token`."""
    return (("authorization", f"Bearer {token}"),)


def bearer_cases(w: World, issuer: TokenIssuer) -> list[Case]:
    """The requests both edges send with bearer tokens verified against the issuer's JWKS."""
    a = w.alice
    return [
        Case("bearer: as self", "GET", CHATS, f"userAccountId={a}", bearer(issuer.token(a))),
        Case("bearer: as someone else", "GET", CHATS, f"userAccountId={w.bob}",
             bearer(issuer.token(a, key="ec"))),
        Case("bearer: expired", "GET", CHATS, f"userAccountId={a}",
             bearer(issuer.token(a, expires_in=-3600))),
        Case("bearer: wrong audience", "GET", CHATS, f"userAccountId={a}",
             bearer(issuer.token(a, aud="someone-else"))),
        Case("bearer: garbage", "GET", CHATS, f"userAccountId={a}", bearer("not-a-jwt")),
        Case("bearer: none", "GET", CHATS, f"userAccountId={a}"),
    ]  # fmt: skip
