"""Everything Dagster loads, in pipeline order (each asset module imports the one before it):

ingest.py         raw_docs: the domain's documents from folders, its inbox and URLs
process.py        clean_chunks: cleaned, filtered, deduplicated, token-aware chunks and the retrieval index
synth.py          synthetic_qa_5000: grounded QA pairs from the domain's teacher
train.py          sft_dataset, lora_adapter, distilled_model
evaluate.py       benchmark_report: every model on the same questions, and the promotion gate
export.py         gguf_export: merged model, GGUF files, parity, bundle, registered version

Beside the pipeline: partitions.py (the domain partitions, shared), resources.py (the one place resources are
bound), automation.py (jobs, sensors, the weekly schedule), alerts.py (the run-failure sensor),
evaluate_jobs.py (scoring a user's questions file), studies.py (the data-size x steps sweep).
"""
