"""Wire schemas of the chat page's feedback API (importable without an engine)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wechat_twin.server.api.chat.protocol import MAX_MESSAGES

CONVERSATION_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# One feedback row's text (the conversation and the reply): far more than a model's context, far less than a body.
MAX_FEEDBACK_CHARS = 64_000
# Exchange ids are SQLite rowids: a signed 64-bit integer, 1 and up.
MAX_EXCHANGE_ID = 2**63 - 1
# "Show two" needs a temperature above 0 (else both candidates are one): used where the clone's own is 0.
PAIR_TEMPERATURE = 0.8


class Turn(BaseModel):
    """One message of the conversation as the page sent it to /v1/chat/completions."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class FeedbackContext(BaseModel):
    """What the clone was answering: `messages` ends with the friend's turn."""

    model_config = ConfigDict(extra="forbid")

    model: str
    conversation: str = Field(pattern=CONVERSATION_PATTERN, description="The page's id for this conversation")
    messages: list[Turn] = Field(min_length=1, max_length=MAX_MESSAGES)

    def text_length(self) -> int:
        return sum(len(turn.content) for turn in self.messages)

    @model_validator(mode="after")
    def _bounded(self):
        if self.text_length() + len(getattr(self, "reply", "")) > MAX_FEEDBACK_CHARS:
            raise ValueError(f"the conversation and reply are longer than {MAX_FEEDBACK_CHARS} characters")
        return self


class LabelRequest(FeedbackContext):
    reply: str = Field(min_length=1)
    good: bool


class PairRequest(FeedbackContext):
    temperature: float | None = Field(
        default=None,
        gt=0.0,
        le=2.0,
        description=f"Above 0, or both candidates are one; None: the clone's own, {PAIR_TEMPERATURE} where that is 0",
    )
    max_tokens: int | None = Field(default=None, ge=1)


class ChoiceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chosen: Literal[0, 1]


class Recorded(BaseModel):
    exchange_id: int


class Pair(BaseModel):
    exchange_id: int
    candidates: list[str]


class Session(BaseModel):
    """What the page needs to know about the key it holds."""

    key_name: str
    feedback: bool = Field(description="Whether this server records feedback (it has a feedback database)")
    blind: bool = Field(
        default=False, description="Whether this key may judge the blind test (`/chat/blind`) on this server"
    )


class TrialRequest(BaseModel):
    """Ask for a blind trial: a held-out moment of `model`'s owner and two replies to it."""

    model_config = ConfigDict(extra="forbid")

    model: str
    contact: str | None = Field(
        default=None,
        max_length=256,
        description="Owner's keys: judge this contact's moments only (a name the memory knows, or the dataset's "
        "`chat` key); none: any contact. A chat key always judges its own contact's and may not name another",
    )


class Trial(BaseModel):
    """A moment and two replies, the owner's and the clone's, in an order only the server knows."""

    trial_id: int
    model: str = Field(description="The clone version judged: the adapter's name as served")
    contact: str = Field(description="The dataset's `chat` key of the conversation (a hash, never a name)")
    messages: list[Turn] = Field(description="The conversation up to the reply: the friend's turn last")
    candidates: list[str] = Field(min_length=2, max_length=2, description="Left and right")


class PickRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    picked: Literal[0, 1] = Field(description="The side the judge takes for the owner's reply: 0 left, 1 right")


class PickResult(BaseModel):
    trial_id: int
    owner_side: Literal[0, 1] = Field(description="Where the owner's real reply was")
    fooled: bool = Field(description="The judge took the clone's reply for the owner's")
