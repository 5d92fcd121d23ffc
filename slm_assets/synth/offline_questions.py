"""Question strategies of the offline teacher: one sentence (or table row, or list) in, natural questions out.

Each strategy asks what a person would ask about the fact (a definition, a number with its unit, a condition, a
reason, a yes/no with its reason, a "no" from a negated statement, a table value) and answers minimally: the part
of the sentence that answers, never the sentence the question was made from when that would only restate the
question. Phrasings vary by a hash of the sentence, so a corpus yields several question shapes per strategy,
deterministically.
"""

import hashlib
import re

from slm_assets.synth.records import QAPair
from slm_assets.text import ITEM_NUMBER, unwrapped_lines

SUBJECT = r"(?P<subject>(?:(?:The|A|An|Most|Many|Some|Each|Every|Your|Modern)\s+)?[A-Za-z0-9][\w\-/()' ]{1,60}?)"
COPULA = re.compile(SUBJECT + r"\s+(?P<verb>is|are|refers to|means|stands for)\s+(?P<rest>.{6,})$")
VERB = re.compile(
    SUBJECT + r"\s+(?P<verb>delivers|deliver|provides|provide|uses|use|supports|support|requires|require|"
    r"reduces|reduce|allows|allow|needs|need|takes|take|costs|cost|carries|carry|charges|charge|draws|draw|"
    r"limits|limit|detects|detect|protects|protect|sends|send|measures|measure)\s+(?P<rest>.{4,})$"
)
MODAL = re.compile(SUBJECT + r"\s+(?P<modal>can|must|should|may|cannot|must not|should not)\s+(?P<rest>.{6,})$")
CONDITION = re.compile(r"^(?P<cond>If|When|Before|After|Once|Unless)\s+(?P<clause>[^,]{6,120}),\s+(?P<main>.{6,})$")
REASON = re.compile(r"^(?P<claim>.{12,}?)(?:,)?\s+(?P<link>because|since|so that|in order to|to avoid|to prevent)\s+"
                    r"(?P<why>.{6,})$")
NUMBER_UNIT = re.compile(
    r"\b\d[\d,.]*\s?(?P<unit>kW|kWh|V|A|mA|Hz|%|°C|minutes|minute|hours|hour|km|miles|mm²|mm2|ms|seconds|years|"
    r"kVA|cents|EUR|USD|GBP|€|\$)(?![\w])"
)
UNIT_QUESTION = {
    "kW": "How much power", "kVA": "How much power", "kWh": "How much energy", "V": "What voltage",
    "A": "What current", "mA": "What current", "Hz": "What frequency", "%": "What percentage",
    "°C": "What temperature", "minutes": "How long", "minute": "How long", "hours": "How long", "hour": "How long",
    "seconds": "How long", "ms": "How long", "years": "How many years", "km": "How far", "miles": "How far",
    "mm²": "What cable cross-section", "mm2": "What cable cross-section", "cents": "How much", "EUR": "How much",
    "USD": "How much", "GBP": "How much", "€": "How much", "$": "How much",
}
NEGATION = re.compile(
    SUBJECT + r"\s+(?P<aux>does not|do not|did not|doesn't|don't|didn't|is not|are not|isn't|aren't|was not|"
    r"were not|cannot|can not|can't|will not|won't|must not|should not|has not|have not)\s+(?P<rest>.{6,})$"
)
NEGATED_MODALS = ("cannot", "must not", "should not")
NEGATED_CONTRACTIONS = {"doesn't": "does not", "don't": "do not", "didn't": "did not", "isn't": "is not",
                        "aren't": "are not", "can't": "cannot", "can not": "cannot", "won't": "will not"}
ASKED_FOR_NEGATION = {"does not": "does", "do not": "do", "did not": "did", "is not": "is", "are not": "are",
                      "was not": "was", "were not": "were", "cannot": "can", "will not": "will", "must not": "may",
                      "should not": "should", "has not": "has", "have not": "have"}
