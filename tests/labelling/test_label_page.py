"""The Label page's routes: one item per labeller at a time, labels into the store as trusted with
the picking reason and the labeller's name, clear errors for bad labels, unknown items and lost leases."""

from __future__ import annotations

import datetime as dt
import time

from fastapi.testclient import TestClient
from pydantic import SecretStr

from sentiops.data.feedback import current_labels
from sentiops.labelling.picking import refresh_queue
from sentiops.serving.app import create_app
from tests.feedback.test_prediction_log import _logged_ids
from tests.helpers.feedback import predict
from tests.helpers.serving import wait_for
from tests.labelling.conftest import TWEETS

TODAY = dt.datetime.now(dt.UTC).date()


def _fill_queue(client, settings, n=5):
    predict(client, settings, TWEETS[120 : 120 + n])
    refresh_queue(settings, TODAY, TODAY, size=n, seed=0)


def test_label_skip_undo_and_progress(client, settings):
    _fill_queue(client, settings, 4)
    assert client.get("/ui/label").status_code == 200
    first = client.get("/ui/label/next").json()
    assert first["progress"] == {"total": 4, "done": 0, "left": 4, "yours": 0}
    item = first["item"]
    assert set(item) == {"id", "text", "picked", "date"}  # the model's answer is not sent
    answer = client.post(f"/ui/label/items/{item['id']}", json={"label": "negative"}).json()
    assert answer["stored"] == 1 and answer["progress"]["done"] == 1 and answer["progress"]["yours"] == 1
    second = client.get("/ui/label/next").json()["item"]
    assert second["id"] != item["id"]
    assert client.post(f"/ui/label/items/{second['id']}/skip").status_code == 200
    # Undo walks back: first the skip, then the label (which a new key replaces).
    assert client.post("/ui/label/undo").json()["item"]["id"] == second["id"]
    client.post(f"/ui/label/items/{second['id']}/skip")
    client.post("/ui/label/undo")  # the skip again
    client.post(f"/ui/label/items/{second['id']}/skip")
    back = client.post("/ui/label/undo").json()
    assert back["item"]["id"] == second["id"]
    back = client.post("/ui/label/undo").json()
    assert back["item"]["id"] == item["id"] and back["your_label"] == "negative"
    assert client.get(f"/ui/label/items/{item['id']}/model").json()["label"] in ("negative", "positive")
    relabel = client.post(f"/ui/label/items/{item['id']}", json={"label": "positive"}).json()
    assert relabel["relabel"] is True
    rows = [r for r in current_labels(settings.data).to_pylist() if r["source"] == "ui"]
    assert len(rows) == 1 and rows[0]["label"] == 1 and rows[0]["trusted"] is True
    metrics = client.get("/metrics").text
    for action, n in (("label", 2), ("skip", 3), ("undo", 4)):
        assert f'sentiops_label_page_actions_total{{action="{action}"}} {n}.0' in metrics, action
    assert rows[0]["prediction_id"] == item["id"] and rows[0]["picked"] == item["picked"]


def test_two_sessions_never_get_the_same_item(settings, client):
    _fill_queue(client, settings, 3)
    app = client.app
    with TestClient(app) as other:
        seen = set()
        for c in (client, other, client, other):
            item = c.get("/ui/label/next").json()["item"]
            seen.add((id(c), item["id"]))
        assert len({i for _, i in seen}) == 2  # each kept its own, neither got the other's
        mine = client.get("/ui/label/next").json()["item"]["id"]
        refused = other.post(f"/ui/label/items/{mine}", json={"label": "positive"})
        assert refused.status_code == 409 and "no lease" in refused.json()["detail"]


def test_bad_requests_get_clear_errors(settings, client):
    _fill_queue(client, settings, 2)
    item = client.get("/ui/label/next").json()["item"]
    bad = client.post(f"/ui/label/items/{item['id']}", json={"label": "neutral"})
    assert bad.status_code == 422
    unknown = client.post("/ui/label/items/2026010100-0000", json={"label": "positive"})
    assert unknown.status_code == 404 and "no queued item" in unknown.json()["detail"]
    fresh = TestClient(client.app)
    no_cookie = fresh.post(f"/ui/label/items/{item['id']}", json={"label": "positive"})
    assert no_cookie.status_code == 409 and "no labeller cookie" in no_cookie.json()["detail"]
    assert "ui" not in set(current_labels(settings.data).column("source").to_pylist())


