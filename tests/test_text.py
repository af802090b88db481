from sentiops.text import clean_text, is_placeholder_only


def test_html_entities_are_decoded():
    assert clean_text("I &lt;3 this &amp; that") == "I <3 this & that"


def test_urls_and_mentions_become_placeholders():
    assert clean_text("@bob look http://t.co/x1 and www.example.com/a?b") == "@user look http and http"


def test_email_is_not_a_mention():
    assert clean_text("mail me at a@b.com") == "mail me at a@b.com"


def test_whitespace_is_collapsed():
    assert clean_text("  so \t tired \n\n today  ") == "so tired today"


def test_placeholder_only():
    assert is_placeholder_only(clean_text("@a @b http://x.y"))
    assert is_placeholder_only("")
    assert not is_placeholder_only(clean_text("@a great"))
