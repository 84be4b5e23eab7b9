"""The optional chat-model proposer against a stub OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import optuna
import pytest

from ratecraft.autopilot.llm import LLMProposer, extract_json
from ratecraft.autopilot.proposers import Context, LLMSettings, make_proposer
from ratecraft.errors import BadInputError


class _Stub:
    """Answers every chat completion with the next canned reply; remembers the requests."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stub.requests.append({"path": self.path, "body": json.loads(body)})
                content = stub.replies.pop(0) if stub.replies else "{}"
                doc = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _Stub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _valid_wavelet() -> dict:
    return {
        "method": "wavelet",
        "params": {
            "ratio": 6.0,
            "wavelet": "db4",
            "levels": 3,
            "level_scale": 1.0,
            "dead_zone": 0.2,
        },
    }


def test_invalid_llm_proposals_are_rejected(codec_problem) -> None:
    space = codec_problem.default_space()
    bad_range = _valid_wavelet()
    bad_range["params"]["ratio"] = 5000.0
    replies = [
        json.dumps({"method": "gzip", "params": {"ratio": 10}}),  # not in the space
        json.dumps(bad_range),  # out of range
        "I would try a wavelet codec.",  # no JSON at all
        "```json\n" + json.dumps(_valid_wavelet()) + "\n```",  # fenced but valid
    ]
    study = optuna.create_study(directions=["maximize", "maximize"])
    study.set_user_attr("objective_names", ["spike_f1", "ratio"])
    ctx = Context(space=space, records=[], front=[], budget=4)
    with _Stub(replies) as stub:
        proposer = LLMProposer(LLMSettings(stub.url, model="stub"))
        origins = [proposer.before_ask(study, ctx) for _ in range(4)]
    assert origins == ["sampler", "sampler", "sampler", "llm"]
    assert len(proposer.rejected) == 3 and proposer.accepted == 1
    assert "unknown method" in proposer.rejected[0] and "outside" in proposer.rejected[1]
    # only the valid answer was enqueued, and the study hands it out as asked
    trial = study.ask()
    assert space.validate(space.suggest(trial)) == space.validate(_valid_wavelet())
    sent = stub.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["model"] == "stub"
    assert "search_space" in sent["body"]["messages"][1]["content"]


def test_llm_run_falls_back_and_stays_in_space(codec_problem, tmp_path) -> None:
    from ratecraft.autopilot.journal import Journal
    from ratecraft.autopilot.loop import Autopilot, LoopSettings

    space = codec_problem.default_space().restricted(
        {"methods": ["wavelet"], "shared": {"ratio": {"low": 3, "high": 8}}}
    )
    with _Stub([json.dumps(_valid_wavelet()), "not json", json.dumps({"method": "pca"})]) as stub:
        proposer = make_proposer("llm", llm=LLMSettings(stub.url), budget=3)
        pilot = Autopilot(
            codec_problem,
            codec_problem.default_reward(),
            space,
            Journal.create(tmp_path / "run", {}),
            proposer,
            LoopSettings(trials=3),
        )
        summary = pilot.run()
    assert [r["origin"] for r in summary.records] == ["llm", "sampler", "sampler"]
    assert all(r["strategy"]["method"] == "wavelet" for r in summary.records)


def test_llm_settings_and_parsing_errors() -> None:
    with pytest.raises(BadInputError):
        make_proposer("llm")
    with pytest.raises(BadInputError):
        LLMProposer(LLMSettings("file:///etc/passwd"))
    assert extract_json('sure: {"a": 1} done') == {"a": 1}
    with pytest.raises(BadInputError):
        extract_json("{broken")
    proposer = LLMProposer(LLMSettings("http://127.0.0.1:9", timeout_s=0.5))
    with pytest.raises(BadInputError, match="failed"):
        proposer.ask_model([{"role": "user", "content": "hi"}])
