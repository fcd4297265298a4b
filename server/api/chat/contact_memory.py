"""Per-contact memory in chat serving: which contact a request names, and the block its prompt gets.

A request names the contact with OpenAI's `user` field, or with the `X-Twin-Contact` header for
clients that cannot set it (percent-encoded UTF-8, since header values are Latin-1); only API and admin
keys choose it, a chat key speaks as its own contact or none (`server.auth.contact_for`). Only a request
that selects an adapter carrying memory and names a contact the memory knows changes: every other
prompt is exactly what it was. Nothing retrieved is logged.
"""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import Request

from wechat_twin.memory.recall import recall
from wechat_twin.server.adapters.registry import ModelTarget
from wechat_twin.server.api.chat.protocol import ChatCompletionRequest
from wechat_twin.server.auth import contact_for
from wechat_twin.server.prompting import ChatMessage

CONTACT_HEADER = "X-Twin-Contact"


def named_contact(request: Request, body: ChatCompletionRequest) -> str | None:
    header = request.headers.get(CONTACT_HEADER)
    contact = unquote(header) if header else body.user
    return contact.strip() or None if contact else None


def contact_memory(
    chat: list[ChatMessage], target: ModelTarget, request: Request, body: ChatCompletionRequest
) -> str | None:
    """The memory block for this request, or None; looked up once per request, however the history is trimmed."""
    adapter = target.adapter
    if adapter is None or adapter.memory is None:
        return None
    contact = contact_for(request, named_contact(request, body))
    if contact is None:
        return None
    return recall(adapter.memory, contact, chat, adapter.recall_settings)