PLURAL_NEGATIONS = ("do not", "are not", "were not", "have not")
NEGATION_ADDITION = re.compile(r"[,;]\s+|\s+(?=(?:but|so|because|since|which|while)\s)")
CONDITIONAL = re.compile(r"\b(?:unless|until|if|except|only|without)\b", re.IGNORECASE)
NON_ASKABLE_SUBJECTS = ("we", "i", "our", "verify", "ensure", "note", "remember", "please", "be")
DETERMINERS = ("The", "A", "An", "Most", "Many", "Some", "Each", "Every", "Your", "Modern")
MODAL_WORDS = ("can", "must", "should", "may", "will", "would", "could", "cannot")
VAGUE = ("downside", "upside", "result", "reason", "problem", "answer", "idea", "difference", "rest", "other",
         "others", "first", "second", "last", "same", "following", "latter", "former", "one", "ones", "many", "most")
CLAUSE_WORDS = ("that", "if", "because", "where", "when", "which", "who", "whose", "so", "than", "as", "while",
                "whether", "there", "they", "it", "its", "their", "this", "these", "those")
LEADING_NON_SUBJECTS = ("but", "and", "or", "in", "on", "at", "for", "with", "after", "before", "since", "once",
                        "check", "make", "use", "do", "ask", "keep", "always", "never", "yes", "no", "to", "by",
                        "unlike", "like", "although", "even", "during", "from", "under", "over", "without")
PARTICIPLES = ("made", "built", "done", "given", "known", "shown", "set", "paid", "held", "sold", "seen", "cheaper",
               "cheapest", "faster", "fastest", "slower", "better", "best", "worse", "more", "less", "also", "still")
ADVERBS = ("often", "also", "usually", "typically", "only", "still", "generally", "normally", "always", "never",
           "easily", "safely", "then", "now", "even")
STARTERS = ("this", "it", "these", "they", "that", "those", "such", "here", "there", "however", "also", "then")
IRREGULAR_BASE = {"is": "be", "are": "be", "means": "mean", "stands": "stand", "carries": "carry",
                  "does": "do", "has": "have"}
THIRD_PERSON = ("delivers", "provides", "uses", "supports", "requires", "reduces", "allows", "needs", "takes",
                "costs", "carries", "charges", "draws", "limits", "detects", "protects", "sends", "measures")


def pick(options: list[str], key: str) -> str:
    """A deterministic choice among phrasings, by a hash of the sentence."""
    return options[int(hashlib.md5(key.encode()).hexdigest(), 16) % len(options)]


def lower_first(phrase: str) -> str:
    """'The Type 2 plug' -> 'the Type 2 plug', 'A DC charger' -> 'a DC charger'; acronyms stay."""
    phrase = phrase.strip().rstrip(",")
    first = phrase.split()[0] if phrase.split() else ""
    if first in DETERMINERS or (len(first) > 1 and first[0].isupper() and first[1:].islower()):
        return phrase[0].lower() + phrase[1:]
    return phrase


def good_subject(subject: str, max_words: int = 7) -> bool:
    """A subject that names something on its own: not a bare determiner, pronoun or context word."""
    words = [w.lower().strip("(),'") for w in subject.split()]
    if not words or len(words) > max_words or words[0] in STARTERS:
        return False
    if any(w in MODAL_WORDS or w in CLAUSE_WORDS for w in words) or words[0] in LEADING_NON_SUBJECTS:
        return False
    named = [w for w in words if w.capitalize() not in DETERMINERS]
    return bool(named) and not (len(named) == 1 and named[0] in VAGUE)


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def base_form(verb: str) -> str:
    verb = verb.split()[0]
    if verb in IRREGULAR_BASE:
        return IRREGULAR_BASE[verb]
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("shes", "ches", "sses")):
        return verb[:-2]
    return verb[:-1] if verb.endswith("s") and not verb.endswith("ss") else verb


