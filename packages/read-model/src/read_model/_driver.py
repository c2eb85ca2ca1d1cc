"""Core statements compiled once per dialect and run on the DBAPI cursor (the projector's hot path).

`Connection.execute` costs 30-60 us of CPU per statement even for a cached compiled statement
(execution context, result object, parameter processing); the driver's own `execute` of the
same SQL costs ~5 us. The updater runs two statements per event plus two per batch, so that
overhead was most of its CPU per event. A `DriverStatement` is the same statement: SQLAlchemy
compiles it (for the connection's dialect, once) and its bind processors convert the values
(`UtcTimestamp` to epoch milliseconds on SQLite, booleans, ...), so the SQL and the values sent
are the ones `Connection.execute` would send.

It runs inside the caller's transaction: a write begins the SQLAlchemy transaction first if none
is open, as `Connection.execute` does (autobegin), so `commit()` / `rollback()` / `begin()`
blocks cover it. Driver errors are raised as SQLAlchemy's `DBAPIError` subclasses, as
`Connection.execute` raises them (`unavailable_on_database_errors` and the callers' handlers see
no difference), and a lost connection is invalidated. Not routed through SQLAlchemy: engine
events and `echo` logging of these statements.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable

_T = TypeVar("_T")


class _Compiled:
    """One statement for one dialect: its SQL and how to turn named values into parameters."""

    __slots__ = (
        "compiled",
        "converters",
        "dbapi_error",
        "defaults",
        "positional",
        "result_processors",
        "sql",
    )

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if compiled.escaped_bind_names:  # pragma: no cover - a bind name needing quotes
            raise ValueError(f"bind names that need escaping are not supported: {compiled}")
        self.sql: str = compiled.string
        self.positional: bool = compiled.positional
        names = compiled.positiontup if self.positional else compiled.binds
        # (name, bind processor or None), in parameter order.
        self.converters: tuple[tuple[str, Callable[[Any], Any] | None], ...] = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        )
        # Values of binds that carry one (a literal, e.g. the `OFFSET 0` SQLite adds to a LIMIT),
        # used when not given, as `Connection.execute` uses them.
        self.defaults: dict[str, Any] = {
            name: compiled.binds[name].value
            for name, _ in self.converters
            if not compiled.binds[name].required and compiled.binds[name].callable is None
        }
        self.dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self.compiled: Any = compiled
        # (column index, result processor) of the columns that have one; set by the first
        # `rows()` from the cursor's description, as `CursorResult` takes them.
        self.result_processors: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for these named values (converted by the bind processors)."""
        if self.defaults:
            values = {**self.defaults, **values}
        if self.positional:
            return tuple(
                [
                    values[name] if convert is None else convert(values[name])
                    for name, convert in self.converters
                ]
            )
        return {
            name: values[name] if convert is None else convert(values[name])
            for name, convert in self.converters
        }


