"""Passage windows, hybrid retrieval, and the grounding check that keeps, replaces or abstains."""

from slm_assets.retrieval.config import GroundingConfig
from slm_assets.retrieval.grounding import coverage_signals, ground_answer, quoted
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.retrieval.prompting import open_book_question, passage_window
from slm_assets.text import ABSTAIN

LONG_CHUNK = " ".join(
    [f"Filler sentence number {i} talks about cable management and wall mounting in general." for i in range(12)]
    + ["A type B RCD detects smooth DC residual currents above 6 mA."]
    + [f"Closing sentence {i} covers the paperwork after the installation is done." for i in range(12)])
PASSAGES = ["A type B RCD detects smooth DC residual currents above 6 mA. It costs more than a type A device.",
            "OCPP lets a charging station talk to its central management system."]
CONFIG = GroundingConfig(min_support=0.7)
LEXICAL = GroundingConfig(min_support=0.7, dense=False, min_relevance=0.4)


def test_the_window_holds_the_answer_sentence_of_a_long_chunk():
    window = passage_window("What does a type B RCD detect?", LONG_CHUNK, max_words=40)
    assert "smooth DC residual currents" in window and len(window.split()) <= 40
    prompt = open_book_question("What does a type B RCD detect?", [LONG_CHUNK])
    assert "smooth DC residual currents" in prompt and prompt.endswith("Question: What does a type B RCD detect?")


def test_a_supported_answer_is_kept():
    reply = ground_answer("What does a type B RCD detect?", "Smooth DC residual currents above 6 mA.", PASSAGES, CONFIG)
    assert reply.mode == "generated" and reply.text == "Smooth DC residual currents above 6 mA."


def test_an_unsupported_or_echoing_answer_is_replaced_by_the_best_passage_sentence():
    question = "What does a type B RCD detect?"
    for answer in ("It detects bananas and zebras in the garden.", "A type B RCD detects what a type B RCD detects."):
        reply = ground_answer(question, answer, PASSAGES, CONFIG)
        assert reply.mode == "extractive" and reply.text.startswith("A type B RCD detects smooth DC") and reply.passage == 0


def test_an_answer_supported_only_by_a_sentence_that_does_not_answer_the_question_is_replaced():
    question = "What does a type B RCD detect?"
    wrong_sentence = "A charging station talks to its central management system."  # every word is in passage 1
    anchored = ground_answer(question, wrong_sentence, PASSAGES, CONFIG.model_copy(update={"anchor_sentences": 1}))
    assert anchored.mode == "extractive" and anchored.text.startswith("A type B RCD detects smooth DC")
    assert anchored.support >= CONFIG.min_support  # supported: only the anchoring refused it
    unanchored = ground_answer(question, wrong_sentence, PASSAGES, CONFIG.model_copy(update={"anchor_sentences": 0}))
    assert unanchored.mode == "generated" and unanchored.text == wrong_sentence


def test_the_fallback_never_quotes_a_heading():
    # the heading holds every content word of the question and answers nothing
    passages = ["## The Downside of Static Load Balancing\nStatic load balancing wastes capacity, since it limits the "
                "chargers all the time for a peak that occurs only occasionally."]
    question = "What is the downside of static load balancing?"
    for config in (CONFIG, LEXICAL):
        reply = ground_answer(question, "Bananas and zebras.", passages, config)
        assert reply.mode == "extractive" and reply.text.startswith("Static load balancing wastes capacity"), reply


def test_the_fallback_quotes_a_wrapped_list_item_whole_and_without_its_markup():
    # a Markdown list item wrapped at a fixed width, as the real documents write them
    passages = ["The PacketSniffer module records charging sessions.\n\n"
                "- Capture files are written to the ``session_logging_path``, which defaults to a **temporary** folder\n"
                "  that is emptied on every reboot; point it at a persistent folder to keep them.\n"
                "- It needs root rights."]
    reply = ground_answer("Where does the PacketSniffer write its capture files?", "Bananas and zebras.", passages,
                          CONFIG)
    assert reply.mode == "extractive"
    assert reply.text == ("Capture files are written to the session_logging_path, which defaults to a temporary folder "
                          "that is emptied on every reboot; point it at a persistent folder to keep them.")


