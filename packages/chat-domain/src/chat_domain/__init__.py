"""chat_domain."""
