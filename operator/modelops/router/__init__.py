"""modelops.router: one OpenAI/Ollama/TGI endpoint in front of vLLM and Ollama runtimes.

`modelops.router.app.create_app(config, endpoints)` builds the ASGI app; `modelops.router.cli.serve`
runs it under uvicorn; `modelops.router.sources` defines the config/endpoint source protocols.
See docs/router.md.
"""