def test_a_quoted_sentence_that_introduces_a_list_brings_the_list():
    passages = ["Linux cannot guarantee timings.\n"
                "The safety MCU of an EVerest charger shall handle at least the following functions:\n\n"
                "1. contactor control\n2. RCD monitoring and **emergency** stop.\n3. PWM generation on the control pilot\n"
                "4. relay welding detection\n"]
    reply = ground_answer("Which functions does the safety MCU of an EVerest charger handle?", "Bananas and zebras.",
                          passages, CONFIG)
    assert reply.mode == "extractive"
    assert reply.text == ("The safety MCU of an EVerest charger shall handle at least the following functions: contactor "
                          "control; RCD monitoring and emergency stop; PWM generation on the control pilot.")
    # items that are labels with their text on the next line; a label cut off at the end is dropped
    labelled = ["The safety MCU shall handle at least the following functions:\n* Control pilot I/O:\n"
                "  It outputs the PWM and reads the states back.\n* Contactor close signal:\n  It closes the contactor."]
    sentence = coverage_signals("What does the safety MCU handle?", labelled, dense=False).sentences[0]
    assert quoted(sentence, labelled) == ("The safety MCU shall handle at least the following functions: Control pilot "
                                          "I/O: It outputs the PWM and reads the states back.")


def test_a_question_the_passages_do_not_address_gets_the_honest_answer():
    for config in (CONFIG, LEXICAL):
        reply = ground_answer("How long is the warranty of a heat pump compressor?", "Ten years.", PASSAGES, config)
        assert reply.mode == "not_covered" and reply.text == ABSTAIN
    trusting = CONFIG.model_copy(update={"trust_model_abstention": True})
    assert ground_answer("What does a type B RCD detect?", ABSTAIN, PASSAGES, trusting).mode == "not_covered"
    # by default the coverage score decides: a covered question the model declined gets the passage sentence
    declined = ground_answer("What does a type B RCD detect?", ABSTAIN, PASSAGES, CONFIG)
    assert declined.mode == "extractive" and declined.text.startswith("A type B RCD detects smooth DC")
    off = ground_answer("What does a type B RCD detect?", "Bananas.", PASSAGES, GroundingConfig(enabled=False))
    assert off.mode == "generated" and off.text == "Bananas."


def test_the_coverage_score_counts_a_paraphrase_and_refuses_a_question_that_only_shares_words():
    paraphrase = "What kind of RCD picks up direct-current leakage?"  # one content word of five in the passage
    assert coverage_signals(paraphrase, PASSAGES).covered(CONFIG)
    assert not coverage_signals(paraphrase, PASSAGES).covered(LEXICAL)
    assert ground_answer(paraphrase, "Smooth DC residual currents above 6 mA.", PASSAGES, CONFIG).mode == "generated"
    price = "How much does a type B RCD cost in euros?"  # the passage names the device, not a price
    assert coverage_signals(price, PASSAGES).covered(LEXICAL.model_copy(update={"require_asked_quantity": False}))
    reply = ground_answer(price, "About 40 euros.", PASSAGES, CONFIG)
    assert reply.mode == "not_covered" and reply.coverage < CONFIG.min_coverage


def test_the_lexical_ranking_quotes_the_sentence_with_most_of_the_question():
    best, = coverage_signals("Which system does OCPP talk to?", PASSAGES, dense=False).best(LEXICAL)
    assert best.passage == 1 and best.text.startswith("OCPP") and best.share >= 0.5


def test_the_index_vectors_of_the_passages_give_the_same_coverage_as_embedding_them_again():
    rows = [{"chunk_id": f"c{i}", "doc_id": f"d{i}", "text": text} for i, text in enumerate(PASSAGES)]
    index, _ = ChunkIndex.build(rows)
    question = "What kind of RCD picks up direct-current leakage?"
    hits = index.search(question, 2)
    passages, vectors = [h.text for h in hits], index.vectors(hits)
    assert hits[0].chunk_id == "c0" and vectors.shape == (len(hits), 384)
    embedded, stored = coverage_signals(question, passages), coverage_signals(question, passages, passage_vectors=vectors)
    assert abs(embedded.passage_cosine - stored.passage_cosine) < 1e-4 and embedded.passage_cosine > 0.3
    assert max(abs(a.cosine - b.cosine) for a, b in zip(embedded.sentences, stored.sentences, strict=True)) < 1e-4
    assert ChunkIndex.build(rows, dense=False)[0].vectors(hits) is None


def test_hybrid_search_finds_a_paraphrase_that_bm25_misses():
    rows = [{"chunk_id": "rcd", "doc_id": "d1", "text": "The residual current device trips when it senses leakage."},
            {"chunk_id": "ocpp", "doc_id": "d2", "text": "OCPP connects the station to its back office."},
            {"chunk_id": "pv", "doc_id": "d3", "text": "Solar panels on the roof can feed the wallbox."}]
    question = "Why does my breaker switch off on a leak to ground?"
    bm25_only, _ = ChunkIndex.build(rows, dense=False)
    hybrid, stats = ChunkIndex.build(rows)
    assert bm25_only.search(question, 1) == []  # no shared term
    assert hybrid.search(question, 1)[0].chunk_id == "rcd" and stats.chunks == 3


