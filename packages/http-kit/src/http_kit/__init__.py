"""Edge plumbing shared by the command and query services.

The two HTTP services may not import each other, yet their edges are the same: problem details
(RFC 9457), request body limits, a GraphQL endpoint built on first use with API.md's error
format, and the AWS Lambda adapter. They live here, once; each service keeps only what is its own
(schema, context, routes, settings, which exception maps to which status).

Importing `http_kit` imports nothing: the submodules are imported on their own, and each imports
only what it needs, so the services' lazy imports (no strawberry before the first GraphQL
request, nothing heavy in the Lambda handler modules) keep working.

- `http_kit.problems`: `Problem`, `send_problem` and the generic problems (500, 408, 413).
- `http_kit.limits`: `BodySizeLimitMiddleware` (size and arrival time of request bodies).
- `http_kit.graphql_errors`: `ErrorInfo`, what a GraphQL error tells the client.
- `http_kit.lazy`: `LazyASGIApp`, `mount_lazy_graphql`: the GraphQL routes, built on first use.
- `http_kit.graphql_view` (imports strawberry): `ApiGraphQL`, `LoggingSchema`.
- `http_kit.graphql_limits` (imports strawberry): `document_limits`, `DepthLimiter`.
- `http_kit.aws_lambda`: `HttpApiHandler`, `strip_stage`: the Lambda entry point of a service.
- `http_kit.settings`: `SettingsField`, `EnvSettings`: typed settings read from the environment
  (stdlib only; each service declares its fields).
- `http_kit.lambda_http`: `Router`, `Request`, `Response`, `FastPath`: REST endpoints served on
  Lambda without a web framework (the cold-start fast path; stdlib and `telemetry` only).
- `http_kit.asgi_fast_path`: `FastPathMiddleware`: the same `FastPath` served under an ASGI
  server, in front of the service's FastAPI app (less CPU per request than FastAPI's routing).
- `http_kit.testing`: `fall_throughs(app)`: which requests a fast path hands on (tests).
"""
