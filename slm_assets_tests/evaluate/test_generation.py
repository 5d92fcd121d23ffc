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


def test_an_answer_ends_at_any_end_of_generation_token_of_the_model(tiny_smollm2_dir):
    # Gemma ends a turn with <end_of_turn>, not its tokenizer's eos: generation must stop there too
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_smollm2_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_smollm2_dir)).eval()  # its own copy: changed below
    prompt = [chat("What is CCS?")]
    free = generate_answers(model, tokenizer, prompt, max_new_tokens=6, batch_size=1)[0]
    templated = tokenizer.apply_chat_template(prompt[0], add_generation_prompt=True, tokenize=False)
    enc = tokenizer(templated, add_special_tokens=False, return_tensors="pt")
    first = int(model(**enc).logits[0, -1].argmax())  # the greedy first answer token
    assert free.new_tokens == 6 and first != tokenizer.eos_token_id

    model.generation_config.eos_token_id = [tokenizer.eos_token_id, first]
    stopped = generate_answers(model, tokenizer, prompt, max_new_tokens=6, batch_size=1)[0]

    assert stopped.new_tokens == 1  # the stopping token itself, then nothing
    assert stopped.text == tokenizer.decode([first], skip_special_tokens=True).strip()