def test_a_supported_answer_that_opens_with_yes_or_no_is_replaced_unless_configured():
    """Its words are all in the passages, but its polarity is not something the support check can see."""
    question = "Can a type B RCD see a DC leak?"
    answer = "No, smooth DC residual currents above 6 mA."
    assert ground_answer(question, answer.removeprefix("No, "), PASSAGES, CONFIG).mode == "generated"
    replaced = ground_answer(question, answer, PASSAGES, CONFIG)
    assert replaced.mode == "extractive" and replaced.text.startswith("A type B RCD detects smooth DC")
    kept = ground_answer(question, answer, PASSAGES, CONFIG.model_copy(update={"keep_yes_no_answers": True}))
    assert kept.mode == "generated" and kept.text == answer


def test_the_fallback_quotes_by_cosine_and_share_when_dense_and_by_share_alone_when_not():
    from slm_assets.retrieval.grounding import CoverageSignals, ScoredSentence

    wordy = ScoredSentence("shares many words", 0, share=0.8, match=0.8, cosine=0.30)
    close = ScoredSentence("means the same", 1, share=0.4, match=0.4, cosine=0.70)
    signals = CoverageSignals(0.8, 0.7, 0.7, (wordy, close))
    assert signals.best(CONFIG) == [close]  # 0.70 + 0.25 x 0.4 > 0.30 + 0.25 x 0.8
    assert signals.best(LEXICAL) == [wordy]
    assert signals.best(CONFIG.model_copy(update={"fallback_share_weight": 2.0})) == [wordy]


def test_the_fallback_prefers_a_stating_sentence_after_the_one_that_names_the_topic():
    """A short label that shares the question's words loses to the longer sentence after it, which answers."""
    from slm_assets.retrieval.grounding import CoverageSignals, ScoredSentence

    label = ScoredSentence("A DC meter: used for billing when fitted.", 0, share=0.6, match=0.6, cosine=0.62)
    answer = ScoredSentence("Without one, billing falls back to the meter on the AC side of the charger.", 0,
                            share=0.4, match=0.4, cosine=0.55, preceding_share=0.6)
    signals = CoverageSignals(0.6, 0.62, 0.7, (label, answer))
    assert signals.best(CONFIG) == [answer]  # 0.55 + 0.1 + 0.1 x ln 15 + 0.2 x 0.6 > 0.62 + 0.15 + 0.1 x ln 8
    assert signals.best(CONFIG.model_copy(update={"fallback_length_weight": 0.0,
                                                  "fallback_context_weight": 0.0})) == [label]


def test_each_passage_sentence_knows_the_question_words_of_the_sentence_before_it():
    passages = ["A DC meter on the output: billing uses it when one is fitted. When no DC meter is fitted, billing "
                "falls back to the power meter on the AC side. The display shows the session energy.",
                "Chargers report their meter values to the back office every minute."]
    sentences = coverage_signals("Which meter is used for billing without a DC meter?", passages, dense=False).sentences
    assert [s.passage for s in sentences] == [0, 0, 0, 1]
    shares = [s.share for s in sentences]
    assert shares[0] > 0 and shares[2] == 0.0  # the display sentence shares none of the question's words
    # the first sentence of each passage has nothing before it
    assert [s.preceding_share for s in sentences] == [0.0, shares[0], shares[1], 0.0]


def test_the_benchmark_grounds_every_model_with_one_coverage_computation_per_question(monkeypatch):
    """served_answers given the questions' coverage signals computes none and replies exactly as without them."""
    from slm_assets.evaluate.benchmark import coverage_of, served_answers
    from slm_assets.generation import Generated
    from slm_assets.retrieval import grounding

    rows = [{"question": "What does a type B RCD detect?"}, {"question": "What does OCPP let a station do?"},
            {"question": "How long is the warranty of a heat pump compressor?"}]
    passages = [PASSAGES, PASSAGES[::-1], PASSAGES]
    answers = {"kept": ["Smooth DC residual currents above 6 mA.", "Talk to its central management system.",
                        "Ten years."],
               "replaced": ["Bananas.", "What does OCPP let a station do?", ABSTAIN]}
    alone = {m: served_answers(rows, [Generated(a, 0.1, 3) for a in texts], passages, CONFIG)
             for m, texts in answers.items()}
    coverage = coverage_of(rows, passages, CONFIG)

    def not_again(*args, **kwargs):
        raise AssertionError("coverage_signals called although the coverage was given")

    monkeypatch.setattr(grounding, "coverage_signals", not_again)
    shared = {m: served_answers(rows, [Generated(a, 0.1, 3) for a in texts], passages, CONFIG, coverage)
              for m, texts in answers.items()}
    assert {m: [g.text for g in gens] for m, gens in shared.items()} == {
        m: [g.text for g in gens] for m, gens in alone.items()}
    assert alone["kept"][0].text == answers["kept"][0] and alone["replaced"][0].text != "Bananas."


