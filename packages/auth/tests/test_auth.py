"""Settings, token verification and the middleware, with locally generated keys."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator, MutableMapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from auth import (
    SCOPE_KEY,
    AuthenticationMiddleware,
    Authenticator,
    AuthError,
    AuthSettings,
    AuthState,
    AuthUnavailableError,
    JwtVerifier,
    Principal,
    Protection,
    check_subject,
    require_principal,
)
from auth.testing import AUDIENCE, ISSUER, TokenIssuer, aws_jwt_event_context


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> TokenIssuer:
    return TokenIssuer(tmp_path_factory.mktemp("jwks"))


@pytest.fixture(scope="module")
def verifier(issuer: TokenIssuer) -> JwtVerifier:
    return JwtVerifier.from_settings(issuer.settings())


def upper(subject: str) -> str:
    if not subject.startswith("user-"):
        raise ValueError(subject)
    return subject.upper()


# -- settings -------------------------------------------------------------------------------------


def test_defaults_to_no_authentication_when_nothing_is_configured() -> None:
    settings = AuthSettings.from_env({})

    assert (settings.mode, settings.enabled, settings.algorithms) == (
        "none",
        False,
        ("RS256", "ES256"),
    )


def test_reads_every_variable_when_jwt_mode_is_configured(issuer: TokenIssuer) -> None:
    env = {**issuer.environ(), "AUTH_ALGORITHMS": "ES256", "AUTH_LEEWAY_SECONDS": "5"}

    settings = AuthSettings.from_env(env)

    assert settings == issuer.settings(algorithms=("ES256",), leeway_seconds=5)
    assert settings.enabled
    assert settings.verifies_locally


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUTH_MODE": "basic"}, "AUTH_MODE"),
        ({"AUTH_MODE": "jwt", "AUTH_ALGORITHMS": "HS256"}, "asymmetric"),
        ({"AUTH_MODE": "jwt", "AUTH_ALGORITHMS": "none"}, "asymmetric"),
        ({"AUTH_MODE": "jwt", "AUTH_JWKS_FILE": "x.json"}, "AUTH_ISSUER and AUTH_AUDIENCE"),
        ({"AUTH_JWKS_FILE": "a", "AUTH_JWKS_URL": "https://b"}, "not both"),
        ({"AUTH_LEEWAY_SECONDS": "-1"}, "whole number"),
    ],
)
def test_refuses_settings_when_they_are_unsafe_or_incomplete(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        AuthSettings.from_env(env)


def test_accepts_jwt_mode_without_a_jwks_when_api_gateway_verifies_tokens() -> None:
    settings = AuthSettings.from_env({"AUTH_MODE": "jwt"})

    assert settings.enabled
    assert not settings.verifies_locally


@pytest.mark.parametrize("content", ["not json", '{"keys": "nope"}'])
def test_refuses_a_jwks_file_when_it_is_not_a_jwks(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)

    with pytest.raises(ValueError, match="AUTH_JWKS_FILE"):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_file=path)


def test_refuses_a_jwks_file_when_it_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_file=tmp_path / "missing.json")


# -- verification ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_returns_the_claims_when_the_token_is_valid(
    issuer: TokenIssuer, verifier: JwtVerifier, key: str
) -> None:
    claims = verifier.verify(issuer.token("user-1", key=key, scope="chat"))

    assert (claims["sub"], claims["scope"], claims["iss"]) == ("user-1", "chat", ISSUER)


def test_finds_the_only_key_when_the_token_names_no_kid(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path)
    document = json.loads(issuer.jwks_file.read_text())
    issuer.jwks_file.write_text(json.dumps({"keys": document["keys"][:1]}))  # the RSA key only
    verifier = JwtVerifier.from_settings(issuer.settings())

    assert verifier.verify(issuer.token("user-1", kid=None))["sub"] == "user-1"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda i: i.token("user-1", expires_in=-120), "expired"),
        (lambda i: i.token("user-1", iss="https://other.example/"), "issuer"),
        (lambda i: i.token("user-1", aud="another-api"), "Audience"),
        (lambda i: i.token("user-1", exp=None), "exp"),
        (lambda i: i.token("user-1", kid="unknown-kid"), "unknown-kid"),
        (lambda i: i.token("user-1", kid=None), "kid"),
        (lambda i: i.token("user-1")[:-4] + "AAAA", "not valid"),
        (lambda i: "not.a.token", "not valid"),
    ],
    ids=["expired", "issuer", "audience", "no-exp", "unknown-kid", "no-kid", "signature", "junk"],
)
def test_raises_401_when_the_token_cannot_be_accepted(
    issuer: TokenIssuer, verifier: JwtVerifier, make: Any, reason: str
) -> None:
    with pytest.raises(AuthError) as caught:
        verifier.verify(make(issuer))

    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert reason in caught.value.detail
    assert caught.value.headers["WWW-Authenticate"].startswith('Bearer realm="cqrs-es", error=')


def test_raises_401_when_the_token_was_signed_by_another_issuers_key(
    tmp_path: Path, issuer: TokenIssuer, verifier: JwtVerifier
) -> None:
    impostor = TokenIssuer(tmp_path)
    forged = impostor.token("user-1", kid=issuer.kids["rsa"])  # claims the right key id

    with pytest.raises(AuthError, match="not valid"):
        verifier.verify(forged)


def test_raises_401_when_the_token_uses_hmac_with_the_public_key_as_secret(
    issuer: TokenIssuer, verifier: JwtVerifier
) -> None:
    # The classic algorithm-confusion attack: HS256 "signed" with the published RSA key.
    public = json.loads(issuer.jwks_file.read_text())["keys"][0]["n"]
    forged = jwt.encode(
        {"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": 2_000_000_000},
        public.encode(),
        algorithm="HS256",
        headers={"kid": issuer.kids["rsa"]},
    )

    with pytest.raises(AuthError):
        verifier.verify(forged)


def test_raises_401_when_the_token_is_unsigned(issuer: TokenIssuer, verifier: JwtVerifier) -> None:
    forged = jwt.encode(
        {"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": 2_000_000_000},
        None,
        algorithm="none",
    )

    with pytest.raises(AuthError):
        verifier.verify(forged)


# -- authenticator --------------------------------------------------------------------------------


def scope(headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "path": "/x",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        **extra,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_authenticates_the_subject_of_a_bearer_token_in_canonical_form(
    issuer: TokenIssuer,
) -> None:
    authenticator = Authenticator(issuer.settings(), subject_parser=upper)

    principal = authenticator.authenticate(scope(bearer(issuer.token("user-7"))))

    assert principal.subject == "USER-7"
    assert principal.claims["aud"] == AUDIENCE


def test_trusts_the_claims_of_api_gateways_authorizer_when_the_request_came_through_it() -> None:
    authenticator = Authenticator(AuthSettings(mode="jwt"), subject_parser=upper)
    event = {"requestContext": {"authorizer": aws_jwt_event_context("user-9")}}

    principal = authenticator.authenticate(scope(**{"aws.event": event}))

    assert principal.subject == "USER-9"


@pytest.mark.parametrize(
    ("headers", "detail", "invalid_token"),
    [
        ({}, "authentication required", False),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "Bearer <token>", True),
        ({"Authorization": "Bearer"}, "Bearer <token>", True),
    ],
    ids=["none", "basic", "empty"],
)
def test_raises_401_when_no_bearer_token_is_sent(
    issuer: TokenIssuer, headers: dict[str, str], detail: str, invalid_token: bool
) -> None:
    authenticator = Authenticator(issuer.settings())

    with pytest.raises(AuthError) as caught:
        authenticator.authenticate(scope(headers))

    assert detail in caught.value.detail
    assert ("error=" in caught.value.headers["WWW-Authenticate"]) is invalid_token


def test_raises_401_when_the_subject_is_not_a_user_account(issuer: TokenIssuer) -> None:
    authenticator = Authenticator(issuer.settings(), subject_parser=upper)

    with pytest.raises(AuthError, match="not a user account id"):
        authenticator.authenticate(scope(bearer(issuer.token("service-account"))))
    with pytest.raises(AuthError, match='"sub"'):
        authenticator.authenticate(scope(bearer(issuer.token(None))))


def test_raises_401_when_tokens_arrive_but_no_jwks_is_configured(issuer: TokenIssuer) -> None:
    authenticator = Authenticator(AuthSettings(mode="jwt"))

    with pytest.raises(AuthError, match="no JWKS"):
        authenticator.authenticate(scope(bearer(issuer.token("user-1"))))


def test_check_subject_raises_403_when_the_claimed_id_is_someone_else() -> None:
    principal = Principal("USER-1")

    check_subject(principal, "USER-1", field="executorId")
    with pytest.raises(AuthError) as caught:
        check_subject(principal, "USER-2", field="executorId")

    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    assert "executorId USER-2" in caught.value.detail


def test_require_principal_fails_closed_when_the_middleware_did_not_run() -> None:
    with pytest.raises(AuthError):
        require_principal({})
    error = AuthError.unauthorized("x", invalid_token=False)
    with pytest.raises(AuthError) as caught:
        require_principal({SCOPE_KEY: AuthState(None, error)})
    assert caught.value is error
    assert require_principal({SCOPE_KEY: AuthState(Principal("u"))}).subject == "u"


# -- middleware -----------------------------------------------------------------------------------


def run_middleware(
    authenticator: Authenticator, protection: Protection, request_scope: dict[str, Any]
) -> tuple[list[MutableMapping[str, Any]], dict[str, Any] | None]:
    """Send one request through the middleware; return what it sent and the app's scope."""
    seen: dict[str, Any] = {}
    sent: list[MutableMapping[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def render(exc: Exception, _scope: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        assert isinstance(exc, AuthError)
        headers = [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
        return exc.status, headers, exc.code.encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    middleware = AuthenticationMiddleware(
        app, authenticator=authenticator, protection=lambda _path: protection, render=render
    )
    asyncio.run(middleware(request_scope, receive, send))
    return sent, (seen or None)


def test_middleware_refuses_a_required_path_without_a_token_before_the_app_runs(
    issuer: TokenIssuer,
) -> None:
    sent, seen = run_middleware(Authenticator(issuer.settings()), "required", scope())

    assert seen is None
    assert sent[0]["status"] == 401
    headers = dict(sent[0]["headers"])
    assert headers[b"www-authenticate"] == b'Bearer realm="cqrs-es"'
    assert headers[b"connection"] == b"close"


def test_middleware_passes_the_principal_to_the_app_when_the_token_is_valid(
    issuer: TokenIssuer,
) -> None:
    sent, seen = run_middleware(
        Authenticator(issuer.settings()), "required", scope(bearer(issuer.token("user-1")))
    )

    assert sent[0]["status"] == 204
    assert seen is not None
    assert require_principal(seen).subject == "user-1"


def test_middleware_lets_an_optional_path_through_without_a_token_recording_the_error(
    issuer: TokenIssuer,
) -> None:
    sent, seen = run_middleware(Authenticator(issuer.settings()), "optional", scope())

    assert sent[0]["status"] == 204
    assert seen is not None
    with pytest.raises(AuthError):
        require_principal(seen)


def test_middleware_refuses_an_optional_path_when_the_token_is_bad(issuer: TokenIssuer) -> None:
    sent, seen = run_middleware(Authenticator(issuer.settings()), "optional", scope(bearer("junk")))

    assert (sent[0]["status"], seen) == (401, None)


@pytest.mark.parametrize(
    ("settings", "protection"),
    [(AuthSettings(), "required"), (None, "public")],
    ids=["auth-off", "public-path"],
)
def test_middleware_does_not_authenticate_when_off_or_on_a_public_path(
    issuer: TokenIssuer, settings: AuthSettings | None, protection: Protection
) -> None:
    authenticator = Authenticator(settings or issuer.settings())

    sent, seen = run_middleware(authenticator, protection, scope())

    assert sent[0]["status"] == 204
    assert seen is not None
    assert SCOPE_KEY not in seen


# -- JWKS from a URL ------------------------------------------------------------------------------


@pytest.fixture
def jwks_url(issuer: TokenIssuer) -> Iterator[str]:
    """The issuer's JWKS served over HTTP on 127.0.0.1 (as an identity provider publishes it)."""
    document = issuer.jwks_file.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def test_verifies_tokens_with_keys_fetched_from_the_jwks_url(
    issuer: TokenIssuer, jwks_url: str
) -> None:
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url)

    assert verifier.fetches_keys
    assert verifier.verify(issuer.token("user-1", key="ec"))["sub"] == "user-1"


def test_raises_unavailable_when_the_jwks_url_cannot_be_reached(issuer: TokenIssuer) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=f"http://127.0.0.1:{port}/")

    with pytest.raises(AuthUnavailableError):
        verifier.verify(issuer.token("user-1"))
