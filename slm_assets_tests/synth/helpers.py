"""Passages for the generation tests: distinct chunks whose sentences each carry their own figures."""

from slm_assets.synth.records import ChunkForSynth

TEXT = ("A Level 2 charger delivers between 7 and 22 kW of alternating current power to the car. "
        "The onboard charger converts that alternating current into direct current for the battery pack. "
        "DC fast chargers bypass the onboard charger and feed the battery directly at up to 350 kW.")


def chunks(n: int) -> list[ChunkForSynth]:
    """Distinct passages: every sentence carries figures of its own."""
    def text(i: int) -> str:
        return (TEXT.replace("7 and 22", f"{7 + i} and {22 + i}").replace("350 kW", f"{350 + i} kW")
                .replace("battery pack", f"battery pack of model {i}"))
    return [ChunkForSynth(f"c{i}", f"d{i % 3}", text(i), "Power", "Doc", f"doc{i}.html", None) for i in range(n)]
