"""modelops: a Kubernetes operator and router for vLLM and Ollama inference runtimes."""

__version__ = "0.1.0"
