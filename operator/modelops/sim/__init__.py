"""modelops.sim: the inference simulator and the launcher that runs it for simulated pods.

Simulator (`python -m modelops.sim` / `modelops sim`): knobs -> engine -> vllm_api | ollama_api
(openai_api is shared) -> routing -> server (asyncio + httptools). Launcher (`modelops sim
launcher`): launch_plan (pure decisions) + launcher (processes, probes, status reports through
modelops.k8s.pod_status). `modelops.sim.testing` starts simulators from tests and benchmarks.
Nothing heavy is imported here: the launcher starts many simulators and each must start fast.
"""
