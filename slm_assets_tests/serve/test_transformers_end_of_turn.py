"""The transformers backend ends an answer at every end-of-generation token of the model, the tokenizer's eos too
(a chat model's end of turn), one request at a time and under continuous batching, streamed or not."""

import pytest

from slm_assets.testing.tokenizer_end_of_turn import save_model_with_tokenizer_only_end_of_turn

MESSAGES = [{"role": "user", "content": "What is a charger?"}]


@pytest.fixture(scope="module")
def model_dir(tiny_smollm2_dir, tmp_path_factory):
    target = tmp_path_factory.mktemp("end-of-turn") / "model"
    save_model_with_tokenizer_only_end_of_turn(tiny_smollm2_dir, target, MESSAGES)
    return target


@pytest.mark.parametrize("slots", [1, 2])
def test_an_answer_ends_at_an_end_of_turn_token_only_the_tokenizer_knows(model_dir, tmp_path, slots):
    from slm_assets.serve.backends import TransformersBackend

    backend = TransformersBackend(model_dir, cache_dir=tmp_path, device="cpu", slots=slots, n_ctx=256)
    try:
        whole = backend.chat(MESSAGES, 8, 0.0)
        streamed = list(backend.chat(MESSAGES, 8, 0.0, stream=True))
    finally:
        backend.close()
    # the end-of-turn token was the first answer token: nothing before it, and it is not counted
    assert (whole.text, whole.finish_reason, whole.completion_tokens) == ("", "stop", 0)
    last = streamed[-1]
    assert ("".join(d.text for d in streamed), last.finish_reason, last.completion_tokens) == ("", "stop", 0)
