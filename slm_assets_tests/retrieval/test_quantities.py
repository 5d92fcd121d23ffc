"""Which quantity a question asks for, and whether a text states one of that kind."""

import pytest

from slm_assets.retrieval.quantities import asked_quantities, question_sentence, states_quantity


@pytest.mark.parametrize(("question", "kinds"), [
    ("Roughly what does a 150 kW DC charger cost to buy?", {"money"}),
    ("How heavy is a typical 32 A Type 2 charging cable?", {"weight"}),
    ("How far from the gas meter does a wallbox have to be mounted?", {"length"}),
    ("How often do the billing meters have to be re-verified?", {"duration"}),
    ("After isolating a DC cabinet, how long before I can touch anything inside?", {"duration"}),
    ("What's the standby power draw of a typical home wallbox?", {"electrical"}),
    ("How efficient is wireless charging compared with a cable?", {"share"}),
    ("How many mating cycles is a CCS2 connector rated for?", {"count:cycle"}),
    ("How many kWh does warming the battery use?", {"electrical"}),  # a unit, not a count of things
    ("My car does 100 miles on 30 kWh. How long does Level 1 take to put that back?", {"duration"}),
])
def test_a_question_that_asks_for_a_value_names_its_kind(question, kinds):
    assert asked_quantities(question) == kinds


@pytest.mark.parametrize("question", [
    "Are OCPI tariff prices VAT-inclusive?",  # yes or no
    "We're moving to OCPP 2.1. Are its tariff and cost requirements implemented?",  # the asking sentence decides
    "Why did my friend pay less than me at the same charger?",  # a reason
    "When do idle fees usually start?",  # a moment
    "Which UK supplier has the cheapest overnight tariff?",  # a name
    "What chargers suit a supermarket car park, given how long shoppers stay?",  # "how long" is not what it asks
    "What's a demand charge on a business electricity bill?",  # a definition
    "What does the control pilot do?",
])
def test_a_question_that_asks_for_no_value_names_none(question):
    assert asked_quantities(question) == set()


def test_the_asking_sentence_is_the_last_one_with_a_question_mark():
    assert question_sentence("The meter reads 30 kWh. Is that right? Thanks.") == "Is that right?"
    assert question_sentence("max power type 1 J1772 AC") == "max power type 1 J1772 AC"


@pytest.mark.parametrize(("text", "kinds", "states"), [
    ("Staying 30 minutes after charging ends costs 6.00.", {"money"}, True),
    ("Drivers pay 0.55 EUR per kWh.", {"money"}, True),
    ("Prices depend on the operator.", {"money"}, False),
    ("The cable weighs about 3 kg.", {"weight"}, True),
    ("A bay of at least 3.6 m width.", {"length"}, True),
    ("The charger restarts after about five seconds.", {"duration"}, True),
    ("It works as a gateway; send a heartbeat to every charger.", {"duration"}, False),  # "as", "every charger"
    ("The wallbox delivers 11 kW on three phases.", {"electrical"}, True),
    ("AC charging loses 7 to 15 % in the charger.", {"share"}, True),
    ("The connector is rated for 10,000 mating cycles.", {"count:cycle"}, True),
    ("CCS2 connectors are rated for frequent mating.", {"count:cycle"}, False),
    ("The charger switches between single-phase and three-phase charging.", {"count:phase"}, True),
    ("The Hydra has dual connectors.", {"count:connector"}, True),
    ("Anything at all.", set(), True),  # nothing asked: nothing to state
])
def test_a_text_states_a_value_only_in_a_unit_of_the_kind_asked(text, kinds, states):
    assert states_quantity(text, kinds) is states
