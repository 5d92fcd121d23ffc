"""One meaning of echo, abstention and support for every stage."""

from slm_assets.text import (
    ABSTAIN,
    echo_score,
    is_abstention,
    is_echo,
    is_heading,
    plain_text,
    split_sentences,
    support_score,
    unwrapped_lines,
)


def test_an_answer_that_restates_the_question_is_an_echo():
    question = "What does a type B RCD detect in an EV charger?"
    assert is_echo(question, "A type B RCD detects in an EV charger.")
    assert is_echo(question, question)  # verbatim
    assert is_echo("Regarding fast charging, what does the text say about power?",
                   "Regarding fast charging, what does the text say about power? The text says")


def test_a_real_answer_is_not_an_echo_even_when_it_reuses_words():
    question = "What does a type B RCD detect?"
    assert not is_echo(question, "Smooth DC residual currents above 6 mA.")
    assert not is_echo("Is CCS2 faster than Type 2?", "Yes.")  # too short to call
    assert not is_echo("Which plug, CCS2 or CHAdeMO?", "CCS2")
    assert echo_score(question, "Smooth DC residual currents.") == 0.0


def test_abstentions_are_recognised_in_their_usual_wordings():
    assert is_abstention(ABSTAIN)
    assert is_abstention("Sorry, the passages do not mention the warranty.")
    assert is_abstention("That is not covered in the documents.")
    assert not is_abstention("The documents say 22 kW.")


def test_support_and_sentences():
    assert support_score("Type 2 carries AC power.", "The Type 2 connector carries AC power in Europe.") == 1.0
    assert support_score("Bananas are yellow.", "The Type 2 connector carries AC power.") == 0.0
    assert split_sentences("First one here. Second one.\n| a | b |\n|---|---|\n- item") == [
        "First one here.", "Second one.", "| a | b |", "- item"]


def test_prose_wrapped_at_a_fixed_width_is_one_sentence_again():
    # as reStructuredText and Markdown files are written: paragraphs wrapped near 80 characters, a title underline,
    # list items (one of them wrapped), a table and a title-case heading that must stay on their own lines
    text = ("Step 1\n======\n"
            "As mentioned above, the certificates can be installed by the CSMS. In case Plug&Charge is enabled\n"
            "and no valid SECC leaf certificate is installed or it expires within the next 30 days, the station\n"
            "will attempt to retrieve a SECC leaf certificate from the CSMS automatically.\n\n"
            "* SECC leaf certificate\n"
            "* MO Root Certificates (only if the EV contract shall be\n  verified locally)\n"
            "| key | value |\n|---|---|\n| limit | 30 days |\n"
            "Home Wallbox Installation Checklist\nThe wallbox needs a dedicated circuit.")
    assert split_sentences(text) == [
        "Step 1",
        "As mentioned above, the certificates can be installed by the CSMS.",
        "In case Plug&Charge is enabled and no valid SECC leaf certificate is installed or it expires within the "
        "next 30 days, the station will attempt to retrieve a SECC leaf certificate from the CSMS automatically.",
        "* SECC leaf certificate",
        "* MO Root Certificates (only if the EV contract shall be verified locally)",
        "| key | value |", "| limit | 30 days |",
        "Home Wallbox Installation Checklist", "The wallbox needs a dedicated circuit."]
    # a short line that ends without punctuation is a line of its own when the next starts a new sentence
    assert unwrapped_lines("Maximum current\nUp to 32 A per phase.") == ["Maximum current", "Up to 32 A per phase."]


def test_a_numbered_item_keeps_its_number_with_its_text():
    # numbered steps inline, at a line start, and a number on a line of its own (as PDF layouts put it);
    # sentences that end with a number ("Step 2.", "section 4.2.") are not item numbers
    text = ("Check the following. 1. The RCD trips. 2. RCD type B is fitted.\n3. Restart the unit.\n"
            "4.\nCall the installer when the fault stays.\nSee Step 2. Then section 4.2. Done.")
    assert split_sentences(text) == [
        "Check the following.", "1. The RCD trips.", "2. RCD type B is fitted.", "3. Restart the unit.",
        "4. Call the installer when the fault stays.", "See Step 2.", "Then section 4.2.", "Done."]
    assert split_sentences("The last step:\n5.") == ["The last step:", "5."]  # kept, never dropped


def test_a_quoted_sentence_loses_its_list_marker_and_inline_markup():
    assert plain_text("- New default with **strictly lower** ``priority`` than the *existing* one.") == (
        "New default with strictly lower priority than the existing one.")
    assert plain_text("2. See :ref:`pnc-config` and `evse_manager`; 2 * 3 * 4 = 24.") == (
        "See pnc-config and evse_manager; 2 * 3 * 4 = 24.")
    assert plain_text("An [analysis](https://www.mit.edu/~li/a.pdf) found a $400 million loss.") == (
        "An analysis found a $400 million loss.")
    assert plain_text("Read :ref:`Start of a transaction <exp-ocmf-start>` and `the OCMF spec "
                      "<https://example.org/ocmf>`_ first.") == "Read Start of a transaction and the OCMF spec first."


def test_headings_are_told_from_statements():
    for heading in ("## Step 1: pairing with SLAC", "Home Wallbox Installation Checklist",
                    "Static and Dynamic Load Balancing for EV Chargers"):
        assert is_heading(heading), heading
    for statement in ("Up to 80 A at 240 V", "Reseat the plug; try another cable",
                      "Replace, do not repair, damaged high-power connectors.", "Type 2 carries AC power in Europe."):
        assert not is_heading(statement), statement
