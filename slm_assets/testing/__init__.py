"""Test doubles shared by the tests (`slm_assets_tests/`) and the benchmarks (`bench/`), shipped with the package
as libraries ship theirs (`transformers.testing_utils`): nothing in the pipeline imports it.

- `local_http`: a real HTTP server on 127.0.0.1 at a free port, for any handler;
- `teacher_server`, `judge_server`: OpenAI-compatible chat-completions servers that play an LLM teacher and a
  pairwise judge, for the real `groq` and `openai` clients;
- `web_site`: a site with good, hostile and slow routes for the crawler; `pdfs`: PDFs built with reportlab;
- `tiny_models`: tiny random models (one Llama builder, one model per architecture family) built offline;
  `tokenizer_end_of_turn`: one whose end of turn only its tokenizer knows (eos beside the generation config's);
- `go_template`: a renderer for Ollama's Go chat templates; `clock`: a clock a test moves by hand.
"""
