"""The persona as a chat template's default system prompt, so a merged clone sounds like itself in any tool.

The server puts `twin.json`'s persona in front of a chat that has no system message; a merged folder is
read by tools that know nothing of `twin.json`, so the same rule moves into the chat template itself.
"""

from __future__ import annotations

import json


def with_default_system(template: str, persona: str) -> str:
    """`template`, rendering a chat without a system message as if `persona` were its system message.

    The prefix only rebinds `messages`, and writes nothing, so a chat that brings its own system message
    renders exactly as with the base template. A JSON string is a valid Jinja string literal.
    """
    literal = json.dumps(persona, ensure_ascii=False)
    prefix = (
        "{% if not messages or messages[0]['role'] != 'system' %}"
        "{% set messages = [{'role': 'system', 'content': " + literal + "}] + messages %}"
        "{% endif %}"
    )
    return prefix + template
