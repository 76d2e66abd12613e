"""Which record keys name a secret, whatever their case and separator.

``sessionToken``, ``SessionToken``, ``session_token``, ``session-token`` and ``Session.Token`` are
one name: keys are compared lower-cased with ``_``, ``-``, ``.`` and spaces removed. A key is a
secret when its normal form is listed below, or ends with a word that only secrets end with
(``webhook_secret``, ``db_password``, ``githubAccessToken``).
"""

from __future__ import annotations

_SEPARATORS = str.maketrans("", "", "_-. ")


def normal_key(name: str) -> str:
    """``X-Amz-Security-Token`` -> ``xamzsecuritytoken``."""
    return name.lower().translate(_SEPARATORS)


SECRET_KEYS = frozenset(
    normal_key(k)
    for k in (
        # tokens
        "token", "access_token", "refresh_token", "id_token", "client_token", "session_token",
        "security_token", "x-amz-security-token", "auth_token", "x-auth-token", "api_token",
        "x-vault-token", "bearer", "jwt",
        # keys and secrets
        "api_key", "x-api-key", "x-goog-api-key", "secret", "secret_key", "secret_access_key",
        "aws_secret_access_key", "client_secret", "secret_id", "private_key", "private_key_data",
        "shared_access_key", "account_key", "connection_string",
        # passwords
        "password", "passwd", "pwd", "passphrase",
        # headers and assertions
        "authorization", "proxy-authorization", "cookie", "set-cookie", "assertion",
        "client_assertion", "saml_response", "saml_assertion",
    )
)  # fmt: skip

# Normal forms that only secrets end with: "clientSecret", "webhook_secret", "db_password".
# "token" alone is not one of them: "next_page_token" and "hashed_token" are not secrets.
SECRET_SUFFIXES = (
    "secret", "password", "passwd", "passphrase", "privatekey", "privatekeydata", "apikey",
    "accesstoken", "refreshtoken", "sessiontoken", "securitytoken", "authtoken", "bearertoken",
    "idtoken", "clienttoken", "clientassertion", "samlresponse", "samlassertion", "secretaccesskey",
)  # fmt: skip


def names_a_secret(name: str) -> bool:
    """The uncached verdict: see :func:`ingest.secrets.is_secret_key` for the cached one."""
    key = normal_key(name)
    return key in SECRET_KEYS or key.endswith(SECRET_SUFFIXES)
