"""Only trusted EHRs get in: a held-out battery of signed and forged tokens (CDS Hooks 2.0
security + best practices). Every refusal is a bare 401; the reason is only in the log."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds import StartupRefused, create_app
from cds.settings import SANDBOX_ISSUER, Settings
from tests.conftest import NOW, SIGN, chart_request

ISSUER = "https://ehr.example.org"
BASE = "http://localhost"
KID = "ehr-key-1"


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


EHR_KEY = _ec_key()
OTHER_KEY = _ec_key()
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "alg": alg, "use": "sig"}


def default_claims() -> dict[str, Any]:
    """The claims of a valid token from the trusted EHR for the order-sign service, fresh."""
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": BASE + SIGN,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "sub": "ehr-cds-client",
    }


def token(
    key: Any = EHR_KEY,
    alg: str = "ES384",
    kid: str | None = KID,
    extra_headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    payload = {k: v for k, v in (default_claims() | claims).items() if v is not None}
    headers = {"typ": "JWT"} | ({"kid": kid} if kid else {}) | (extra_headers or {})
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "ehr-jwks.json"
    keys = [_jwk(EHR_KEY, KID, "ES384"), _jwk(RSA_KEY, "ehr-rsa", "RS384")]
    path.write_text(json.dumps({"keys": keys}))
    return path


@pytest.fixture
def secure(tmp_path: Path, jwks_file: Path) -> FlaskClient:
    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        public_base_url=BASE,
    )
    return create_app(settings, clock=lambda: NOW).test_client()


def call(client: FlaskClient, bearer: str | None, path: str = SIGN) -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return client.post(path, json=chart_request("adult-70kg-rr-cycle1-correct"), headers=headers)


def test_a_token_signed_by_the_trusted_ehr_is_accepted(secure: FlaskClient) -> None:
    assert call(secure, token()).status_code == 200


def test_rsa_keys_of_a_trusted_ehr_work_too(secure: FlaskClient) -> None:
    assert call(secure, token(key=RSA_KEY, alg="RS384", kid="ehr-rsa")).status_code == 200


def _hs256_with_public_key(key: Any = EHR_KEY, kid: str = KID) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    payload = {
        "iss": ISSUER,
        "aud": BASE + SIGN,
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
        "jti": str(uuid.uuid4()),
    }
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _alg_none() -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": BASE + SIGN, "iat": now, "exp": now + 300, "jti": "x1"}
    # PyJWT takes "" as no key for alg none (its signature does not list None), the same token
    return jwt.encode(payload, "", algorithm="none", headers={"kid": KID})


FORGED = {
    "no token": lambda: None,
    "not a jwt": lambda: "hello",
    "wrong key": lambda: token(key=OTHER_KEY),
    "alg none": _alg_none,
    "HS256 with the public key as secret": _hs256_with_public_key,
    "wrong aud": lambda: token(aud="https://elsewhere.example.org/cds-services/x"),
    "aud of another service": lambda: token(aud=BASE + "/cds-services/blinatumomab-order-select"),
    "expired": lambda: token(iat=int(time.time()) - 900, exp=int(time.time()) - 600),
    "issued in the future": lambda: token(iat=int(time.time()) + 600, exp=int(time.time()) + 900),
    "no jti": lambda: token(jti=None),
    "no exp": lambda: token(exp=None),
    "unknown issuer": lambda: token(iss="https://evil.example.org"),
    "unknown kid": lambda: token(kid="ehr-key-9"),
    "no kid": lambda: token(kid=None),
    "junk characters in a segment": lambda: token().replace(".", ".!!!!", 1),
    "padding beyond base64url's": lambda: token() + "===",
    "forged jku": lambda: token(
        key=OTHER_KEY, extra_headers={"jku": "https://evil.example.org/jwks"}
    ),
}


@pytest.mark.parametrize("make", FORGED.values(), ids=FORGED.keys())
def test_forged_or_unfit_tokens_get_a_bare_401(secure: FlaskClient, make: Any) -> None:
    answer = call(secure, make())
    assert answer.status_code == 401
    assert answer.get_data() == b""


def test_a_replayed_token_is_refused(secure: FlaskClient) -> None:
    once = token()
    assert call(secure, once).status_code == 200
    assert call(secure, once).status_code == 401


def test_feedback_needs_a_token_for_its_own_url(secure: FlaskClient) -> None:
    feedback = {
        "feedback": [
            {
                "card": "c1",
                "outcome": "overridden",
                "overrideReason": {"userComment": "known"},
                "outcomeTimestamp": "2026-03-02T08:05:00Z",
            }
        ]
    }
    path = SIGN + "/feedback"
    assert secure.post(path, json=feedback).status_code == 401
    assert (
        secure.post(path, json=feedback, headers={"Authorization": f"Bearer {token()}"}).status_code
        == 401
    )
    good = {"Authorization": f"Bearer {token(aud=BASE + path)}"}
    assert secure.post(path, json=feedback, headers=good).status_code == 200


def test_discovery_is_open_by_default_and_closed_when_configured(
    tmp_path: Path, jwks_file: Path
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        public_base_url=BASE,
    )
    assert create_app(settings).test_client().get("/cds-services").status_code == 200
    closed = create_app(settings.model_copy(update={"auth_discovery": True})).test_client()
    assert closed.get("/cds-services").status_code == 401
    discovery_token = token(aud=BASE + "/cds-services")
    answer = closed.get("/cds-services", headers={"Authorization": f"Bearer {discovery_token}"})
    assert answer.status_code == 200
    assert "DEVELOPMENT MODE" not in answer.get_data(as_text=True)


def test_aud_is_the_public_url_behind_a_reverse_proxy(tmp_path: Path, jwks_file: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks_file)},
        public_base_url="https://cds.hospital.example",
    )
    client = create_app(settings, clock=lambda: NOW).test_client()
    assert call(client, token()).status_code == 401
    assert call(client, token(aud="https://cds.hospital.example" + SIGN)).status_code == 200


def test_without_trusted_issuers_and_without_dev_the_service_refuses_to_start(
    tmp_path: Path,
) -> None:
    with pytest.raises(StartupRefused, match="CDS_TRUSTED_ISSUERS"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}"))


def test_trusting_the_public_sandbox_is_one_setting(tmp_path: Path) -> None:
    """The sandbox's public JWKS ships with the service; a token claiming the sandbox's kid but
    signed with another key is refused (we do not hold the sandbox's private key)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trust_cds_hooks_sandbox=True,
        public_base_url=BASE,
    )
    assert settings.issuers()[SANDBOX_ISSUER].endswith(".json")
    client = create_app(settings).test_client()
    kid = json.loads(Path(settings.issuers()[SANDBOX_ISSUER]).read_text())["keys"][0]["kid"]
    forged = token(
        key=OTHER_KEY,
        kid=kid,
        iss=SANDBOX_ISSUER,
        extra_headers={"jku": "https://sandbox.cds-hooks.org/.well-known/jwks.json"},
    )
    assert call(client, forged).status_code == 401


