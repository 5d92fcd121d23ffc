"""What several training tests build: a chat-format split."""

import json


def write_chat_split(folder, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": [{"role": "user", "content": f"Question {i}?"}],
             "completion": [{"role": "assistant", "content": f"Answer number {i}."}]} for i in range(n)]
    for split in ("train", "val"):
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