def test_an_expired_lease_is_refused(tmp_path, settings):
    quick = settings.model_copy(update={"label_lease_seconds": 0.2})
    with TestClient(create_app(quick)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        _fill_queue(client, quick, 2)
        item = client.get("/ui/label/next").json()["item"]
        time.sleep(0.4)
        late = client.post(f"/ui/label/items/{item['id']}", json={"label": "positive"})
        assert late.status_code == 409 and "expired" in late.json()["detail"]
        assert "ui" not in set(current_labels(quick.data).column("source").to_pylist())


def test_the_label_page_needs_the_sign_in(settings, registry_dir):
    secured = settings.model_copy(update={"api_token": SecretStr("s3cret-token-for-tests")})
    with TestClient(create_app(secured)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        _fill_queue_signed(client, secured)
        assert client.get("/ui/label/next").status_code == 401
        signed = client.post(
            "/ui/login", data={"token": "s3cret-token-for-tests", "who": "Ada"}, follow_redirects=False
        )
        assert signed.status_code == 303
        item = client.get("/ui/label/next").json()["item"]
        assert client.post(f"/ui/label/items/{item['id']}", json={"label": "positive"}).status_code == 200
        rows = [r for r in current_labels(secured.data).to_pylist() if r["source"] == "ui"]
        assert [r["labelled_by"] for r in rows] == ["Ada"]


def _fill_queue_signed(client, settings):
    headers = {"authorization": "Bearer s3cret-token-for-tests"}
    answers = [client.post("/predict", json={"text": t}, headers=headers).json() for t in TWEETS[130:132]]
    wait_for(lambda: {a["prediction_id"] for a in answers} <= set(_logged_ids(settings.results)))
    refresh_queue(settings, TODAY, TODAY, size=2, seed=0)


def test_the_overview_shows_labelling_and_no_estimate_before_a_prediction(settings, client):
    page = client.get("/ui").text
    assert "none yet: no prediction served" in page and "0.0000" not in page.split("Live service")[1]
    assert "labels waiting in the queue" in page and "none yet: no checked date has labels" in page
    _fill_queue(client, settings, 3)
    item = client.get("/ui/label/next").json()["item"]
    client.post(f"/ui/label/items/{item['id']}", json={"label": "negative"})
    page = client.get("/ui").text
    assert '<a href="/ui/label">2</a>' in page  # waiting
    assert "1 (1 by trusted labellers)" in page
    assert "none yet: no prediction served" not in page  # predictions were served meanwhile


def test_realized_accuracy_counts_only_random_picks_every_label_beside_it(client, settings):
    import pyarrow.parquet as pq

    from sentiops.monitoring.check import run_drift_check
    from sentiops.scoring import job, runs
    from tests.helpers.data import sample_rows, write_csv

    predict(client, settings, TWEETS[170:200])
    refresh_queue(settings, TODAY, TODAY, size=30, random_share=0.5, seed=4)
    picked = {}
    while (item := client.get("/ui/label/next").json()["item"]) is not None:
        # Random picks labelled as the model answered, the others against it: only the first count.
        answer = client.get(f"/ui/label/items/{item['id']}/model").json()["label"]
        other = "negative" if answer == "positive" else "positive"
        client.post(f"/ui/label/items/{item['id']}", json={"label": answer if item["picked"] == "random" else other})
        picked[item["id"]] = item["picked"]
    random_n = sum(p == "random" for p in picked.values())
    assert random_n == 15 and len(picked) == 30
    day = write_csv(settings.results.parent / "day.csv", sample_rows(7300)[7000:7300])
    job.run_batch(settings, runs.BatchOptions([day], TODAY.isoformat()))
    run_drift_check(settings, TODAY.isoformat(), notify=False)
    row = pq.read_table(settings.results / "drift" / "history.parquet").to_pylist()[-1]
    assert row["realized_accuracy"] == 1.0 and row["realized_labels"] == 15
    assert row["realized_all_accuracy"] == 0.5 and row["realized_all_labels"] == 30
    assert "realized 1.0000 on 15 randomly picked labels" in client.get("/ui").text
