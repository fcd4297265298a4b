"""The chat page's own API under /chat/api, beside the page: the session it starts with, 👍/👎 labels (KTO)
and "show two" choices (DPO) into the feedback database."""
