"""generation.generate_answers: prompts batched by length, answers returned in the order asked."""

from slm_assets.generation import generate_answers


def chat(question: str) -> list[dict]:
    return [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question}]


def test_answers_come_back_in_the_order_asked_and_equal_one_at_a_time(tiny_model):
    model, tokenizer = tiny_model
    passage = " ".join(["A type 2 connector carries up to 43 kW of three-phase AC."] * 12)
    prompts = [chat(f"{passage} What does it carry?"), chat("Type 2?"), chat(f"{passage} {passage} Why?"),
               chat("What is CCS?"), chat(f"{passage} Which connector?")]

    together = generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=2)
    alone = [generate_answers(model, tokenizer, [p], max_new_tokens=6, batch_size=1)[0] for p in prompts]

    assert [g.text for g in together] == [g.text for g in alone]
    assert len({g.text for g in alone}) > 1  # distinct answers, so a reordering would show
    # batches of similar length: the two short questions share a batch, so they share its latency
    assert together[1].latency_s == together[3].latency_s
    assert together[1].latency_s != together[2].latency_s
