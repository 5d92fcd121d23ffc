"""Prometheus metrics of one app (its own registry, so several apps can live in one process).

Every request is counted by route template (not raw path: bounded label values), method, status,
model and model version; requests that fail before a model is known carry model="" and version="".
The batching gauges (queue depth, active slots, generated tokens/s) are read from the runner and the
backend when Prometheus scrapes.
"""

from dataclasses import dataclass

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)


@dataclass
class ServeMetrics:
    registry: object
    requests: object
    errors: object
    latency: object
    first_token: object
    queue_wait: object
    prompt_tokens: object
    completion_tokens: object
    in_progress: object
    model_info: object
    queue_depth: object
    active_slots: object
    tokens_per_second: object

    @classmethod
    def create(cls) -> "ServeMetrics":
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        registry = CollectorRegistry(auto_describe=True)
        req = ("route", "method", "status", "model", "version")
        mod = ("model", "version")
        return cls(
            registry=registry,
            requests=Counter("slm_requests", "HTTP requests by route, method, status and model.", req,
                             registry=registry),
            errors=Counter("slm_request_errors", "Requests answered with status >= 400.", req, registry=registry),
            latency=Histogram("slm_request_duration_seconds", "Time from request to the last byte sent.",
                              ("route", "model", "version"), buckets=LATENCY_BUCKETS, registry=registry),
            first_token=Histogram("slm_time_to_first_token_seconds", "Streaming: request to first text piece.",
                                  mod, buckets=LATENCY_BUCKETS, registry=registry),
            queue_wait=Histogram("slm_queue_wait_seconds", "Time a generation waited for its model.",
                                 mod, buckets=LATENCY_BUCKETS, registry=registry),
            prompt_tokens=Counter("slm_prompt_tokens", "Prompt tokens processed (tokens in).", mod,
                                  registry=registry),
            completion_tokens=Counter("slm_completion_tokens", "Completion tokens generated (tokens out).", mod,
                                      registry=registry),
            in_progress=Gauge("slm_requests_in_progress", "Requests being handled now.", registry=registry),
            model_info=Gauge("slm_model_info", "Served models (value 1).", ("model", "version", "backend"),
                             registry=registry),
            queue_depth=Gauge("slm_queue_depth", "Generations waiting for a slot (models sharing the cores "
                              "share one queue).", mod, registry=registry),
            active_slots=Gauge("slm_active_slots", "Sequences being decoded now (llama.cpp slots in use).", mod,
                               registry=registry),
            tokens_per_second=Gauge("slm_generated_tokens_per_second",
                                    "Completion tokens generated per second over the last 10 s.", mod,
                                    registry=registry),
        )

    def watch_model(self, model: str, version: str, runner, backend) -> None:
        """Read queue depth, active slots and tokens/s of a served model at each scrape. A backend without
        slots (transformers) reports its queue only."""
        self.queue_depth.labels(model, version).set_function(
            lambda: runner.waiting + getattr(backend, "queue_depth", 0))
        if hasattr(backend, "active_slots"):
            self.active_slots.labels(model, version).set_function(lambda: backend.active_slots)
        if hasattr(backend, "tokens_per_second"):
            self.tokens_per_second.labels(model, version).set_function(backend.tokens_per_second)

    def observe_request(self, route: str, method: str, status: int, model: str, version: str,
                        seconds: float) -> None:
        labels = (route, method, str(status), model, version)
        self.requests.labels(*labels).inc()
        if status >= 400:
            self.errors.labels(*labels).inc()
        self.latency.labels(route, model, version).observe(seconds)

    def observe_tokens(self, model: str, version: str, prompt: int, completion: int) -> None:
        self.prompt_tokens.labels(model, version).inc(prompt)
        self.completion_tokens.labels(model, version).inc(completion)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
