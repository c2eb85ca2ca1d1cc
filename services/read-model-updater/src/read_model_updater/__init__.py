"""read_model_updater: projects the event store's journal into the read model.

- `read_model_updater.core`: `apply(engine, events, *, checkpoint=None) -> ApplyResult`, the apply
  core shared by the SQL poller and the DynamoDB Streams Lambda.
- `read_model_updater.poller`: `Poller` (tails a SQL journal from a durable checkpoint), `serve`
  (the `cqrs-es updater` process) and `rebuild` (`cqrs-es rebuild-read-model`).
- `read_model_updater.settings`: `Settings` from the environment.
- `read_model_updater.testing`: histories, stored events and read-model snapshots for tests.
"""
