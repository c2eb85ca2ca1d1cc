"""One router per resource: health, group chats, members, messages."""
