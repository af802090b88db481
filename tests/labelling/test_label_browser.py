"""The Label page in a real browser (Debian's Chromium, Playwright): three tweets labelled with the
keyboard alone by a signed-in labeller on a live server land in the store with her name; two
labellers never get the same item."""

from __future__ import annotations

import datetime as dt

from sentiops.data.feedback_reader import current_labels
from sentiops.labelling.picking import refresh_queue
from sentiops.serving.app import create_app
from tests.helpers.access import PASSWORDS, secured
from tests.helpers.browser import watch_console
from tests.helpers.feedback import predict
from tests.helpers.serving import live_server, wait_for
from tests.labelling.conftest import TWEETS

TODAY = dt.datetime.now(dt.UTC).date()


def _signed_in(browser, base: str, name: str):
    page = browser.new_context().new_page()
    page.goto(base + "/ui/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(base + "/ui/label")
    return page


def test_three_tweets_labelled_with_the_keyboard(client, settings, browser, tmp_path):
    predict(client, settings, TWEETS[160:165])
    refresh_queue(settings, TODAY, TODAY, size=5, seed=0)
    with live_server(create_app(secured(settings, tmp_path / "secrets"))) as base:
        page = _signed_in(browser, base, "ada")
        errors = watch_console(page)
        wait_for(lambda: "0 of 5 labelled" in page.inner_text("#progress"))
        seen = []
        for key in ("n", "p", "s", "e"):
            text = page.inner_text("#tweet")
            assert text and text not in seen
            seen.append(text)
            before = page.inner_text("#progress")
            page.keyboard.press(key)
            if key != "s":  # a skip leaves the counts as they were
                wait_for(lambda before=before: page.inner_text("#progress") != before)
            wait_for(lambda text=text: page.inner_text("#tweet") != text)
        assert "3 of 5 labelled" in page.inner_text("#progress") and "3 by you" in page.inner_text("#progress")
        assert page.is_hidden("#answer")  # the model's answer only on request
        page.keyboard.press("m")
        page.wait_for_selector("#answer:not([hidden])")
        assert "model 1:" in page.inner_text("#answer")
        # Another labeller gets neither a labelled tweet nor the one the first one holds (the
        # skipped one is free for others).
        other = _signed_in(browser, base, "bob")
        wait_for(lambda: other.inner_text("#tweet") != "")
        assert other.inner_text("#tweet") not in [seen[0], seen[1], seen[3], page.inner_text("#tweet")]
        assert errors == []
    rows = [r for r in current_labels(settings.data).to_pylist() if r["source"] == "ui"]
    assert sorted(r["text"].strip() for r in rows) == sorted(t.strip() for t in [seen[0], seen[1], seen[3]])
    by_text = {r["text"].strip(): r["label"] for r in rows}
    assert [by_text[seen[i].strip()] for i in (0, 1, 3)] == [0, 1, 2]  # negative, positive, neutral
    assert {r["labelled_by"] for r in rows} == {"ada"}
