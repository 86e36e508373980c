"""vLLM-named Prometheus metrics, rendered by hand (prometheus_client costs import time and
per-observation locking that a single-threaded simulator does not need)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

# Bucket bounds follow vLLM's own choices so dashboards and queries written for vLLM work.
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
    0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0,
    20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip


class Histogram:
    __slots__ = ("bounds", "counts", "sum", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.total = 0

    def observe(self, value: float) -> None:
        index = bisect_left(self.bounds, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.sum += value
        self.total += 1

    def render(self, name: str, labels: str, out: list[str]) -> None:
        cumulative = 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            cumulative += count
            out.append(f'{name}_bucket{{le="{bound}",{labels}}} {cumulative}')
        out.append(f'{name}_bucket{{le="+Inf",{labels}}} {self.total}')
        out.append(f"{name}_count{{{labels}}} {self.total}")
        out.append(f"{name}_sum{{{labels}}} {self.sum}")


class Metrics:
    """Counters for one served model (vLLM labels metrics with the first served name)."""

    def __init__(self, model_name: str) -> None:
        self.labels = f'model_name="{model_name}"'
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success: dict[str, int] = {"stop": 0, "length": 0, "abort": 0}
        self.ttft = Histogram(TTFT_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)

    def record(
        self, prompt_tokens: int, generated: int, finish: str, ttft: float, e2e: float
    ) -> None:
        self.prompt_tokens += prompt_tokens
        self.generation_tokens += generated
        self.success[finish] = self.success.get(finish, 0) + 1
        self.ttft.observe(ttft)
        self.e2e.observe(e2e)

    def render(self, running: int, waiting: int, kv_usage: Callable[[], float]) -> str:
        labels = self.labels
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("vllm:num_requests_running", "gauge", "Number of requests in model execution.")
        out.append(f"vllm:num_requests_running{{{labels}}} {running}")
        family("vllm:num_requests_waiting", "gauge", "Number of requests waiting.")
        out.append(f"vllm:num_requests_waiting{{{labels}}} {waiting}")
        family("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent.")
        out.append(f"vllm:kv_cache_usage_perc{{{labels}}} {kv_usage()}")
        family("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.")
        out.append(f"vllm:prompt_tokens_total{{{labels}}} {self.prompt_tokens}")
        family("vllm:generation_tokens_total", "counter", "Number of generation tokens.")
        out.append(f"vllm:generation_tokens_total{{{labels}}} {self.generation_tokens}")
        family("vllm:request_success_total", "counter", "Count of successfully processed requests.")
        for reason, count in self.success.items():
            out.append(f'vllm:request_success_total{{finished_reason="{reason}",{labels}}} {count}')
        family("vllm:time_to_first_token_seconds", "histogram", "Time to first token.")
        self.ttft.render("vllm:time_to_first_token_seconds", labels, out)
        family("vllm:e2e_request_latency_seconds", "histogram", "End to end request latency.")
        self.e2e.render("vllm:e2e_request_latency_seconds", labels, out)
        return "\n".join(out) + "\n"