class DriverStatement:
    """A Core statement run on the connection's DBAPI cursor; see the module docstring.

    `statement` is the statement, or a function of the dialect that builds it (for
    dialect-specific constructs such as `ON CONFLICT`). Every bind parameter without a value
    of its own (`bindparam(name)`) must be given one on each call; one that carries a value (a
    literal) takes it unless given. `writes`: whether it changes rows (then it takes part in
    the SQLAlchemy transaction, begun if needed).
    """

    __slots__ = ("_by_dialect", "_statement", "_writes")

    def __init__(
        self, statement: Executable | Callable[[Dialect], Executable], *, writes: bool
    ) -> None:
        self._statement = statement
        self._writes = writes
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, _Compiled] = (
            weakref.WeakKeyDictionary()
        )

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect)
        if compiled is None:
            statement = (
                self._statement
                if isinstance(self._statement, Executable)
                else self._statement(dialect)
            )
            compiled = self._by_dialect[dialect] = _Compiled(statement, dialect)
        return compiled

    def rowcount(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run the statement; the number of rows it matched."""
        return self._run(connection, values, _rowcount)

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run the statement; its first row, or None."""
        return self._run(connection, values, _first)

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement (a SELECT); all its rows, each value converted by its type's result
        processor as `Connection.execute` converts it (`UtcTimestamp` to an aware datetime)."""
        compiled = self._compiled(connection.dialect)
        rows = self._run(connection, values, _fetchall)
        processors = compiled.result_processors
        if processors is None:
            processors = compiled.result_processors = _result_processors(
                compiled, connection.dialect, rows.description
            )
        if not processors:
            return rows.values
        converted = []
        for row in rows.values:
            items = list(row)
            for index, process in processors:
                items[index] = process(items[index])
            converted.append(tuple(items))
        return converted

    def _run(
        self, connection: Connection, values: Mapping[str, Any], outcome: Callable[[Any], _T]
    ) -> _T:
        compiled = self._compiled(connection.dialect)
        if self._writes and not connection.in_transaction():
            connection.begin()  # what Connection.execute's autobegin does
        parameters = compiled.parameters(values)
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None  # a live Connection has one
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            result = outcome(cursor)
        except compiled.dbapi_error as error:
            with suppress(Exception):  # the connection may be gone: the error above matters
                cursor.close()
            raise _wrapped(connection, compiled.sql, parameters, error, cursor) from error
        cursor.close()
        return result


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection from `engine`'s pool for reads that need no transaction.

    With psycopg, the DBAPI connection runs in autocommit while it is out, so that a read is one
    round trip: no `BEGIN` before it, and nothing for the pool's rollback on return to send (two
    round trips of ~100 us CPU each otherwise). Each statement then sees what a statement of a
    READ COMMITTED transaction would see. sqlite3 begins no transaction for a SELECT anyway.
    Only `DriverStatement` reads belong inside (`Connection.execute` would begin a transaction
    of its own).
    """
    with engine.connect() as connection:
        if connection.dialect.driver != "psycopg":
            yield connection
            return
        dbapi_connection: Any = connection.connection.dbapi_connection
        if dbapi_connection.autocommit:  # an engine with isolation_level="AUTOCOMMIT"
            yield connection
            return
        dbapi_connection.autocommit = True
        try:
            yield connection
        finally:
            # A lost connection was invalidated (closed): it goes back to no pool.
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = False


def _rowcount(cursor: Any) -> int:
    return int(cursor.rowcount)


def _first(cursor: Any) -> tuple[Any, ...] | None:
    # fetchall, not fetchone: SQLite finishes an INSERT ... RETURNING only when it is stepped to
    # its end, and it returns one row at most here.
    rows = cursor.fetchall()
    return tuple(rows[0]) if rows else None


class _Fetched:
    __slots__ = ("description", "values")

    def __init__(self, values: list[tuple[Any, ...]], description: Any) -> None:
        self.values = values
        self.description = description


def _fetchall(cursor: Any) -> _Fetched:
    # Both drivers return rows as tuples (sqlite3 without a row factory, psycopg's default).
    return _Fetched(cursor.fetchall(), cursor.description)


def _result_processors(
    compiled: _Compiled, dialect: Dialect, description: Any
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """The result processors of the statement's columns, as `CursorResult` looks them up (by
    the compiled statement's result column types and the driver's type codes)."""
    columns = compiled.compiled._result_columns
    if len(columns) != len(description):  # pragma: no cover - not a plain SELECT
        raise ValueError(f"result columns do not match the cursor's: {compiled.sql}")
    found = []
    for index, (column, entry) in enumerate(zip(columns, description, strict=True)):
        process = column.type._cached_result_processor(dialect, entry[1])
        if process is not None:
            found.append((index, process))
    return tuple(found)


def _wrapped(
    connection: Connection, sql: str, parameters: Any, error: Exception, cursor: Any
) -> exc.DBAPIError:
    """`error` as `Connection.execute` raises it; a lost connection is invalidated."""
    dialect = connection.dialect
    dbapi_connection = connection.connection.dbapi_connection
    lost = bool(dialect.is_disconnect(cast(Any, error), dbapi_connection, cursor))
    wrapped = exc.DBAPIError.instance(
        sql,
        parameters,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
    if lost:
        connection.invalidate(error)
    assert isinstance(wrapped, exc.DBAPIError)
    return wrapped