def auxiliary(verb: str) -> str:
    """'does' for a third-person verb, 'do' otherwise."""
    return "does" if verb in THIRD_PERSON else "do"


MIN_MINIMAL_WORDS = 3  # a shorter bare value ("0 V") keeps its sentence: the pair gates reject answers under 3 words


def minimal(part: str, whole: str) -> str:
    """The part of a sentence that answers (a predicate, an object, a table value) as a sentence of its own; the
    whole sentence when that part is too short to stand alone."""
    part = part.strip().rstrip(".")
    if len(part.split()) < MIN_MINIMAL_WORDS:
        return whole
    return upper_first(part) + "."


def sentence_is_usable(sentence: str) -> bool:
    words = sentence.split()
    return (6 <= len(words) <= 60 and sentence.endswith((".", "!"))
            and words[0].lower().strip(",") not in STARTERS and not sentence.startswith(("|", "#", "-", "*")))


def definition(sentence: str) -> list[QAPair]:
    match = COPULA.match(sentence)
    if not match or not good_subject(match["subject"]):
        return []
    subject, verb = lower_first(match["subject"]), match["verb"]
    predicate = match["rest"].split()[0].lower()
    if predicate in ("not", "usually", "often") or predicate.endswith("ed") or predicate in PARTICIPLES:
        return []  # a passive or negated statement, not a definition
    if verb in ("is", "are"):
        question = pick([f"What {verb} {subject}?", f"Can you explain what {subject} {verb}?",
                         f"What exactly {verb} {subject}?", f"{upper_first(subject)}: what {'is that' if verb == 'is' else 'are they'}?"], sentence)
    else:
        question = pick([f"What does {subject} {base_form(verb)}{verb[len(verb.split()[0]):]}?",
                         f"What is meant by {subject}?"], sentence)
    return [QAPair(question=question, answer=minimal(match["rest"], sentence), question_type="definition")]


def number(sentence: str) -> list[QAPair]:
    found = NUMBER_UNIT.search(sentence)
    match = MODAL.match(sentence) or VERB.match(sentence)
    if not found or not match or not good_subject(match["subject"]) or found.start() < match.end("subject"):
        return []
    subject = lower_first(match["subject"])
    wh = UNIT_QUESTION.get(found["unit"], "How much")
    verb = match.groupdict().get("verb")
    if verb:
        question = f"{wh} {auxiliary(verb)} {subject} {base_form(verb)}?"
    else:
        if match["modal"] in ("cannot", "must not", "should not"):
            return []
        question = f"{wh} {match['modal']} {subject} {verb_phrase(match['rest'])}?"
    clause = _clause_with(sentence, found.start())
    answer = minimal(match["rest"], clause) if verb and found.start() >= match.start("rest") else clause
    return [QAPair(question=question, answer=answer, question_type="numeric")]


def verb_phrase(rest: str) -> str:
    """The verb that opens `rest`, past adverbs, with its participle after 'be' ('be connected')."""
    words = [w for w in rest.rstrip(".!").split() if w.lower() not in ADVERBS]
    if not words:
        return ""
    return " ".join(words[:2]) if words[0] in ("be", "have", "get") and len(words) > 1 else words[0]


def _clause_with(sentence: str, position: int) -> str:
    """The comma/semicolon clause holding `position`, or the whole sentence when clauses are short."""
    if len(sentence.split()) <= 22:
        return sentence
    start = max(sentence.rfind(",", 0, position), sentence.rfind(";", 0, position)) + 1
    ends = [i for i in (sentence.find(",", position), sentence.find(";", position)) if i != -1]
    clause = sentence[start: min(ends) if ends else len(sentence)].strip().rstrip(".")
    return upper_first(clause) + "." if len(clause.split()) >= 3 else sentence


