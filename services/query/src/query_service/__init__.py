"""query_service: the read side's HTTP interface (REST under `/query`) over the read model.

Build the app with `query_service.app.create_app(settings)`; `query_service.settings.Settings`
reads the environment. Nothing heavy is imported here, so that entry points (the CLI, a Lambda
handler) pay only for what they use.
"""
