"""The chat page's feedback: 👍/👎 labels (KTO) and "show two" choices (DPO) into the feedback database."""
