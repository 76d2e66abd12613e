"""Secret hygiene: values that look like secrets are fingerprinted wherever they appear.

Every rule of ingest/secret_names.py, ingest/secret_text.py and ingest/secrets.py is pinned here:
each key spelling, each shape, each text pattern, and the values that must be left alone.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from ingest import secrets as secrets_module
from ingest.secret_names import names_a_secret, normal_key
from ingest.secret_text import entropy, random_looking
from ingest.secrets import (
    MAX_DEPTH,
    TOO_DEEP,
    _hide,
    fingerprint,
    is_secret_key,
    quiet,
    scrub,
    scrub_all,
    scrub_free,
    scrub_string,
    scrub_text,
)

KEY = "test-key"

# Fake secrets of every shape (built here, so no real-looking token sits in the repository).
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MaLkPLANTED\n-----END RSA PRIVATE KEY-----"
GHP = "ghp_" + "A1b2C3d4" * 4 + "E5f6"
GHO = "gho_" + "Z9y8X7w6" * 4 + "V5u4"
GH_PAT = "github_pat_" + "11ABCDEFG0" * 3 + "_" + "q1W2e3R4t5" * 5
SLACK = "xoxb-1234567890123-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_APP = "xapp-1-A0123456789-1234567890123-" + "abcdef0123456789" * 2
SSWS = "00" + "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7Q"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_SESSION = "IQoJb3JpZ2luX2VjEPLANTED/SESSION+TOKEN0123456789abcdefABCDEF=="
VAULT = "hvs.CAESIPLANTEDVAULTTOKEN0123456789abcdef"
GITLAB = "glpat-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn"
GOOGLE_API = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
GCP_KEY_JSON = {
    "type": "service_account",
    "project_id": "p",
    "private_key_id": "0123456789abcdef",
    "private_key": PEM,
    "client_email": "sa@p.iam.gserviceaccount.com",
}
GCP_KEY_B64 = base64.b64encode(orjson.dumps(GCP_KEY_JSON, option=orjson.OPT_INDENT_2)).decode()

SHAPES = [JWT, PEM, GHP, GHO, GH_PAT, SLACK, SLACK_APP, AWS_SECRET, AWS_SESSION, VAULT, GITLAB, GOOGLE_API]


def leaked(secret: str, value: Any) -> bool:
    return secret in orjson.dumps(value).decode().replace("\\n", "\n")


@pytest.mark.parametrize(
    "name",
    [
        "sessionToken", "SessionToken", "session_token", "session-token", "SESSION_TOKEN",
        "x-amz-security-token", "X-Amz-Security-Token", "client_secret", "clientSecret", "ClientSecret",
        "password", "Password", "db_password", "passwd", "passphrase", "Authorization",
        "proxy-authorization", "SAMLResponse", "samlAssertion", "privateKeyData", "private_key",
        "secretAccessKey", "aws_secret_access_key", "access_token", "refreshToken", "id_token",
        "client_token", "x-vault-token", "api_key", "apiKey", "x-api-key", "webhook_secret", "cookie",
        "Set-Cookie", "jwt", "client_assertion", "secret_id", "token", "connectionString",
    ],
)  # fmt: skip
def test_every_spelling_of_a_secret_key_is_one_name(name: str) -> None:
    assert is_secret_key(name) and names_a_secret(name)
    out = scrub({"a": [{name: "s3cr3t-value"}]}, KEY)
    assert out["a"][0][name] == fingerprint("s3cr3t-value", KEY)


@pytest.mark.parametrize(
    "name",
    [
        "hashed_token", "token_type", "next_page_token", "tokenId", "accessKeyId", "secretArn",
        "passwordLastUsed", "PasswordResetRequired", "keyId", "name", "secretName", "credentials",
    ],
)  # fmt: skip
def test_keys_that_only_mention_a_secret_are_not_secret(name: str) -> None:
    assert not is_secret_key(name)
    assert scrub({name: "abc"}, KEY) == {name: "abc"}


def test_normal_key_drops_case_and_separators() -> None:
    assert normal_key("X-Amz-Security.Token value") == "xamzsecuritytokenvalue"


def test_values_under_secret_keys() -> None:
    rec = {
        "a": {"client_token": "hvs.123", "list": [{"Authorization": "Basic dXNlcjpwYXNz"}]},
        "keep": "x",
        "secret": True,  # a flag, not a secret
        "password": 12345678,  # numbers are hidden too (a PIN)
        "token": {"nested": "whole container"},
        "empty": {"token": ""},
    }
    out = scrub(rec, KEY)
    assert out["a"]["client_token"] == fingerprint("hvs.123", KEY)
    assert out["a"]["list"][0]["Authorization"].startswith("fp:")
    assert out["keep"] == "x" and out["secret"] is True and out["empty"] == {"token": ""}
    assert out["password"] == fingerprint("12345678", KEY)
    assert out["token"] == fingerprint('{"nested":"whole container"}', KEY)
    assert rec["a"]["client_token"] == "hvs.123"  # the input is not mutated


def test_a_clean_record_is_returned_as_it_is() -> None:
    rec = {"a": [1, 2.5, None, "plain", {"b": "c"}], "d": "arn:aws:iam::1:role/x"}
    assert scrub(rec, KEY) is rec


@pytest.mark.parametrize("secret", SHAPES)
def test_shapes_are_fingerprinted_under_any_key_and_in_text(secret: str) -> None:
    rec = {"note": secret, "list": ["x", secret], "text": f"saw {secret} here"}
    out = scrub(rec, KEY)
    assert not leaked(secret, out), out
    assert out["note"] == fingerprint(secret, KEY)
    assert out["text"].startswith("saw fp:") and out["text"].endswith(" here")


def test_gcp_key_json_inside_a_string_and_base64() -> None:
    out = scrub({"keyFile": orjson.dumps(GCP_KEY_JSON).decode(), "blob": GCP_KEY_B64}, KEY)
    assert PEM not in str(out) and "PLANTED" not in str(out)
    assert orjson.loads(out["keyFile"])["client_email"] == "sa@p.iam.gserviceaccount.com"  # the rest is kept
    assert out["blob"] == fingerprint(GCP_KEY_B64, KEY)
    plain_json_b64 = base64.b64encode(orjson.dumps({"kind": "x" * 90}, option=orjson.OPT_INDENT_2)).decode()
    assert scrub_string(plain_json_b64, KEY) == plain_json_b64  # base64 JSON without a key is kept


def test_json_inside_strings_is_walked_like_a_record() -> None:
    inner = {"headers": [{"X-Amz-Security-Token": "abc123"}], "ok": "kept"}
    out = scrub({"requestParameters": {"policy": orjson.dumps(inner).decode()}}, KEY)
    policy = orjson.loads(out["requestParameters"]["policy"])
    assert policy["headers"][0]["X-Amz-Security-Token"] == fingerprint("abc123", KEY)
    assert policy["ok"] == "kept"
    assert (
        scrub_string("[not json] token=abc12345", KEY) == f"[not json] token={fingerprint('abc12345', KEY)}"
    )


def test_escaped_json_in_raw_text() -> None:
    raw = r'{"msg": "{\"SessionToken\": \"abc123\", \"user\": \"bob\"}"'  # a cut-off line
    out = scrub_text(raw, KEY)
    assert "abc123" not in out and '\\"user\\": \\"bob\\"' in out


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /cb?client_secret=abc123def&x=1", "abc123def"),
        ("password=hunter22 user=bob", "hunter22"),
        ("my_token=zzzzzzzz other", "zzzzzzzz"),
        ('{"token": "' + JWT + '"}', JWT),
        ("Authorization: SSWS " + SSWS, SSWS),
        ("Authorization: Bearer abcdefghijklmn", "abcdefghijklmn"),
        ("authorization: basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ('"secretAccessKey":"wJalrXUtnFEMI/K7MDENG"', "wJalrXUtnFEMI/K7MDENG"),
        ("Cookie: session=abc123; theme=dark", "session=abc123; theme=dark"),
        ('"set-cookie": "sid=s3cr3t; Path=/"', "sid=s3cr3t; Path=/"),
        ("a bare " + JWT + " in a message", JWT),
        ("cut short: " + JWT[:40], JWT[:40]),
        ("https://s3/x?X-Amz-Security-Token=IQoJabc%2Fdef&X-Amz-Date=1", "IQoJabc%2Fdef"),
        ("{'password': 'single quoted'}", "single quoted"),
        ('{"password": "cut off at the end', "cut off at the end"),
        ("key " + AWS_SECRET + " in text", AWS_SECRET),
        (PEM.replace("-----END RSA PRIVATE KEY-----", ""), "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn"),
    ],
)
def test_free_text_secrets_are_fingerprinted(text: str, secret: str) -> None:
    out = scrub_text(text, KEY)
    assert secret not in out
    assert "fp:" in out
    assert not quiet(text)


@pytest.mark.parametrize(
    "text",
    [
        "tokens are issued per pod; see the secret store docs",
        "basic information about the job",
        "arn:aws:secretsmanager:us-east-1:1:secret:prod/db-AbC",
        "Okta user.account.reset_password: published is missing",
        "gcp-sa-token:0000000000000@cloudbuild.gserviceaccount.com",
        "token_type=JWT KeyType=Password",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # a SHA-1: 40 characters, but hex
        "apis/apps/v1/namespaces/default/deploys1",  # 40 characters of path
        "Authorization: Bearer",
        "password=fp:0123456789abcdef0123456789abcdef",  # fingerprinted already
    ],
)
def test_text_that_only_mentions_secrets_is_left_alone(text: str) -> None:
    assert scrub_text(text, KEY) == text


def test_quiet_means_nothing_to_scan() -> None:
    assert quiet("plain words") and quiet("auth/token/create") and quiet("token: x" * 0 + "k=v")
    assert not quiet("x" * 40)  # long enough to be a bare AWS secret key
    for mark in ("eyJ", "ghp_", "xox", "SSWS", "PRIVATE KEY", "hvs.", "Cookie", "bearer"):
        assert not quiet(f"a {mark} b"), mark
    assert not quiet("password: x") and quiet("password x")


def test_random_looking_needs_mixed_classes_and_entropy() -> None:
    assert random_looking(AWS_SECRET)
    assert not random_looking("a" * 20 + "B1" * 10)  # low entropy
    assert not random_looking(AWS_SECRET.lower())  # no upper case
    assert not random_looking(AWS_SECRET.upper())  # no lower case
    assert not random_looking("wJalrXUtnFEMIKMDENGbPxRfiCYEXAMPLEKEYabc")  # no digit
    assert entropy("") == 0.0 and entropy("ab") == 1.0


def test_a_kubernetes_secret_object_hides_its_data() -> None:
    obj = {
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"pw": "aHVudGVyMg=="},
        "stringData": {"x": "y"},
    }
    out = scrub(obj, KEY)
    assert out["metadata"] == {"name": "db"}
    assert out["data"].startswith("fp:") and out["stringData"].startswith("fp:")
    assert scrub({"kind": "ConfigMap", "data": {"a": "b"}}, KEY)["data"] == {"a": "b"}


def test_deep_nesting_is_cut_not_a_crash() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    out = scrub({"x": deep}, KEY)
    node = out["x"]
    for _ in range(MAX_DEPTH - 1):
        node = node[0]
    assert node == TOO_DEEP


def test_fingerprint_is_keyed_and_stable() -> None:
    assert fingerprint("v", "k1") == fingerprint("v", "k1") != fingerprint("v", "k2")
    assert fingerprint("v", "k1").startswith("fp:") and len(fingerprint("v", "k1")) == 35


# --- the rules behind the walkers, one by one ----------------------------------------------------


@pytest.fixture
def fresh_verdicts(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    cache: dict[str, bool] = {}
    monkeypatch.setattr(secrets_module, "_KEY_VERDICTS", cache)
    return cache


def test_key_verdicts_are_cached_bounded_and_only_for_short_names(
    fresh_verdicts: dict[str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_secret_key("clientSecret") and fresh_verdicts == {"clientSecret": True}
    assert not is_secret_key("name") and fresh_verdicts["name"] is False
    long_name = "x" * 60 + "_password"
    assert is_secret_key(long_name) and long_name not in fresh_verdicts  # past 64 characters: not kept
    fresh_verdicts["stale"] = True  # a cached verdict is believed
    assert is_secret_key("stale")
    monkeypatch.setattr(secrets_module, "_KEY_VERDICTS_MAX", 3)
    is_secret_key("a")
    assert set(fresh_verdicts) == {"a"}  # full: cleared, then the new verdict kept


def test_every_key_of_a_record_is_looked_at_whatever_comes_before(fresh_verdicts: dict[str, bool]) -> None:
    rec = {
        "n": 1,
        "f": 1.5,
        "b": True,
        "none": None,
        "password": "pw-value",
        "tail": ["x", 1, None, "token=abcdefgh"],
    }
    out = scrub(rec, KEY)
    assert out["password"] == fingerprint("pw-value", KEY)
    assert out["tail"][3] == f"token={fingerprint('abcdefgh', KEY)}"
    assert out["n"] == 1 and out["b"] is True and out["none"] is None
    assert scrub([None, 1, 2.5, {"token": "t1"}], KEY) == [None, 1, 2.5, {"token": fingerprint("t1", KEY)}]


def test_hidden_containers_and_odd_values() -> None:
    assert _hide({"b": 1, "a": 2}, KEY) == fingerprint(
        '{"a":2,"b":1}', KEY
    )  # sorted: one fingerprint per content
    assert _hide(2**70, KEY) == fingerprint(repr(2**70), KEY)  # orjson refuses ints past 64 bits
    assert _hide("fp:0123", KEY) == "fp:0123"
    assert _hide(False, KEY) is False


def test_json_inside_a_string_needs_both_brackets() -> None:
    # a secret whose value is an object: only the JSON walk can hide it whole
    assert "visible" not in scrub_string('{"password": {"a": "visible"}}', KEY)
    assert "visible" not in scrub_string('  [{"password": {"a": "visible"}}]  ', KEY)
    # starts like JSON but isn't: scanned as text, left alone when nothing matches
    assert scrub_string('{"just": "text", no end' + "x" * 40, KEY).startswith('{"just"')
    assert scrub_string('note: {"password": {"a": "kept-by-text"}}', KEY).count("kept-by-text") == 1


def test_nesting_depth_counts_from_the_top_and_json_in_strings_starts_one_deeper() -> None:
    def nested(depth: int) -> Any:
        value: Any = "leaf"
        for _ in range(depth):
            value = [value]
        return value

    assert "leaf" in str(scrub(nested(MAX_DEPTH), KEY)) and TOO_DEEP not in str(scrub(nested(MAX_DEPTH), KEY))
    assert TOO_DEEP in str(scrub(nested(MAX_DEPTH + 1), KEY))
    assert scrub_all(nested(MAX_DEPTH), KEY) == nested(MAX_DEPTH)
    text = orjson.dumps(nested(MAX_DEPTH - 1)).decode() + " " * 40  # not quiet: it is walked
    assert scrub_string(text, KEY) == text  # JSON in a string sits one level down: still within the cap
    deeper = orjson.dumps({"token": "t", "d": nested(MAX_DEPTH)}).decode()
    assert TOO_DEEP in scrub_string(deeper, KEY)


def test_scrub_free_uses_the_key_it_is_given() -> None:
    assert scrub_free("password=hunter22", "k1") == f"password={fingerprint('hunter22', 'k1')}"
    assert scrub_free("password=hunter22", "k1") != scrub_free("password=hunter22", "k2")


def test_fingerprint_details() -> None:
    assert fingerprint("a", KEY) != fingerprint("b", KEY)
    assert fingerprint("\ud800 lone surrogate", KEY).startswith("fp:")  # no encoding error
    long_key = "k" * 100
    assert fingerprint("v", long_key) == fingerprint("v", "k" * 64)  # BLAKE2b keys stop at 64 bytes


def test_base64_key_json_of_any_length_is_decoded() -> None:
    for pad in ("", " ", "  "):  # lengths with 0, 1 and 2 characters of padding missing
        doc = orjson.dumps(
            {"type": "service_account", "note": pad, "private_key": "MIIE" + "A" * 80},
            option=orjson.OPT_INDENT_2,
        )
        run = base64.b64encode(doc).decode().rstrip("=")
        assert scrub_text(f"blob {run} end", KEY) == f"blob {fingerprint(run, KEY)} end", len(run) % 4
    broken = "ew" + "A" * 101  # length 1 mod 4: not base64 at all
    assert scrub_text(f"x {broken}", KEY) == f"x {broken}"


def test_pairs_keep_everything_around_the_value() -> None:
    text = 'a=1, x-token=abcdefgh, "password": "p w", b=2'
    out = scrub_text(text, KEY)
    assert out == f'a=1, x-token={fingerprint("abcdefgh", KEY)}, "password": "{fingerprint("p w", KEY)}", b=2'
    assert scrub_text("password=", KEY) == "password=" and scrub_text('password: ""', KEY) == 'password: ""'
    assert scrub_text("pw ok; password=fp:abc", KEY) == "pw ok; password=fp:abc"
    assert (
        scrub_text("Authorization: Basic " + "dXNlcjpwYXNz", KEY)
        == f"Authorization: Basic {fingerprint('dXNlcjpwYXNz', KEY)}"
    )
    assert scrub_text("BEARER\tabcdefghij", KEY) == f"BEARER\t{fingerprint('abcdefghij', KEY)}"


@pytest.mark.parametrize("word", ["basic", "BASIC", "Bearer", "ssws", "Cookie"])
def test_quiet_sees_scheme_words_in_any_case(word: str) -> None:
    assert not quiet(f"{word} x")


def test_long_text_without_any_mark_is_still_scanned_for_base64_key_json() -> None:
    doc = orjson.dumps(
        {"type": "service_account", "private_key": "MIIE" + "B" * 90}, option=orjson.OPT_INDENT_2
    )
    run = base64.b64encode(doc).decode()
    assert run not in scrub_text(run, KEY)
    short = "ew" + "Q" * 97  # 99 characters: too short to be a key file
    assert scrub_text(short, KEY) == short
