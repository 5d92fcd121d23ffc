"""The offline teacher derives grounded pairs by rule; the gates reject what they should."""

from slm_assets.synth.config import SynthConfig
from slm_assets.synth.gates import QuestionDeduper, gate_failure, support_score
from slm_assets.synth.offline_teacher import OfflineTeacher
from slm_assets.synth.records import ChunkForSynth, QAPair
from slm_assets.text import is_echo

CHUNK = ChunkForSynth(
    chunk_id="c1", doc_id="d1", heading="Connector types", title="Connectors", source="x.html", page_start=None,
    text=("## Connector types\n\nThe Type 2 connector is the standard AC plug for public charging in Europe. "
          "A Level 2 home charger delivers up to 7.4 kW on a single-phase circuit.\n\n"
          "| Connector | Max power |\n|---|---|\n| CHAdeMO | 62.5 kW |\n| CCS2 | 350 kW |\n\n"
          "1. Park the car\n2. Plug in the cable\n3. Start the session in the app"),
)


def test_pairs_are_derived_from_the_text_and_grounded():
    pairs = OfflineTeacher().pairs_for_chunk(CHUNK)
    by_question = {p.question: p for p in pairs}
    assert any(q.lower().startswith(("what is the type 2", "can you explain what the type 2", "what exactly is the type 2",
                                     "the type 2 connector: what"))
               for q in by_question)
    numeric = next(p for p in pairs if p.question_type == "numeric" and "7.4 kW" in p.answer)
    assert numeric.question == "How much power does a Level 2 home charger deliver?"
    assert any("CHAdeMO" in p.question and "62.5 kW" in p.answer for p in pairs)
    assert any(p.question_type == "procedure" and "Plug in the cable" in p.answer for p in pairs)
    for pair in pairs:
        assert support_score(pair.answer, CHUNK.text) >= 0.9, pair
    assert OfflineTeacher().pairs_for_chunk(CHUNK) == pairs  # deterministic


def test_questions_are_natural_and_answers_do_not_restate_them():
    chunk = ChunkForSynth(
        chunk_id="c2", doc_id="d2", heading="Protection", title="RCDs", source="y.html", page_start=None,
        text=("A type B RCD is required because DC fault currents can blind a type A device. "
              "If the RCD trips repeatedly, check the cable for insulation damage. "
              "The control pilot cannot signal less than 6 A, and most cars will not charge below that. "
              "A liquid-cooled cable carries up to 500 A without overheating the handle."))
    pairs = OfflineTeacher().pairs_for_chunk(chunk)
    by_type = {}
    for pair in pairs:
        by_type.setdefault(pair.question_type, []).append(pair)
        assert not is_echo(pair.question, pair.answer), pair
        assert "fill in the blank" not in pair.question.lower() and "the text say" not in pair.question.lower()
    why = by_type["why"][0]
    assert why.question == "Why is a type B RCD required?" and why.answer.startswith("Because DC fault currents")
    assert any(p.answer.startswith("Yes, because") for p in by_type["yes_no"])
    assert any(p.answer == "No, the control pilot cannot, and most cars will not charge below that."
               for p in by_type["yes_no"])
    procedure = by_type["procedure"][0]
    assert "if the RCD trips repeatedly" in procedure.question and procedure.answer.startswith("Check the cable")
    assert any(p.question == "What current does a liquid-cooled cable carry?" for p in by_type["numeric"])


def test_the_echo_gate_drops_a_pair_that_restates_its_question():
    echo = QAPair(question="What does the Type 2 connector do in Europe?",
                  answer="In Europe, the Type 2 connector does what the Type 2 connector does.")
    assert gate_failure(echo, CHUNK.text, SynthConfig()) == "answer_restates_question"


def test_gates_reject_ungrounded_refusals_and_bad_lengths():
    config = SynthConfig()
    ok = QAPair(question="What is the Type 2 connector?", answer="The standard AC plug for public charging in Europe.")
    assert gate_failure(ok, CHUNK.text, config) is None
    off_topic = QAPair(question="Who won the football world cup?", answer="Argentina won the tournament in Qatar.")
    assert gate_failure(off_topic, CHUNK.text, config).startswith("ungrounded")
    refusal = QAPair(question="What is the price of charging?", answer="I'm sorry, the passage does not say that.")
    assert gate_failure(refusal, CHUNK.text, config) == "refusal_or_boilerplate"
    assert gate_failure(QAPair(question="What is CCS2 max power?", answer="350"), CHUNK.text, config).startswith("answer_too_short")


