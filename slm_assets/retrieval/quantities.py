"""Which kind of quantity a question asks for, and whether a text states one of that kind.

A question that asks "how much does it cost", "how heavy", "how often" or "what power" is answered only by a
number in the right unit. Passages on the question's topic that hold no such number do not answer it, however
close their words are: that is how most unanswerable questions about a well-covered topic look ("How many mating
cycles is a CCS2 connector rated for?" beside pages about CCS2). With `GroundingConfig.require_asked_quantity`
the grounding check declines those, and its extractive fallback quotes a sentence that states such a value first.

Only questions that ask for a value count: a yes/no, why, when, which, who or where question asks for none. The
kinds: money, weight, length, duration (and frequency), electrical (power, energy, current, voltage), share,
emissions, loss (any of electrical, share, money), and `count:<thing>` for "how many <things>" (a number standing
just before the things). Measured on the gold sets by `bench/quantity_check.py`.
"""

import re

DIGITS = r"\d[\d,.]*"
NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
                r"sixty|ninety|hundred|thousand|million|a few|several")
WORDS = rf"(?:{NUMBER_WORDS}|half an?|an?|a couple of)"  # a number word before a unit: "an hour", "five seconds"


def _value(units: str, short_units: str = "") -> str:
    """A number with one of `units` (after a digit or a number word) or of `short_units` (one- or two-letter
    symbols such as "s" or "m", after a digit only, so that "as" or "am" never count)."""
    value = rf"\b(?:{DIGITS}|{WORDS})[\s-]?(?:{units})\b"
    return value + (rf"|\b{DIGITS}\s?(?:{short_units})\b" if short_units else "")


# "how long" and the like ask only where they open the question or a clause after a comma: "What chargers suit a
# car park, given how long shoppers stay?" asks for chargers
HOW = r"(?:^|,\s*)(?:so |and |then |roughly |about |approximately |typically |usually )?how"

# kind -> (what in a question asks for it, what in a text states it); matched case-insensitively
_KINDS: dict[str, tuple[str, str]] = {
    "money": (
        rf"{HOW} much\b[^?]*\b(?:costs?|charges?|pay|price[sd]?|fees?)\b|"
        r"\bwhat (?:does|do|did|would|will)\b[^?]*\b(?:cost|charge|pay)\b|\bwhat(?:'s| is| are)? the (?:price|cost|fee)s?\b|"
        r"\bprice of\b",
        r"[€$£¥]|\b(?:eur|euros?|usd|dollars?|gbp|pounds? sterling|pence|cents?|ct)\b|\d\s?p/kwh|"
        rf"\b(?:costs?|pay|paid|prices?|fees?|charges?)\s+(?:of |is |are |at )?(?:about |around |roughly |only |just )?"
        rf"{DIGITS}|\b\d+\.\d\d\b|\d\s?%\s+(?:\w+\s+)?fee",
    ),
    "weight": (
        r"\b(?:heavy|heavier|weigh\w*)\b",
        _value(r"kilo\w*|grams?|pounds|tonnes?|tons?", r"kg|g|lbs?|t"),
    ),
    "length": (
        rf"{HOW} (?:far|high|low|tall|wide|deep|thick)\b|\bdistance\b|\bclearance\b|{HOW} long (?:is|are|must|should)"
        r" (?:the |a |an )?(?:cable|lead|wire|run)s?\b|\bmiles of range\b|" rf"{HOW} many (?:miles|km|kilometres)\b",
        _value(r"metres?|meters?|feet|foot|inch(?:es)?|miles?|kilomet(?:re|er)s?", r"mm|cm|m|km|ft|mi"),
    ),
    "duration": (
        rf"{HOW} (?:long|often|soon|frequently)\b|\binterval\b|\bwarrant(?:y|ies)\b|\blife ?(?:time|span)\b|"
        rf"{HOW} many (?:days|hours|minutes|seconds|weeks|months|years|times a)\b|\bper (?:day|week|month|year)\b",
        _value(r"secs?|seconds?|mins?|minutes?|hrs?|hours?|days?|weeks?|months?|years?", r"ms|s|h")
        + r"|\b(?:daily|weekly|monthly|yearly|annually|hourly|overnight)\b|"
        r"\bevery (?:\d|few|other|day|night|week|month|year|hour|minute|second|one|two|three|four|five|six|ten)",
    ),
    "electrical": (
        rf"{HOW} (?:much|many) (?:power|energy|current|heat|amps?|kwh|kw|watts?|volts?|voltage)\b|"
        r"^(?:\w+ )?what (?:voltage|current|power|rating)\b|\bstandby (?:power|consumption|draw)\b|"
        r"\bmax(?:imum)? power\b",
        _value(r"kwh|wh|kw|mw|kva|amps?|amperes?|watts?|volts?", r"W|A|mA|V|kV|VA"),
    ),
    "share": (
        rf"{HOW} efficient\b|\befficiency\b|\bwhat (?:share|fraction|proportion|percentage|percent)\b",
        r"%|\bper ?cent\b|\bpercent\b|\b(?:half|a third|a quarter)\b",
    ),
    "emissions": (
        r"\bco2\b|\bemissions?\b|\bcarbon\b",
        rf"\b{DIGITS}\s?(?:g|kg|t|tonnes?)(?:\s?co2)?(?:/| per )|\bg ?co2\b|\bgco2\b",
    ),
}
# "how much is lost": energy, a share or money all answer it
_KINDS["loss"] = (rf"{HOW} much (?:\w+ )*(?:is |gets |does \w+ )?(?:lost|lose)\b",
                  "|".join(_KINDS[kind][1] for kind in ("electrical", "share", "money")))
