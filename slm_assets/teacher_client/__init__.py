"""Reaching a teacher LLM: one call path (rate limits, usage, typed errors) shared by synth and evaluate.

`client.py` holds the call and the chat-completions client, `limits.py` the client-side rate limits. Nothing here
knows what the teacher is asked: prompts and parsing stay with the stage that asks (synth's question generation,
evaluate's judge and answers).
"""