def test_key_rotation_in_the_jwks_file_is_picked_up(secure: FlaskClient, jwks_file: Path) -> None:
    rotated = _ec_key()
    keys = json.loads(jwks_file.read_text())["keys"] + [_jwk(rotated, "ehr-key-2", "ES384")]
    time.sleep(0.01)
    jwks_file.write_text(json.dumps({"keys": keys}))
    import os

    os.utime(jwks_file, (time.time() + 5, time.time() + 5))
    assert call(secure, token(key=rotated, kid="ehr-key-2")).status_code == 200


def test_the_token_and_the_reason_never_reach_the_response_but_reach_the_log(
    secure: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    bad = token(key=OTHER_KEY)
    with caplog.at_level("INFO"):
        answer = call(secure, bad)
    assert answer.status_code == 401
    assert bad not in caplog.text
    assert "Signature" in caplog.text or "signature" in caplog.text


def test_a_replay_cache_that_cannot_answer_is_a_503_never_an_accepted_token(
    secure: FlaskClient,
) -> None:
    """If the database behind the replay cache is down, no token can be known to be new: the
    caller is told to retry (503) rather than let in or given a 500."""
    from sqlalchemy import text

    store = secure.application.extensions["cds.feedback"]
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE seen_tokens"))
    answer = call(secure, token())
    assert answer.status_code == 503
    assert answer.get_json()["issue"][0]["code"] == "transient"


EC_P256_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk_without_alg(key: Any, kid: str) -> dict[str, Any]:
    """A JWK as many EHRs publish it: `alg` is optional (RFC 7517)."""
    jwk = _jwk(key, kid, "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256")
    del jwk["alg"]
    return jwk


@pytest.fixture
def no_alg_client(tmp_path: Path) -> FlaskClient:
    """A trusted EHR whose JWKS states no `alg`: an RSA key and an EC P-256 key, and one RSA key
    that does state RS384."""
    path = tmp_path / "ehr-jwks.json"
    keys = [
        _jwk_without_alg(RSA_KEY, "rsa-no-alg"),
        _jwk_without_alg(EC_P256_KEY, "ec-no-alg"),
        _jwk(RSA_KEY, "rsa-rs384", "RS384"),
    ]
    path.write_text(json.dumps({"keys": keys}))
    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(path)},
        public_base_url=BASE,
    )
    return create_app(settings, clock=lambda: NOW).test_client()


