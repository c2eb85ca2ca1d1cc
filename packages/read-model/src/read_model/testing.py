"""Test support: write read-model rows directly, bypassing the projector.

For tests of the query side (query functions, REST, GraphQL) that need a populated read model
without running the command side. Not for production code: the projector is the only writer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chat_domain.ulid import new_ulid
from sqlalchemy import Connection, Engine, update

from read_model.schema import group_chats, members, messages

_BASE_TIME = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


class ReadModelSeeder:
    """Inserts group chats, members and messages with increasing timestamps.

    Each insert advances an internal clock by one second (unless `at` is given), so rows inserted
    later are newer. Ids are fresh ULIDs in wire form.
    """

    def __init__(self, bind: Engine | Connection, start: datetime = _BASE_TIME) -> None:
        self._bind = bind
        self._clock = start

    def _tick(self, at: datetime | None) -> datetime:
        if at is not None:
            return at
        self._clock += timedelta(seconds=1)
        return self._clock

    def _execute(self, statement: object) -> None:
        if isinstance(self._bind, Connection):
            self._bind.execute(statement)  # type: ignore[call-overload]
        else:
            with self._bind.begin() as connection:
                connection.execute(statement)  # type: ignore[call-overload]

    @staticmethod
    def user() -> str:
        """A fresh user account id in wire form."""
        return f"UserAccount-{new_ulid()}"

    def group_chat(
        self,
        owner_id: str,
        name: str = "general",
        *,
        at: datetime | None = None,
        disabled: bool = False,
    ) -> str:
        """A group chat with `owner_id` as its administrator member; returns the chat id."""
        created_at = self._tick(at)
        group_chat_id = f"GroupChat-{new_ulid()}"
        self._execute(
            group_chats.insert().values(
                id=group_chat_id,
                name=name,
                owner_id=owner_id,
                disabled=disabled,
                created_at=created_at,
                updated_at=created_at,
                last_seq_nr=1,
            )
        )
        self.member(group_chat_id, owner_id, role="administrator", at=created_at)
        return group_chat_id

    def member(
        self,
        group_chat_id: str,
        user_account_id: str,
        role: str = "member",
        *,
        at: datetime | None = None,
        disabled: bool = False,
    ) -> str:
        """A membership; returns the member id."""
        created_at = self._tick(at)
        member_id = str(new_ulid())
        self._execute(
            members.insert().values(
                id=member_id,
                group_chat_id=group_chat_id,
                user_account_id=user_account_id,
                role=role,
                disabled=disabled,
                created_at=created_at,
                updated_at=created_at,
                last_seq_nr=1,
            )
        )
        return member_id

    def message(
        self,
        group_chat_id: str,
        user_account_id: str,
        text: str = "hello",
        *,
        at: datetime | None = None,
        disabled: bool = False,
    ) -> str:
        """A message; returns the message id."""
        created_at = self._tick(at)
        message_id = str(new_ulid())
        self._execute(
            messages.insert().values(
                id=message_id,
                group_chat_id=group_chat_id,
                user_account_id=user_account_id,
                text=text,
                disabled=disabled,
                created_at=created_at,
                updated_at=created_at,
                last_seq_nr=1,
            )
        )
        return message_id

    def delete_group_chat(self, group_chat_id: str) -> None:
        """Soft-delete a group chat."""
        self._execute(
            update(group_chats).where(group_chats.c.id == group_chat_id).values(disabled=True)
        )

    def remove_member(self, group_chat_id: str, user_account_id: str) -> None:
        """Soft-remove a membership."""
        self._execute(
            update(members)
            .where(
                members.c.group_chat_id == group_chat_id,
                members.c.user_account_id == user_account_id,
            )
            .values(disabled=True)
        )

    def delete_message(self, message_id: str) -> None:
        """Soft-delete a message."""
        self._execute(update(messages).where(messages.c.id == message_id).values(disabled=True))
