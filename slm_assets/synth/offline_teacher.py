"""The offline teacher: no LLM at all. It derives questions and answers from the chunk's own text.

Honest about what it is: every answer is a sentence (or table row, or list) copied from the chunk,
and every question is made by a fixed rule from that sentence's subject, heading or table header.
It lets the whole pipeline run with no network and no GPU, and gives perfectly grounded pairs.
"""

import hashlib
import re

from slm_assets.synth.records import ChunkForSynth, QAPair

TEMPLATE_VERSION = "offline-1"
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
COPULA = re.compile(
    r"^(?P<subject>(?:(?:The|A|An)\s+)?[A-Za-z0-9][\w\-/().,' ]{1,70}?)\s+"
    r"(?P<verb>is|are|refers to|means|stands for|describes|defines)\s+(?P<rest>.{8,})$"
)
MODAL = re.compile(
    r"^(?P<subject>(?:(?:The|A|An|Most|Many|Some|Each|Every)\s+)?[A-Za-z0-9][\w\-/() ]{1,60}?)\s+"
    r"(?P<modal>can|must|should|may|will|need to|needs to|requires|require|uses|use|supports|support|provides|provide|delivers|deliver|reduces|reduce|allows|allow)\s+(?P<rest>.{8,})$"
)
NUMBER_UNIT = re.compile(
    r"\b\d[\d,.]*\s?(?:kW|kWh|V|A|mA|Hz|%|°C|minutes|hours|km|miles|mm²?|m|meters|ms|seconds|years|kVA|cents|EUR|USD|\$)\b"
)
STARTERS = ("this", "it", "these", "they", "that", "those", "such", "here", "there")


def _clean(text: str) -> str:
    return " ".join(text.split())


def _subject_phrase(subject: str) -> str:
    subject = subject.strip().rstrip(",")
    return subject[0].lower() + subject[1:] if subject[:2].istitle() and not subject[:3].isupper() else subject


def sentence_pairs(sentence: str, heading: str | None) -> list[QAPair]:
    """Pairs from one prose sentence, by the first rule that fits."""
    sentence = _clean(sentence)
    words = sentence.split()
    if len(words) < 7 or len(words) > 60 or not sentence.endswith((".", "!")):
        return []
    if words[0].lower().strip(",") in STARTERS:  # needs the previous sentence to make sense
        return []
    pairs = []
    match = COPULA.match(sentence)
    if match and len(match["subject"].split()) <= 8:
        subject = _subject_phrase(match["subject"])
        verb = match["verb"]
        if verb in ("is", "are"):
            question = f"What {verb} {subject}?"
        else:
            question = f"What does {subject} {_base_form(verb)}{verb[len(verb.split()[0]):]}?"
        pairs.append(QAPair(question=question, answer=sentence, question_type="definition"))
    else:
        match = MODAL.match(sentence)
        if match and len(match["subject"].split()) <= 7:
            subject = _subject_phrase(match["subject"])
            modal = match["modal"]
            if modal in ("can", "must", "should", "may", "will"):
                question = f"What {modal} {subject} do?"
            elif modal in ("need to", "needs to"):
                question = f"What does {subject} need to do?"
            else:
                question = f"What does {subject} {_base_form(modal)}?"
            pairs.append(QAPair(question=question, answer=sentence, question_type="factual"))
    number = NUMBER_UNIT.search(sentence)
    if number:  # a second, numeric question on the same fact
        blanked = sentence[: number.start()] + "____" + sentence[number.end() :]
        pairs.append(
            QAPair(question=f"Fill in the blank: {blanked}", answer=sentence, question_type="numeric")
        )
    if not pairs and heading and 3 <= len(heading.split()) <= 10:
        key = " ".join(words[:6]).rstrip(",;:")
        pairs.append(
            QAPair(
                question=f"Regarding {heading.rstrip('?.:').lower()}, what does the text say about \"{key}\"?",
                answer=sentence,
                question_type="factual",
            )
        )
    return pairs


def _base_form(verb: str) -> str:
    verb = verb.split()[0]
    irregular = {"is": "be", "are": "be", "means": "mean", "stands": "stand", "requires": "require"}
    if verb in irregular:
        return irregular[verb]
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("shes", "ches", "sses")):
        return verb[:-2]
    return verb[:-1] if verb.endswith("s") else verb


def table_pairs(block: str, heading: str | None) -> list[QAPair]:
    """One pair per table row: the value of the second column for the row's first cell."""
    lines = [ln for ln in block.split("\n") if ln.strip().startswith("|")]
    if len(lines) < 3:
        return []
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    pairs = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0] or len(header) < 2:
            continue
        facts = "; ".join(f"{h}: {v}" for h, v in zip(header[1:], cells[1:], strict=False) if h and v)
        if not facts:
            continue
        where = f" on {heading.rstrip('?.:').lower()}" if heading else ""
        pairs.append(
            QAPair(
                question=f"What does the table{where} list for {cells[0]}?",
                answer=f"For {cells[0]}: {facts}.",
                question_type="numeric" if any(ch.isdigit() for ch in facts) else "factual",
            )
        )
    return pairs


def list_pairs(block: str, heading: str | None) -> list[QAPair]:
    """An ordered or bulleted list under a heading becomes a procedure/enumeration question."""
    items = [re.sub(r"^\s*(?:[-*]|\d+\.)\s*", "", ln).strip() for ln in block.split("\n") if ln.strip()]
    items = [i for i in items if i]
    if len(items) < 2 or not heading or len(heading.split()) > 12:
        return []
    ordered = bool(re.match(r"\s*1\.", block))
    answer = "; ".join(items[:8])
    if len(answer.split()) > 110:
        return []
    question = (
        f"What are the steps for {heading.rstrip('?.:').lower()}?"
        if ordered
        else f"What points are listed under {heading.rstrip('?.:').lower()}?"
    )
    return [QAPair(question=question, answer=answer + ".", question_type="procedure")]


class OfflineTeacher:
    """Derives grounded QA pairs from a chunk with fixed rules. Deterministic: same chunk, same pairs."""

    provider = "offline"
    model = "extractive-rules"
    template_version = TEMPLATE_VERSION

    def pairs_for_chunk(self, chunk: ChunkForSynth) -> list[QAPair]:
        pairs: list[QAPair] = []
        heading = chunk.heading
        for block in re.split(r"\n\s*\n", chunk.text):
            block = block.strip()
            if not block:
                continue
            if block.startswith("#"):
                heading = block.lstrip("#").strip()
                continue
            if block.startswith("|"):
                pairs.extend(table_pairs(block, heading))
            elif re.match(r"\s*(?:[-*]|\d+\.)\s", block):
                pairs.extend(list_pairs(block, heading))
            else:
                for sentence in SENTENCE.split(_clean(block)):
                    pairs.extend(sentence_pairs(sentence, heading))
        seen, unique = set(), []
        for pair in pairs:
            key = hashlib.md5(pair.question.lower().encode()).hexdigest()
            if key not in seen:
                seen.add(key)
                unique.append(pair)
        return unique
