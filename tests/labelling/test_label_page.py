"""The Label page's routes: one item per labeller at a time, labels into the store as trusted with
the picking reason and the labeller's name, clear errors for bad labels, unknown items and lost leases."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from fastapi.testclient import TestClient

from sentiops.data.feedback_reader import current_labels
from sentiops.labelling.picking import refresh_queue
from sentiops.serving.access import SESSION_COOKIE
from sentiops.serving.app import create_app
from tests.feedback.test_prediction_log import _logged_ids
from tests.helpers.access import CALLER, OPERATOR, PASSWORDS, secured, sign_in
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


@pytest.fixture
def guarded(tmp_path, settings):
    """The service with every role's credential, its queue filled with five logged tweets."""
    secure = secured(settings, tmp_path / "secrets")
    with TestClient(create_app(secure)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200)
        answers = [client.post("/predict", json={"text": t}, headers=CALLER).json() for t in TWEETS[130:135]]
        wait_for(lambda: {a["prediction_id"] for a in answers} <= set(_logged_ids(secure.results)))
        refresh_queue(secure, TODAY, TODAY, size=5, seed=0)
        yield client, secure


def test_two_labellers_never_get_the_same_item(guarded):
    client, _ = guarded
    app = client.app
    with TestClient(app) as other:
        assert sign_in(client, "ada").status_code == 303 and sign_in(other, "bob").status_code == 303
        seen = set()
        for c in (client, other, client, other):
            item = c.get("/ui/label/next").json()["item"]
            seen.add((id(c), item["id"]))
        assert len({i for _, i in seen}) == 2  # each kept its own, neither got the other's
        mine = client.get("/ui/label/next").json()["item"]["id"]
        refused = other.post(f"/ui/label/items/{mine}", json={"label": "positive"})
        assert refused.status_code == 409 and "no lease" in refused.json()["detail"]


def test_only_a_signed_in_labeller_opens_the_label_page(guarded):
    """The prediction token, no credentials and the operator token all stay out; a labeller gets
    in by session or by HTTP Basic, and their labels are trusted and carry their name."""
    client, secure = guarded
    for path in ("/ui/label", "/ui/label/next"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=CALLER).status_code == 401
        assert client.get(path, headers=OPERATOR).status_code == 403
    assert client.post("/ui/label/items/x", json={"label": "positive"}, headers=CALLER).status_code == 401
    assert sign_in(client, "ada", "wrong-password-000").status_code == 401
    assert sign_in(client, "ada").status_code == 303
    item = client.get("/ui/label/next").json()["item"]
    assert client.post(f"/ui/label/items/{item['id']}", json={"label": "positive"}).status_code == 200
    with TestClient(client.app) as script:
        basic = script.get("/ui/label/next", auth=("bob", PASSWORDS["bob"]))
        assert basic.status_code == 200 and basic.json()["item"]["id"] != item["id"]
    rows = [r for r in current_labels(secure.data).to_pylist() if r["source"] == "ui"]
    assert [(r["labelled_by"], r["trusted"]) for r in rows] == [("ada", True)]


def test_one_lease_per_labeller_however_many_calls(guarded):
    client, secure = guarded
    with TestClient(client.app) as script:
        held = {script.get("/ui/label/next", auth=("bob", PASSWORDS["bob"])).json()["item"]["id"] for _ in range(20)}
    assert len(held) == 1
    state = json.loads((secure.data / "queue" / "state.json").read_text())
    assert [lease["holder"] for lease in state["leases"].values()] == ["bob"]


def test_sign_out_ends_the_session_on_the_server(guarded):
    client, _ = guarded
    sign_in(client, "ada")
    cookie = client.cookies.get(SESSION_COOKIE)
    assert client.get("/ui/label/next").status_code == 200
    assert client.get("/ui/logout", follow_redirects=False).status_code == 303
    # The same cookie replayed (a copy an attacker kept) no longer works, on any replica.
    with TestClient(client.app, cookies={SESSION_COOKIE: cookie}) as replay:
        assert replay.get("/ui/label/next").status_code == 401


def test_failed_sign_ins_back_off_per_account_and_address(guarded):
    client, _ = guarded
    limit = client.app.state.sentiops.settings.ui_login_attempts_per_minute
    for _ in range(limit):
        assert sign_in(client, "ada", "not-her-password").status_code == 401
    waited = sign_in(client, "ada")
    assert waited.status_code == 429 and int(waited.headers["retry-after"]) >= 1  # even the right password waits
    # Another account from the same address (colleagues behind one proxy) is not locked out.
    assert sign_in(client, "bob").status_code == 303
    time.sleep(int(waited.headers["retry-after"]) + 0.1)
    assert sign_in(client, "ada", "still-not-it").status_code == 401
    longer = sign_in(client, "ada")
    assert longer.status_code == 429 and int(longer.headers["retry-after"]) >= 2  # the wait doubles


def test_bad_requests_get_clear_errors(settings, client):
    _fill_queue(client, settings, 2)
    item = client.get("/ui/label/next").json()["item"]
    bad = client.post(f"/ui/label/items/{item['id']}", json={"label": "mixed"})
    assert bad.status_code == 422
    unknown = client.post("/ui/label/items/2026010100-0000", json={"label": "positive"})
    assert unknown.status_code == 404 and "no queued item" in unknown.json()["detail"]
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


def test_an_api_label_of_a_queued_tweet_does_not_block_the_labellers(guarded):
    client, secure = guarded
    sign_in(client, "ada")
    item = client.get("/ui/label/next").json()["item"]
    # An API caller labels the same prediction first (with the other label than Ada will give).
    sent = client.post("/feedback", json={"prediction_id": item["id"], "label": "negative"}, headers=CALLER)
    assert sent.status_code == 200
    stored = client.post(f"/ui/label/items/{item['id']}", json={"label": "positive"})
    assert stored.status_code == 200, stored.text  # not a 422 conflict
    [row] = [r for r in current_labels(secure.data).to_pylist() if r["prediction_id"] == item["id"]]
    assert (row["label"], row["trusted"], row["labelled_by"]) == (1, True, "ada")


def test_a_queue_that_cannot_be_written_is_a_503_with_its_reason(guarded, monkeypatch):
    import errno
    import os

    client, _ = guarded
    sign_in(client, "ada")

    def full(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "state.json")

    monkeypatch.setattr("sentiops.labelling.queue.write_json_atomic", full)
    refused = client.get("/ui/label/next")
    assert refused.status_code == 503 and "Read-only file system" in refused.json()["detail"]


def test_a_scripts_wrong_passwords_back_off_too(guarded):
    client, _ = guarded
    limit = client.app.state.sentiops.settings.ui_login_attempts_per_minute
    with TestClient(client.app) as script:
        for _ in range(limit):
            assert script.get("/ui/label/next", auth=("bob", "a-wrong-guess-0000")).status_code == 401
        assert script.get("/ui/label/next", auth=("bob", PASSWORDS["bob"])).status_code == 429
        assert script.get("/ui/label/next", auth=("ada", PASSWORDS["ada"])).status_code == 200