@pytest.mark.parametrize("alg", ["RS384", "RS256", "RS512", "PS256", "PS384", "PS512"])
def test_an_rsa_jwk_without_alg_verifies_the_rsa_algorithm_the_token_names(
    no_alg_client: FlaskClient, alg: str
) -> None:
    """RS384 is what CDS Hooks recommends; PyJWT alone would take such a key as RS256 only."""
    assert call(no_alg_client, token(key=RSA_KEY, alg=alg, kid="rsa-no-alg")).status_code == 200


def test_an_ec_jwk_without_alg_verifies_only_its_curves_algorithm(
    no_alg_client: FlaskClient,
) -> None:
    assert (
        call(no_alg_client, token(key=EC_P256_KEY, alg="ES256", kid="ec-no-alg")).status_code == 200
    )
    assert call(no_alg_client, token(key=EHR_KEY, alg="ES384", kid="ec-no-alg")).status_code == 401


def test_a_jwk_without_alg_never_verifies_another_key_type_hmac_or_none(
    no_alg_client: FlaskClient,
) -> None:
    forged = {
        "EC algorithm on the RSA key": token(key=EHR_KEY, alg="ES384", kid="rsa-no-alg"),
        "RSA algorithm on the EC key": token(key=RSA_KEY, alg="RS384", kid="ec-no-alg"),
        "HS256 with the RSA public key as secret": _hs256_with_public_key(RSA_KEY, "rsa-no-alg"),
        "alg none": jwt.encode(
            default_claims(), "", algorithm="none", headers={"kid": "rsa-no-alg"}
        ),
    }
    for case, bad in forged.items():
        answer = call(no_alg_client, bad)
        assert (answer.status_code, answer.get_data()) == (401, b""), case


@pytest.mark.parametrize("alg", ["RS256", "RS512", "PS384"])
def test_a_jwk_stating_its_alg_keeps_requiring_exactly_that_alg(
    no_alg_client: FlaskClient, alg: str
) -> None:
    assert call(no_alg_client, token(key=RSA_KEY, alg=alg, kid="rsa-rs384")).status_code == 401
    assert call(no_alg_client, token(key=RSA_KEY, kid="rsa-rs384", alg="RS384")).status_code == 200