_ASKS = {kind: re.compile(asks, re.IGNORECASE) for kind, (asks, _) in _KINDS.items()}
_STATES = {kind: re.compile(states, re.IGNORECASE) for kind, (_, states) in _KINDS.items()}
# A question that opens like these asks for yes or no, a reason, a date, a name or a place, not for a value.
_ASKS_NO_VALUE = re.compile(r"^\s*(?:why|when|until when|which|who|where|is|are|was|were|can|could|do|does|did|"
                            r"should|shall|will|would|must|may|has|have|had)\b", re.IGNORECASE)


# "how many <things>": a count of things, answered by a number standing just before the thing counted
_HOW_MANY = re.compile(HOW + r" many ((?:[\w-]+ ){0,3}?[\w-]+?)(?= (?:do|does|did|is|are|was|were|can|could|"
                       r"should|would|will|must|on|in|per|a|an|the|for|of|at|to|has|have|before|after|there|we|i|you|"
                       r"it|they)\b|\?|$)", re.IGNORECASE)
COUNT = "count:"  # the kind "count:<thing>" counts <thing>
# a number before the things counted, never "a"/"an" ("a CCS2 connector ... cycles" counts nothing)
_COUNT_WORDS = rf"(?:{DIGITS}|{NUMBER_WORDS}|dozens?|single|dual|twin|double|triple|both)"


def asked_quantities(question: str) -> set[str]:
    """The kinds of quantity `question` asks for (empty: it asks for none, or for yes or no). A question may ask
    for more than one kind ("how much charge is lost": energy or a share); any of them answers it. "How many
    mating cycles" asks for `count:cycle`; "how many kWh" or "how many days" ask for the unit's kind instead."""
    asked = question_sentence(question)
    if _ASKS_NO_VALUE.match(asked):
        return set()
    kinds = {kind for kind, pattern in _ASKS.items() if pattern.search(asked)}
    if not kinds and (counted := _HOW_MANY.search(asked)):
        kinds.add(COUNT + _singular_stem(counted.group(1).split()[-1].lower()))
    return kinds


def question_sentence(question: str) -> str:
    """The sentence that asks: the last one ending with "?" ("My car does 100 miles on 30 kWh. How long does
    Level 1 take?" asks the second), else the whole text."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", question.strip()) if p]
    asking = [p for p in parts if p.endswith("?")]
    return asking[-1] if asking else question


def states_quantity(text: str, kinds: set[str]) -> bool:
    """`text` states a value of one of `kinds` (True when `kinds` is empty: nothing was asked)."""
    return not kinds or any(_states(text, kind) for kind in kinds)


def _singular_stem(word: str) -> str:
    """What the singular and the plural of a counted thing start with: "cycles" -> "cycle", "batteries" ->
    "batter"."""
    if word.endswith("ies"):
        return word[:-3]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _states(text: str, kind: str) -> bool:
    if kind.startswith(COUNT):
        thing = re.escape(kind[len(COUNT):])
        return re.search(rf"\b{_COUNT_WORDS}[\s-]+(?:[\w-]+\s+){{0,3}}{thing}", text, re.IGNORECASE) is not None
    return _STATES[kind].search(text) is not None
