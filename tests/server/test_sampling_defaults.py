"""An adapter's tuned sampling: it fills what a client leaves unset, and replaces everything under override."""

from __future__ import annotations

from wechat_twin.server.api.sampling import SamplingFields

TUNED = {"temperature": 0.6, "top_p": 0.9, "presence_penalty": 0.2, "frequency_penalty": 0.5, "repetition_penalty": 1.2}


def test_unset_fields_take_the_tuned_values_and_sent_ones_win():
    sent = SamplingFields(model="me", temperature=0.9, presence_penalty=0.0)
    options = sent.sampling(16, TUNED)
    assert (
        options.temperature,
        options.top_p,
        options.presence_penalty,
        options.frequency_penalty,
        options.repetition_penalty,
    ) == (0.9, 0.9, 0.0, 0.5, 1.2)


def test_override_replaces_what_the_client_sends():
    options = SamplingFields(model="me", temperature=0.9, repetition_penalty=1.0).sampling(16, TUNED, override=True)
    assert (
        options.temperature,
        options.top_p,
        options.presence_penalty,
        options.frequency_penalty,
        options.repetition_penalty,
    ) == (0.6, 0.9, 0.2, 0.5, 1.2)


def test_without_tuned_values_the_request_is_as_sent():
    fields = SamplingFields(model="me", temperature=0.9)
    assert fields.sampling(16) == fields.sampling(16, {}) == fields.sampling(16, None, override=True)
    assert fields.sampling(16).temperature == 0.9 and fields.sampling(16).top_p == 1.0