def test_question_deduper_catches_near_duplicates_only():
    dedup = QuestionDeduper()
    dedup.add("q1", "What is the maximum power of a CCS2 connector at a public fast charger?")
    assert dedup.duplicate_of("What is the maximum power of a CCS2 connector at a public fast charger ?") == "q1"
    assert dedup.duplicate_of("How long does a Level 2 charger take to fill a 60 kWh battery?") is None


def test_table_columns_that_are_not_words_make_no_questions():
    from slm_assets.synth.offline_questions import table_pairs

    table = ("| Field | Card. | Type | Description |\n|---|---|---|---|\n"
             "| price | 1 | number | Price per kWh excluding VAT |\n| min_duration | ? | ? | Minimum session length |")
    pairs = table_pairs(table)
    # the value alone answers; a value under three words keeps its sentence (the pair gates want three)
    assert [p.answer for p in pairs] == ["The type of price is number.", "Price per kWh excluding VAT.",
                                         "Minimum session length."]
    assert pairs[0].question in ("What is the type of price?", "What type does price have?")


def test_definition_and_number_answers_are_the_part_that_answers():
    from slm_assets.synth.offline_questions import definition, number

    [pair] = definition("A Type 2 connector is the standard AC plug for public charging in Europe.")
    assert pair.answer == "The standard AC plug for public charging in Europe."
    [pair] = number("Most public DC chargers deliver 50 kW, and some deliver up to 150 kW.")
    assert pair.question == "How much power do most public DC chargers deliver?"
    assert pair.answer == "50 kW, and some deliver up to 150 kW."
    [short] = definition("The Type 2 connector is common.")  # too short to stand alone: the sentence answers
    assert short.answer == "The Type 2 connector is common."


def test_a_numbered_step_in_prose_makes_pairs_from_its_text_not_its_number():
    from slm_assets.synth.offline_questions import sentence_pairs

    step = "2. A Level 2 home charger delivers up to 7.4 kW on a single-phase circuit."
    pairs = sentence_pairs(step)
    assert pairs == sentence_pairs(step[3:])  # the pairs of the item's text, as if the number were not there
    assert any("7.4 kW" in p.answer for p in pairs)
    assert not [p for p in pairs if p.answer.startswith("2.") or "2. A" in p.question]


def test_a_negated_statement_becomes_a_yes_no_question_answered_no():
    from slm_assets.synth.offline_questions import negation, sentence_pairs

    [pair] = negation("EVerest does not calculate session costs locally.")
    assert (pair.question, pair.answer) == ("Does EVerest calculate session costs locally?", "No, EVerest does not.")
    [pair] = negation("You do not need to file a separate VAT return yourself.")  # the user asks as "I"
    assert (pair.question, pair.answer) == ("Do I need to file a separate VAT return myself?", "No, you do not.")
    [pair] = negation("Domestic sockets are not designed for continuous load, so cables are set to 8-10 A.")
    assert pair.question == "Are domestic sockets designed for continuous load?"
    assert pair.answer == "No, domestic sockets are not, so cables are set to 8-10 A."
    # a conditional negation is neither yes nor no
    assert negation("The charger does not start unless the car is locked.") == []
    # a negated modal with an addition is asked once, answered "No" (capability asks only the positive ones)
    pairs = [p for p in sentence_pairs("The control pilot cannot signal less than 6 A, and most cars stop below it.")
             if p.question_type == "yes_no"]
    assert [(p.question, p.answer) for p in pairs] == [
        ("Can the control pilot signal less than 6 A?", "No, the control pilot cannot, and most cars stop below it.")]


def test_a_bare_yes_or_no_is_grounded_by_the_question_it_answers():
    config = SynthConfig()
    bare_no = QAPair(question="Is the Type 2 connector the standard DC plug in Europe?", answer="No, it is not.")
    assert gate_failure(bare_no, CHUNK.text, config) is None  # "it is not" names nothing; the question does
    off_topic = QAPair(question="Is the football world cup played in Qatar every year?", answer="No, it is not.")
    assert gate_failure(off_topic, CHUNK.text, config).startswith("ungrounded")  # nor is the question in the chunk
    named = QAPair(question="Is the Type 2 connector the standard DC plug?", answer="No, Argentina won in Qatar.")
    assert gate_failure(named, CHUNK.text, config).startswith("ungrounded")  # an answer that names things is checked alone
