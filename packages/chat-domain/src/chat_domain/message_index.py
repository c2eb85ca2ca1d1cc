"""`MessageIndex`: what a group chat's state keeps of its messages, packed into bytes.

The rules need, per message ever posted: its id (edits and deletes look it up, and a post may
not reuse it, even a deleted one's), whether it is deleted, and for a live message its sender
(who may edit or delete it) and creation time (an edit's event carries it). A chat may hold
10,000 messages (`limits.DEFAULT_MAX_MESSAGES`), so how this is kept decides how fast a chat
loads and how large its snapshot is. As Python objects (a `MessageRef` with two ids and a
datetime per message) a 10,000-message state takes tens of milliseconds to decode from a
snapshot and over a megabyte to store, more than one DynamoDB item holds (400 KB).

So the index keeps one fixed-width record per message, in posting order, in `bytes`:

| offset | size | field |
| --- | --- | --- |
| 0 | 16 | message id: the ULID's 16-byte big-endian form |
| 16 | 6 | created_at: milliseconds since the Unix epoch, unsigned big-endian |
| 22 | 3 | bit 23: deleted; bits 0-22: index of the sender in the sender table |

The sender table is `bytes` too: the 16-byte ULID of each distinct sender, in order of first
post (a chat has far fewer senders than messages). A deleted message keeps only its id and
the flag (the other bytes are zero): no rule reads more of it. Live messages, deleted ids and
the message count thus live in one structure and cannot disagree.

Cost, n = messages: a snapshot carries the records as they are (25 bytes a message) and
reading them back costs no per-message work at all; lookups (`find`, `__contains__`) are one
`bytes.find` over the records (C speed: some microseconds at 10,000 messages), checked to hit
a record boundary. `MessageRef`s are built only when asked for (`find`, iteration).

Appends must stay cheap for a cached chat that keeps evolving, and an immutable `bytes` cannot
grow in place: new records go to a short tail, merged into the base when it reaches
`_TAIL_RECORDS` records. An append thus copies at most the tail (6 KB) and, once every 256
appends, the base: about 1 KB per append at 10,000 messages, instead of a copy of everything.
Deleting or re-sending (an edit event with another sender or time, which `decide` never
produces) rewrites the part that holds the record.

Times must lie between 1970 and 9999 (the range the event codec reads); ids are any ULID.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Final

from chat_domain.ids import MessageId, UserAccountId
from chat_domain.timestamps import from_epoch_ms, to_epoch_ms
from chat_domain.ulid import Ulid

RECORD_SIZE: Final = 25
"""Bytes per message record (see the module docs for the layout)."""
ID_SIZE: Final = 16
"""Bytes per id: a message id in a record, a sender in the sender table."""
MAX_SENDERS: Final = (1 << 23) - 1
"""Most distinct senders one index can name (23 bits of a record)."""
MAX_CREATED_AT_MS: Final = 253_402_300_799_999
"""The last millisecond of year 9999, the latest creation time a record holds."""

_CREATED_END: Final = 22
_DELETED_BIT: Final = 1 << 23
_SENDER_MASK: Final = _DELETED_BIT - 1
_DELETED_TAIL: Final = b"\x00" * 6 + _DELETED_BIT.to_bytes(3, "big")
_TAIL_RECORDS: Final = 256
# Maps a record's flag byte (offset 22) to 1 when its deleted bit is set: counting deleted
# records is then `bytes.translate` + `bytes.count`, both C loops.
_DELETED_BYTE: Final = bytes(b >> 7 for b in range(256))


def _aligned_find(data: bytes, key: bytes, stride: int) -> int:
    """Offset of `key` in `data` at a multiple of `stride`, or -1."""
    at = data.find(key)
    while at != -1 and at % stride:
        at = data.find(key, at + 1)
    return at


class MessageIndex:
    """An immutable index of a chat's messages (see the module docs). Equal by meaning.

    Two indexes are equal when they hold the same live messages in the same order and the
    same deleted ids: how the bytes are split or where a deleted id sits does not matter.
    """

    __slots__ = ("_base", "_live", "_senders", "_tail")

    _base: bytes
    _tail: bytes
    _senders: bytes
    _live: int

    def __init__(self) -> None:
        """An empty index; use `from_records` or `from_messages` for others."""
        self._base = b""
        self._tail = b""
        self._senders = b""
        self._live = 0

    @classmethod
    def _make(cls, base: bytes, tail: bytes, senders: bytes, live: int) -> MessageIndex:
        index = cls.__new__(cls)
        index._base, index._tail, index._senders, index._live = base, tail, senders, live
        return index

    @classmethod
    def from_records(cls, records: bytes, senders: bytes) -> MessageIndex:
        """The index over `records` and the sender table `senders` (as `records` returns them).

        Checks what costs no per-record Python loop: whole records and sender ids, and a
        sender table for the live messages (the live count comes from a C-speed count of the
        deleted flags). Raises `ValueError` when these fail. Ids are not checked for
        duplicates, nor sender indexes against the table (a lookup past its end raises
        `ValueError`): that would cost a loop over every record at every load, and an index is
        only ever written by `records`; a snapshot's checksum guards the bytes in between.
        """
        if len(records) % RECORD_SIZE:
            raise ValueError(f"records: {len(records)} bytes is not a whole number of records")
        if len(senders) % ID_SIZE:
            raise ValueError(f"senders: {len(senders)} bytes is not a whole number of ids")
        if len(senders) // ID_SIZE > MAX_SENDERS:
            raise ValueError(f"senders: more than {MAX_SENDERS}")
        count = len(records) // RECORD_SIZE
        deleted = records[_CREATED_END::RECORD_SIZE].translate(_DELETED_BYTE).count(1)
        if count > deleted and not senders:
            raise ValueError("records: live messages but no senders")
        return cls._make(records, b"", senders, count - deleted)

    @classmethod
    def from_messages(
        cls, live: Iterable[tuple[MessageId, UserAccountId, datetime]], deleted: Iterable[MessageId]
    ) -> MessageIndex:
        """An index of `deleted` ids, then the `live` messages (id, sender, created_at) in order.

        Raises `ValueError` when an id appears twice. (The position of a deleted id among the
        live messages is not kept anywhere the rules look, so they simply come first.)
        """
        index = cls()
        for message_id in deleted:
            index = index._appended(bytes(message_id.ulid) + _DELETED_TAIL, live=0, check=True)
        for message_id, sender_id, created_at in live:
            index = index.posted(message_id, sender_id, created_at, check=True)
        return index

    # --- reading ---------------------------------------------------------------------------

    @property
    def records(self) -> bytes:
        """Every record, in posting order (see the module docs for the layout)."""
        return self._base + self._tail if self._tail else self._base

    @property
    def senders(self) -> bytes:
        """The sender table: 16-byte ULIDs, indexed by the records."""
        return self._senders

    @property
    def count(self) -> int:
        """Every message ever posted, deleted ones included."""
        return (len(self._base) + len(self._tail)) // RECORD_SIZE

    @property
    def live_count(self) -> int:
        """The live (not deleted) messages."""
        return self._live

    def _locate(self, message_id: MessageId) -> tuple[bool, int]:
        """(in the tail?, offset) of `message_id`'s record, offset -1 when it has none."""
        return self._locate_key(bytes(message_id.ulid))

    def _locate_key(self, key: bytes) -> tuple[bool, int]:
        at = _aligned_find(self._base, key, RECORD_SIZE)
        if at != -1 or not self._tail:
            return False, at
        return True, _aligned_find(self._tail, key, RECORD_SIZE)

    def _sender(self, index: int) -> UserAccountId:
        at = index * ID_SIZE
        if at + ID_SIZE > len(self._senders):
            raise ValueError(f"message index: sender {index} is not in the sender table")
        return UserAccountId(Ulid.from_bytes(self._senders[at : at + ID_SIZE]))

    def __contains__(self, message_id: object) -> bool:
        """Whether `message_id` was ever posted here (live or deleted)."""
        return isinstance(message_id, MessageId) and self._locate(message_id)[1] != -1

    def find(self, message_id: MessageId) -> tuple[UserAccountId, datetime] | None:
        """The sender and creation time of live message `message_id`, or None (unknown, deleted)."""
        in_tail, at = self._locate(message_id)
        if at == -1:
            return None
        data = self._tail if in_tail else self._base
        field = int.from_bytes(data[at + _CREATED_END : at + RECORD_SIZE], "big")
        if field & _DELETED_BIT:
            return None
        created_ms = int.from_bytes(data[at + ID_SIZE : at + _CREATED_END], "big")
        return self._sender(field), from_epoch_ms(created_ms)

    def live(self) -> Iterator[tuple[MessageId, UserAccountId, datetime]]:
        """The live messages in posting order, as (id, sender, created_at)."""
        senders: dict[int, UserAccountId] = {}
        for data in (self._base, self._tail):
            for at in range(0, len(data), RECORD_SIZE):
                field = int.from_bytes(data[at + _CREATED_END : at + RECORD_SIZE], "big")
                if field & _DELETED_BIT:
                    continue
                sender = senders.get(field)
                if sender is None:
                    sender = senders[field] = self._sender(field)
                created_ms = int.from_bytes(data[at + ID_SIZE : at + _CREATED_END], "big")
                message_id = MessageId(Ulid.from_bytes(data[at : at + ID_SIZE]))
                yield message_id, sender, from_epoch_ms(created_ms)

    def deleted_ids(self) -> frozenset[MessageId]:
        """The ids of the deleted messages."""
        return frozenset(
            MessageId(Ulid.from_bytes(data[at : at + ID_SIZE]))
            for data in (self._base, self._tail)
            for at in range(0, len(data), RECORD_SIZE)
            if data[at + _CREATED_END] & 0x80
        )

    # --- changing (each returns a new index) --------------------------------------------------

    def _appended(
        self, record: bytes, *, live: int, check: bool, senders: bytes | None = None
    ) -> MessageIndex:
        """This index plus `record`, with the sender table `senders` (default: unchanged)."""
        if check and self._locate_key(record[:ID_SIZE])[1] != -1:
            raise ValueError(f"message id {Ulid.from_bytes(record[:ID_SIZE])} appears twice")
        if senders is None:
            senders = self._senders
        tail = self._tail + record
        if len(tail) >= _TAIL_RECORDS * RECORD_SIZE:
            return MessageIndex._make(self._base + tail, b"", senders, self._live + live)
        return MessageIndex._make(self._base, tail, senders, self._live + live)

    def _record(
        self, message_id: MessageId, sender_id: UserAccountId, created_at: datetime
    ) -> tuple[bytes, bytes]:
        """The live record of a message and the sender table that names its sender."""
        created_ms = to_epoch_ms(created_at)
        if not 0 <= created_ms <= MAX_CREATED_AT_MS:
            raise ValueError(f"message {message_id}: created_at {created_at} is before 1970")
        key = bytes(sender_id.ulid)
        senders = self._senders
        at = _aligned_find(senders, key, ID_SIZE)
        if at == -1:
            at = len(senders)
            if at // ID_SIZE >= MAX_SENDERS:
                raise ValueError(f"more than {MAX_SENDERS} senders in one chat")
            senders += key
        record = (
            bytes(message_id.ulid)
            + created_ms.to_bytes(6, "big")
            + (at // ID_SIZE).to_bytes(3, "big")
        )
        return record, senders

    def posted(
        self,
        message_id: MessageId,
        sender_id: UserAccountId,
        created_at: datetime,
        *,
        check: bool = False,
    ) -> MessageIndex:
        """This index plus a live message. With `check`, a known id raises `ValueError`.

        Without it the id is not looked up (`decide` already refused a used id), which keeps
        folding a post constant-time.
        """
        record, senders = self._record(message_id, sender_id, created_at)
        return self._appended(record, live=1, check=check, senders=senders)

    def _rewritten(self, in_tail: bool, at: int, record: bytes, live: int) -> MessageIndex:
        data = self._tail if in_tail else self._base
        data = data[:at] + record + data[at + RECORD_SIZE :]
        base, tail = (self._base, data) if in_tail else (data, self._tail)
        return MessageIndex._make(base, tail, self._senders, self._live + live)

    def edited(
        self, message_id: MessageId, sender_id: UserAccountId, created_at: datetime
    ) -> MessageIndex:
        """This index with live message `message_id` now from `sender_id` at `created_at`.

        An unknown or deleted id changes nothing, nor does an edit that keeps both (the only
        kind `decide` produces).
        """
        in_tail, at = self._locate(message_id)
        if at == -1:
            return self
        data = self._tail if in_tail else self._base
        if data[at + _CREATED_END] & 0x80:
            return self
        record, senders = self._record(message_id, sender_id, created_at)
        if record == data[at : at + RECORD_SIZE]:
            return self
        with_sender = MessageIndex._make(self._base, self._tail, senders, self._live)
        return with_sender._rewritten(in_tail, at, record, 0)

    def deleted(self, message_id: MessageId) -> MessageIndex:
        """This index with live message `message_id` deleted (unknown or deleted: unchanged)."""
        in_tail, at = self._locate(message_id)
        if at == -1:
            return self
        data = self._tail if in_tail else self._base
        if data[at + _CREATED_END] & 0x80:
            return self
        return self._rewritten(in_tail, at, bytes(message_id.ulid) + _DELETED_TAIL, -1)

    # --- value semantics ---------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageIndex):
            return NotImplemented
        if self.count != other.count or self._live != other._live:
            return False
        if self._senders == other._senders and self.records == other.records:
            return True
        return list(self.live()) == list(other.live()) and self.deleted_ids() == other.deleted_ids()

    def __hash__(self) -> int:
        # Consistent with __eq__ (equal indexes have equal counts), and cheap.
        return hash((self.count, self._live))

    def __repr__(self) -> str:
        return f"MessageIndex(messages={self.count}, live={self._live})"