def condition(sentence: str) -> list[QAPair]:
    match = CONDITION.match(sentence)
    if not match:
        return []
    when = f"{match['cond'].lower()} {lower_first(match['clause'])}"
    main = upper_first(match["main"])
    imperative = main.split()[0].lower() in ("check", "use", "replace", "call", "contact", "press", "unplug",
                                            "restart", "reset", "make", "ensure", "do", "wait", "stop", "set")
    question = (pick([f"What should I do {when}?", f"{upper_first(when)}, what should I do?",
                      f"What is the right step {when}?"], sentence) if imperative
                else pick([f"What happens {when}?", f"{upper_first(when)}, what happens?"], sentence))
    return [QAPair(question=question, answer=main, question_type="procedure")]


def reason(sentence: str) -> list[QAPair]:
    """'X is required because Y.' -> 'Why is X required?' (Because Y) and a yes/no on the claim."""
    match = REASON.match(sentence)
    if not match:
        return []
    claim, why, link = match["claim"].rstrip(","), match["why"].rstrip("."), match["link"]
    copula = re.match(SUBJECT + r"\s+(?P<verb>is|are|must be|should be|can be)\s+(?P<rest>.{3,})$", claim)
    if not copula or not good_subject(copula["subject"]):
        return []
    subject, verb, rest = lower_first(copula["subject"]), copula["verb"], copula["rest"]
    head, *tail = verb.split()
    asked = f"{head} {subject} {' '.join(tail + [rest])}".strip()
    because = "Because" if link in ("because", "since") else upper_first(link)
    return [
        QAPair(question=f"Why {asked}?", answer=f"{because} {why}.", question_type="why"),
        QAPair(question=f"{upper_first(asked)}?", answer=f"Yes, {link} {why}.", question_type="yes_no"),
    ]


def capability(sentence: str) -> list[QAPair]:
    """'X can do Y, which Z.' -> 'Can X do Y?' answered 'Yes, which Z.': what the sentence adds after the clause.
    A negated modal ('X cannot do Y') is `negation`'s."""
    match = MODAL.match(sentence)
    if not match or match["modal"] in NEGATED_MODALS or not good_subject(match["subject"], max_words=6):
        return []
    rest = match["rest"].rstrip(".")
    split = re.split(r",\s+|\s+(?:which|so|but|while)\s+", rest, maxsplit=1)
    if len(split) < 2 or len(split[1].split()) < 3 or len(split[0].split()) < 3:
        return []
    question = f"{upper_first(match['modal'])} {lower_first(match['subject'])} {split[0]}?"
    return [QAPair(question=question, answer=upper_first(f"Yes, {split[1].strip()}."), question_type="yes_no")]


def negation(sentence: str) -> list[QAPair]:
    """'X does not do Y, so Z.' -> 'Does X do Y?' answered 'No, X does not, so Z.'

    People ask yes/no questions mostly to check a belief the documents contradict (the gold sets answer 45 of 58
    with "No"), and without this strategy every yes/no pair of the offline teacher answered "Yes". A conditional
    negation ('does not charge unless ...') is left out: its honest answer is neither yes nor no."""
    match = NEGATION.match(sentence)
    if not match or not good_subject(match["subject"], max_words=6):
        return []
    subject_words = [w.lower() for w in match["subject"].split()]
    if subject_words[0] in NON_ASKABLE_SUBJECTS or (len(subject_words) == 1 and subject_words[0] in ("both", "all")):
        return []
    negated = NEGATED_CONTRACTIONS.get(match["aux"], match["aux"])
    main, *more = NEGATION_ADDITION.split(match["rest"].rstrip(".!"), maxsplit=1)
    if len(main.split()) < 2 or CONDITIONAL.search(main) or (more and CONDITIONAL.match(more[0])):
        return []
    if main.startswith("yet "):  # 'is not yet implemented' -> 'Is it implemented yet?'
        main = f"{main[4:]} yet"
    subject = " ".join(w for w in match["subject"].split() if w.lower() not in ADVERBS + ("therefore", "thus"))
    subject = lower_first(subject)
    if subject.lower() == "you":  # the user asks in the first person: 'Do I need to ...?' 'No, you do not.'
        asker, who, main = "I", "you", re.sub(r"\byour(self)?\b", lambda m: "myself" if m[1] else "my", main)
    elif len(subject.split()) > 3:
        asker, who = subject, ("they" if negated in PLURAL_NEGATIONS or subject.split()[-1].endswith("s") else "it")
    else:
        asker, who = subject, subject
    addition = more[0].strip() if more and len(more[0].split()) >= 3 else ""
    answer = f"No, {who} {negated}" + (f", {addition}" if addition else "") + "."
    question = f"{upper_first(ASKED_FOR_NEGATION[negated])} {asker} {main}?"
    return [QAPair(question=question, answer=answer, question_type="yes_no")]


