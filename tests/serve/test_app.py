"""The service in-process (FastAPI's TestClient): round trips through every body format, the
registry's models by alias and by content hash, quality prediction, A/B tallies, metrics, and
one status code (and one JSON line) per kind of bad request."""

from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest

from ratecraft.data.synthetic import simulate_recording, simulate_table
from ratecraft.registry import Registry


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


RCZ = {"content-type": "application/x-ratecraft"}
NPY = {"content-type": "application/x-npy"}


def one_json_line(res, status):
    assert res.status_code == status, res.text
    assert "\n" not in res.text.strip() and "Traceback" not in res.text
    doc = json.loads(res.text)
    assert doc["status"] == status and doc["error"]
    return doc["error"]


def test_npy_round_trip_is_bit_exact_with_honest_headers(client_for, recording):
    c = client_for()
    body = npy(recording.samples)
    res = c.post("/v1/compress?sample_rate=30000", content=body, headers=NPY)
    assert res.status_code == 200, res.text
    raw = recording.samples.nbytes
    assert float(res.headers["x-ratecraft-ratio"]) == pytest.approx(raw / len(res.content), 1e-5)
    assert float(res.headers["x-ratecraft-bits-per-sample"]) == pytest.approx(
        8 * len(res.content) / recording.samples.size, 1e-5
    )
    assert res.headers["x-ratecraft-codec"] == "predictive"
    back = c.post("/v1/decompress", content=res.content, headers=RCZ)
    assert back.status_code == 200 and back.headers["x-ratecraft-sample-rate"] == "30000"
    np.testing.assert_array_equal(np.load(io.BytesIO(back.content)), recording.samples)


def test_raw_wav_and_csv_bodies(client_for, recording):
    c = client_for()
    raw = np.ascontiguousarray(recording.samples.T).tobytes()  # interleaved frames
    q = "channels=4&sample_rate=30000&dtype=int16&codec=quant&ratio=8"
    res = c.post(
        f"/v1/compress?{q}", content=raw, headers={"content-type": "application/octet-stream"}
    )
    assert res.status_code == 200, res.text
    assert float(res.headers["x-ratecraft-ratio"]) > 4
    wav = c.post("/v1/decompress?format=wav", content=res.content, headers=RCZ)
    with wave.open(io.BytesIO(wav.content)) as w:
        assert (w.getnchannels(), w.getframerate()) == (4, 30000)
    one_json_line(
        c.post(
            "/v1/compress?channels=4",
            content=raw,
            headers={"content-type": "application/octet-stream"},
        ),
        400,
    )
    # a wav body, lossless
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(4)
        w.setsampwidth(2)
        w.setframerate(30000)
        w.writeframes(raw)
    res = c.post("/v1/compress", content=buf.getvalue(), headers={"content-type": "audio/wav"})
    back = c.post("/v1/decompress", content=res.content, headers=RCZ)
    np.testing.assert_array_equal(np.load(io.BytesIO(back.content)), recording.samples)
    # a feature table as CSV, lossy, back as CSV
    table = simulate_table(n_samples=200, seed=1)
    header = ",".join(table.feature_names)
    values = np.nan_to_num(table.values)
    text = header + "\n" + "\n".join(",".join(f"{v:.6g}" for v in row) for row in values)
    res = c.post(
        "/v1/compress?codec=quant&ratio=4", content=text, headers={"content-type": "text/csv"}
    )
    assert res.status_code == 200, res.text
    csv = c.post("/v1/decompress?format=csv", content=res.content, headers=RCZ)
    assert (
        csv.status_code == 200 and csv.text.splitlines()[0].split(",")[0] == table.feature_names[0]
    )


@pytest.mark.parametrize("registry", ["embedded", "mlflow"], indirect=True)
def test_registry_models_by_alias_and_by_hash(client_for, registry, recording):
    c = client_for()
    res = c.post(
        "/v1/compress?model=probe@production&sample_rate=30000",
        content=npy(recording.samples),
        headers=NPY,
    )
    assert res.status_code == 200, res.text
    assert res.headers["x-ratecraft-model"] == "probe@1"
    back = c.post("/v1/decompress", content=res.content, headers=RCZ)  # found by content hash
    assert back.status_code == 200, back.text
    expected = registry.load("probe@1").decode(res.content).samples
    np.testing.assert_array_equal(np.load(io.BytesIO(back.content)), expected)
    registry.promote("probe@2", "production")  # takes effect on the next request
    res = c.post(
        "/v1/compress?model=probe@production&sample_rate=30000",
        content=npy(recording.samples),
        headers=NPY,
    )
    assert res.headers["x-ratecraft-model"] == "probe@2"
    assert "probe@1" in c.get("/healthz").json()["loaded_models"]
    listed = c.get("/v1/models").json()
    assert (
        listed["models"][0]["name"] == "probe" and listed["models"][0]["aliases"]["production"] == 2
    )
    card = c.get("/v1/models/probe@1").json()
    assert card["card"]["heldout"]["status"] == "ok"
    history = c.get("/v1/models/probe").json()
    assert [e["kind"] for e in history["events"]][-1] == "promote"


