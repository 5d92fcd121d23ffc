"""Benchmark-shaped rows for the evaluation tests."""


EV_QUESTIONS = [
    ("Which connector do most European AC chargers use?", "The Type 2 connector is the European AC standard."),
    ("What does CCS stand for?", "CCS stands for Combined Charging System."),
    ("How much power can a CCS2 charger deliver?", "A CCS2 charger can deliver up to 350 kW of DC power."),
    ("What is load management?", "Load management shares the available grid power between charge points."),
]


def sft_rows(questions=EV_QUESTIONS, system: str = "You answer questions about EV charging.") -> list[dict]:
    """Rows shaped like the SFT test split."""
    return [{"qa_id": f"qa{i:03d}", "doc_id": f"doc{i % 2}", "chunk_id": f"c{i}", "question": q,
             "prompt": [{"role": "system", "content": system}, {"role": "user", "content": q}],
             "completion": [{"role": "assistant", "content": a}]} for i, (q, a) in enumerate(questions)]