SENTENCE_STRATEGIES = (definition, number, condition, reason, capability, negation)


def sentence_pairs(sentence: str) -> list[QAPair]:
    """Every strategy that fits one prose sentence (a numbered item's text, without its number)."""
    sentence = ITEM_NUMBER.sub("", " ".join(sentence.split()))
    if not sentence_is_usable(sentence):
        return []
    return [pair for strategy in SENTENCE_STRATEGIES for pair in strategy(sentence)]


TABLE_COLUMN = re.compile(r"[A-Za-z][A-Za-z ]{2,30}")  # a plain column name: "Type", "Description", "Max current"


def table_cell_is_usable(column: str, key: str, value: str) -> bool:
    """A column named in words (not "Card.", "?" or "#"), a short row key, a value that says something."""
    return (bool(TABLE_COLUMN.fullmatch(column)) and 0 < len(key.split()) <= 6 and len(value) > 1
            and any(ch.isalnum() for ch in value) and value.strip("`*_ ").lower() not in {"n/a", "none", "-", "?"})


def table_pairs(block: str) -> list[QAPair]:
    """Up to two pairs per row: 'What is the <column> of <row>?' -> 'The <column> of <row> is <value>.'"""
    lines = [ln for ln in block.split("\n") if ln.strip().startswith("|")]
    if len(lines) < 3:
        return []
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    pairs = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0] or len(header) < 2:
            continue
        key = cells[0]
        usable = [(c, v) for c, v in zip(header[1:], cells[1:], strict=False) if table_cell_is_usable(c, key, v)]
        for column, value in usable[:2]:
            name = column.lower()
            question = pick([f"What is the {name} of {key}?", f"What {name} does {key} have?"], line + column)
            pairs.append(QAPair(question=question, answer=minimal(value, f"The {name} of {key} is {value.rstrip('.')}."),
                                question_type="numeric" if any(ch.isdigit() for ch in value) else "factual"))
    return pairs


def list_pairs(block: str, heading: str | None) -> list[QAPair]:
    """An ordered list under a heading is a procedure, a bulleted one an enumeration."""
    items = [re.sub(r"^\s*(?:[-*]|\d+\.)\s*", "", ln).strip() for ln in unwrapped_lines(block)]
    items = [i.rstrip(".") for i in items if i]
    if len(items) < 2 or not heading or len(heading.split()) > 10:
        return []
    topic = lower_first(heading.rstrip("?.:"))
    answer = "; ".join(items[:8]) + "."
    if len(answer.split()) > 110:
        return []
    if re.match(r"\s*1\.", block):
        question = pick([f"What are the steps for {topic}?", f"How do I go about {topic}?",
                         f"In what order do I do {topic}?"], block)
    else:
        question = pick([f"What should I know about {topic}?", f"What are the main points on {topic}?",
                         f"Which items matter for {topic}?"], block)
    return [QAPair(question=question, answer=upper_first(answer), question_type="procedure")]