def test_quality_is_predicted_without_returning_data(client_for, recording):
    c = client_for(quality_excerpt_s=0.2)
    res = c.post(
        "/v1/quality?codec=quant&ratio=10&sample_rate=30000",
        content=npy(recording.samples),
        headers=NPY,
    )
    assert res.status_code == 200, res.text
    q = res.json()
    assert q["method"] == "measured-excerpt" and q["excerpt_shape"] == [4, 6000]
    assert q["ratio"] > 5 and 0 < q["sndr_db"] < 100
    direct = c.post(
        "/v1/quality?model=probe@production&sample_rate=30000",
        content=npy(recording.samples),
        headers=NPY,
    )
    assert direct.json()["model"] == "probe@1" and "sndr_db" in direct.json()


def test_ab_split_measures_each_version_and_files_tallies(client_for, registry, recording):
    c = client_for(ab=("probe@candidate:0.5",), ab_seed=1, ab_flush_every=2)
    arms = []
    for _ in range(8):
        res = c.post(
            "/v1/compress?model=probe@production&sample_rate=30000",
            content=npy(recording.samples),
            headers=NPY,
        )
        assert res.status_code == 200, res.text
        arms.append(res.headers["x-ratecraft-ab-arm"])
        assert float(res.headers["x-ratecraft-sndr-db"]) > -50
    assert set(arms) == {"main", "candidate"}
    metrics = c.get("/metrics").text
    assert 'ratecraft_ab_requests_total{arm="candidate",model="probe@2"}' in metrics
    assert "ratecraft_ab_mean_sndr_db" in metrics
    ab_events = [e for e in Registry(registry.home).events("probe") if e.kind == "ab"]
    assert ab_events and all(e.metrics["requests"] >= 2 for e in ab_events)
    page = c.get("/").text
    assert "A/B" in page and "probe@2" in page


def test_each_bad_request_gets_its_status_in_one_json_line(client_for, recording, tmp_path):
    c = client_for(max_body_bytes=10_000)
    big = npy(np.zeros((4, 5000), np.int16))
    assert "limit" in one_json_line(
        c.post("/v1/compress?sample_rate=1000", content=big, headers=NPY), 413
    )
    one_json_line(c.post("/v1/compress", content=b"x", headers={"content-type": "image/png"}), 415)
    one_json_line(c.post("/v1/compress?model=../etc", content=b"x", headers=NPY), 400)
    small = npy(np.zeros((4, 100), np.int16))
    one_json_line(
        c.post("/v1/compress?sample_rate=1000&codec=nope", content=small, headers=NPY), 400
    )
    one_json_line(
        c.post(
            "/v1/compress?sample_rate=1000&model=missing@production", content=small, headers=NPY
        ),
        400,
    )
    one_json_line(
        c.post("/v1/compress?sample_rate=1000", content=small[:-60], headers=NPY), 400
    )  # truncated
    one_json_line(c.post("/v1/compress?sample_rate=abc", content=small, headers=NPY), 422)
    one_json_line(c.post("/v1/decompress", content=b"not a container", headers=RCZ), 400)
    one_json_line(c.get("/v1/models/a..b"), 400)
    one_json_line(c.get("/v1/models/..%2Fx"), 404)  # a slash never reaches a model name
    one_json_line(c.get("/nowhere"), 404)
    keys = tmp_path / "keys"
    keys.write_text("# fleet keys\nk" * 1 + "0123456789abcdef-key\n")
    locked = client_for(api_keys_file=keys)
    assert "API key" in one_json_line(locked.get("/v1/models"), 401)
    one_json_line(locked.get("/v1/models", headers={"x-api-key": "wrong-key-0123456789"}), 401)
    assert (
        locked.get(
            "/v1/models", headers={"authorization": "Bearer k0123456789abcdef-key"}
        ).status_code
        == 200
    )
    assert locked.get("/healthz").status_code == 200


def test_time_limit_and_concurrency_limit(client_for):
    c = client_for(request_timeout_s=0.05, max_concurrency=1)
    rec, _ = simulate_recording(n_channels=32, duration_s=2.0, seed=2)
    body = npy(rec.samples)
    assert "time limit" in one_json_line(
        c.post("/v1/compress?sample_rate=30000&codec=wavelet&ratio=30", content=body, headers=NPY),
        504,
    )
    busy = c.post(
        "/v1/compress?sample_rate=30000", content=body, headers=NPY
    )  # the slot is still taken
    one_json_line(busy, 503)
    assert busy.headers["retry-after"] == "1"
    assert 'ratecraft_rejected_total{reason="503"}' in c.get("/metrics").text
