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


class RecordingModel:
    """The tiny model, recording in which thread and with how many torch threads each batch was generated."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def generate(self, **kwargs):
        import threading

        import torch

        self.calls.append((threading.current_thread().name, torch.get_num_threads()))
        return self.model.generate(**kwargs)


def test_batches_generated_at_once_give_the_same_answers_and_share_the_threads(tiny_model):
    import torch

    model, tokenizer = tiny_model
    passage = " ".join(["CCS2 charges at up to 350 kW DC."] * 10)
    prompts = [chat(f"{passage} What power?"), chat("CCS2?"), chat(f"{passage} {passage} Why?"), chat("Type 2?"),
               chat(f"{passage} Which plug?"), chat("kW?")]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one_at_a_time = generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=2)
        recording = RecordingModel(model)
        together = generate_answers(recording, tokenizer, prompts, max_new_tokens=6, batch_size=2, workers=2)
        threads_after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)

    assert [g.text for g in together] == [g.text for g in one_at_a_time]
    assert [g.new_tokens for g in together] == [g.new_tokens for g in one_at_a_time]
    # three batches, each in a worker thread on one of the two torch threads; the setting is restored after
    assert len(recording.calls) == 3
    assert all(name.startswith("generate") and threads == 1 for name, threads in recording.calls)
    assert threads_after == 2


def test_sets_submitted_together_give_each_the_answers_it_gets_alone(tiny_model):
    import torch

    from slm_assets.generation import BatchedAnswers

    model, tokenizer = tiny_model
    first = [chat("What is CCS?"), chat("Type 2?"), chat("How many kW does a home wallbox give?")]
    second = [chat("Why does a session stop at 80 %?"), chat("CHAdeMO?")]
    alone = [[g.text for g in generate_answers(model, tokenizer, p, max_new_tokens=6, batch_size=2)]
             for p in (first, second)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with BatchedAnswers(tokenizer, max_new_tokens=6, batch_size=2, workers=2) as batched:
            pending = [batched.submit(model, p) for p in (first, second)]
            together = [[g.text for g in answers.result()] for answers in pending]
    finally:
        torch.set_num_threads(before)

    assert together == alone
    assert all(answers.seconds > 0 for answers in pending)