def test_the_benchmark_grounds_open_book_answers_from_the_stored_passage_vectors_as_the_server_does(monkeypatch):
    """open_book_prompts keeps each question's stored passage vectors, so the coverage the benchmark's served rows
    are grounded with embeds the question and sentences only (the server's path), with the same signals."""
    from slm_assets.evaluate.benchmark import coverage_of, open_book_prompts
    from slm_assets.retrieval import embedder

    index, _ = ChunkIndex.build([{"chunk_id": f"c{i}", "doc_id": f"d{i}", "text": t} for i, t in enumerate(PASSAGES)])
    rows = [{"question": q, "prompt": [{"role": "user", "content": q}], "chunk_id": c}
            for q, c in (("What does a type B RCD detect?", "c0"), ("What does OCPP let a station talk to?", "c1"))]
    book = open_book_prompts(rows, index, 2)
    assert book.recall == 1.0
    assert [v.shape for v in book.passage_vectors] == [(len(p), 384) for p in book.passages]
    real_embed = embedder.embed

    def embedded_texts(*args):
        seen: list[str] = []
        monkeypatch.setattr(embedder, "embed", lambda texts, *a, **kw: seen.extend(texts) or real_embed(texts, *a, **kw))
        return coverage_of(rows, book.passages, CONFIG, *args), seen

    embedded, embedded_seen = embedded_texts()
    stored, stored_seen = embedded_texts(book.passage_vectors)

    assert PASSAGES[0] in embedded_seen and PASSAGES[0] not in stored_seen  # a two-sentence passage, not re-embedded
    for a, b in zip(embedded, stored, strict=True):
        assert abs(a.passage_cosine - b.passage_cosine) < 1e-4 and a.relevance == b.relevance


def test_a_question_asking_for_a_quantity_the_passages_do_not_state_gets_the_honest_answer():
    """On-topic passages that share the question's words but hold no value of the kind asked do not answer it;
    the same passages with such a value do."""
    passages = ["A CCS2 connector combines the Type 2 AC contacts with two DC pins underneath. CCS2 connectors "
                "are rated for frequent plugging on public chargers and need little maintenance.",
                "The CCS2 inlet on the car locks the connector during a DC session."]
    question = "How many mating cycles is a CCS2 connector rated for?"
    alone = CONFIG.model_copy(update={"require_asked_quantity": False})
    assert coverage_signals(question, passages).covered(alone)  # close enough by words and cosine alone
    reply = ground_answer(question, "It is rated for frequent plugging.", passages, CONFIG)
    assert reply.mode == "not_covered" and reply.text == ABSTAIN
    rated = [passages[0].replace("rated for frequent plugging", "rated for 10,000 mating cycles"), passages[1]]
    assert ground_answer(question, "It is rated for frequent plugging.", rated, CONFIG).mode == "extractive"
    assert ground_answer("Is a CCS2 connector rated for frequent plugging?", "Yes.", passages, CONFIG).mode != \
        "not_covered"  # a yes/no question asks for no value


def test_the_fallback_quotes_a_sentence_that_states_the_value_asked_for_before_a_closer_one_that_does_not():
    question = "How wide does an accessible charging bay need to be?"
    passages = ["An accessible charging bay needs space beside the car for a wheelchair user. Design teams commonly "
                "provide a bay of at least 3.6 m width. The surface should be level and firm."]
    without_rule = CONFIG.model_copy(update={"require_asked_quantity": False})
    signals = coverage_signals(question, passages)
    assert "3.6 m" not in signals.best(without_rule)[0].text  # the closest sentence by words and cosine
    assert "3.6 m" in signals.best(CONFIG)[0].text
    reply = ground_answer(question, "It must be accessible.", passages, CONFIG)
    assert reply.mode == "extractive" and "at least 3.6 m width" in reply.text
