"""The llm proposer against a real local model: llama-cpp-python's OpenAI-compatible server with
the SmolLM2-135M-Instruct GGUF on 127.0.0.1 (slow: `benchmarks/autopilot.py --llm` measures it)."""

from __future__ import annotations

import pytest

from ratecraft.errors import BadInputError

pytest.importorskip("llama_cpp")


def test_chat_server_refuses_a_missing_model(tmp_path) -> None:
    from ratecraft.shrink.lm.chat_server import chat_server

    with pytest.raises(BadInputError, match="no such GGUF"), chat_server(tmp_path / "x.gguf"):
        pass


@pytest.mark.slow
def test_llm_proposer_runs_against_the_local_smollm2_server(codec_problem, tmp_path) -> None:
    pytest.importorskip("sse_starlette")
    from ratecraft.autopilot.journal import Journal
    from ratecraft.autopilot.loop import Autopilot, LoopSettings
    from ratecraft.autopilot.proposers import LLMSettings, make_proposer
    from ratecraft.shrink.lm.chat_server import chat_server
    from ratecraft.shrink.lm.loading import smollm2_gguf_path

    space = codec_problem.default_space().restricted({"methods": ["quant", "wavelet"]})
    with chat_server(smollm2_gguf_path(), threads=1) as url:
        settings = LLMSettings(url, timeout_s=120.0, history=4, extra={"max_tokens": 200})
        proposer = make_proposer("llm", seed=0, budget=4, llm=settings)
        pilot = Autopilot(
            codec_problem,
            codec_problem.default_reward(),
            space,
            Journal.create(tmp_path / "run", {"request": {"proposer": "llm"}}),
            proposer,
            LoopSettings(trials=4),
        )
        summary = pilot.run()
    state = summary.proposer_state
    assert len(summary.records) == 4
    assert state["accepted"] + state["rejected"] == 4  # every trial asked the model once
    origins = {r["origin"] for r in summary.records}
    assert origins <= {"llm", "sampler"}
    assert ("llm" in origins) == (state["accepted"] > 0)
