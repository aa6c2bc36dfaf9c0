"""Drives hsmkms's Cloud KMS API with Google's own google-cloud-kms client (REST transport).

Run by tests/cloud_client.rs in phases against one daemon whose development clock it moves
between them:

  main       key rings, symmetric, asymmetric and MAC keys, version states, import, errors
  expired    after 3 days and 1 second: the import job is EXPIRED and refuses imports
  destroyed  after 30 days and more: the version destroyed in `main` is DESTROYED

Settings come from the environment:
  HSMKMS_CLOUD_ENDPOINT   the API's base URL, http://127.0.0.1:PORT
  HSMKMS_CLOUD_TOKEN      bearer token of an admin principal
  HSMKMS_CLOUD_APP_TOKEN  bearer token of a principal that is not an admin
  HSMKMS_AWS_KEY_ID       a key made through the AWS API (checked in `main`)
  HSMKMS_CLOUD_STATE      a JSON file that carries names and ciphertexts between phases

Every check runs even when an earlier one failed; each failure is printed with its reason,
and the script exits 1 when any check failed.
"""

import base64
import datetime
import hashlib
import json
import os
import sys
import time
import traceback

import google.auth.exceptions
import google.oauth2.credentials
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from google.api_core import exceptions
from google.cloud import kms_v1

Purpose = kms_v1.CryptoKey.CryptoKeyPurpose
Algorithm = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm
State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
JobState = kms_v1.ImportJob.ImportJobState
ImportMethod = kms_v1.ImportJob.ImportMethod
HSM = kms_v1.ProtectionLevel.HSM

LOCATION = "projects/hsmkms-client/locations/europe-west1"
RING = f"{LOCATION}/keyRings/client-ring"
AWS_LOCATION = "projects/111122223333/locations/us-east-1"
DAY = datetime.timedelta(days=1)
# How long a version or an import job may take to leave its PENDING_ state (the daemon
# generates in the token as it answers, so this is only a bound).
PENDING_POLLS = 200
PENDING_POLL_SECONDS = 0.05


def crc32c(data):
    """CRC-32C (Castagnoli), the checksum of the API's *_crc32c fields."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_entry(index):
    for _ in range(8):
        index = (index >> 1) ^ (0x82F63B78 if index & 1 else 0)
    return index


_CRC32C_TABLE = [_crc32c_entry(i) for i in range(256)]


class CheckFailed(Exception):
    """A check's expectation that the daemon's answer did not meet."""


def expect(condition, reason):
    if not condition:
        raise CheckFailed(reason)


def expect_eq(actual, expected, what):
    expect(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def expect_error(cls, status, what, call, *args, **kwargs):
    """Calls `call`, which must fail with the client exception `cls` and the google.rpc
    `status` in the error body; returns the exception. In the JSON form of an error
    (AIP-193) `code` is the HTTP status, not the google.rpc.Code number."""
    try:
        answer = call(*args, **kwargs)
    except exceptions.GoogleAPICallError as error:
        body = error.response.json() if error.response is not None else {}
        detail = body.get("error", {})
        expect(
            isinstance(error, cls),
            f"{what}: expected {cls.__name__}, got {type(error).__name__}: {error}",
        )
        expect_eq(detail.get("status"), status, f"{what}: error.status")
        expect_eq(detail.get("code"), error.code, f"{what}: error.code (HTTP status)")
        expect(detail.get("message"), f"{what}: error.message is empty: {body}")
        return error
    raise CheckFailed(f"{what}: expected {cls.__name__} ({status}), got an answer: {answer}")


def describe(error):
    """A failure's reason; for an API error, the HTTP status and the body the daemon sent."""
    if isinstance(error, exceptions.GoogleAPICallError) and error.response is not None:
        return f"{type(error).__name__}: {error.message}; answer {error.response.text.strip()}"
    return str(error) if isinstance(error, CheckFailed) else repr(error)


def failing_line(error):
    """The line of the check that `error` came out of."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == __file__]
    return frames[1].lineno if len(frames) > 1 else "?"


class StaticToken(google.oauth2.credentials.Credentials):
    """A bearer token that cannot be refreshed. The client answers a 401 by refreshing its
    credentials and trying again; plain credentials without a refresh token raise
    RefreshError there, these let the 401 reach the caller as Unauthorized."""

    def refresh(self, request):
        pass


def client(token, credentials=google.oauth2.credentials.Credentials):
    return kms_v1.KeyManagementServiceClient(
        transport="rest",
        credentials=credentials(token),
        client_options={"api_endpoint": os.environ["HSMKMS_CLOUD_ENDPOINT"]},
    )


class Run:
    """The checks of one phase, the client they share and the state carried across phases."""

    def __init__(self):
        self.kms = client(os.environ["HSMKMS_CLOUD_TOKEN"])
        self.state_path = os.environ["HSMKMS_CLOUD_STATE"]
        self.state = {}
        if os.path.exists(self.state_path):
            with open(self.state_path, encoding="utf-8") as file:
                self.state = json.load(file)
        self.passed = []
        self.failed = []

    def check(self, name, body):
        try:
            body(self)
        except Exception as error:  # every failure is reported, whatever raised it
            self.failed.append(name)
            print(f"FAIL {name} (line {failing_line(error)}): {describe(error)}")
            if not isinstance(error, (CheckFailed, exceptions.GoogleAPICallError)):
                traceback.print_exc(file=sys.stdout)
        else:
            self.passed.append(name)
            print(f"ok   {name}")
        sys.stdout.flush()

    def save(self):
        with open(self.state_path, "w", encoding="utf-8") as file:
            json.dump(self.state, file)

    # Helpers shared by the checks.

    def crypto_key(self, key_id, purpose, algorithm, **fields):
        skip = fields.pop("skip_initial_version_creation", False)
        return self.kms.create_crypto_key(
            request={
                "parent": RING,
                "crypto_key_id": key_id,
                "crypto_key": {
                    "purpose": purpose,
                    "version_template": {"algorithm": algorithm, "protection_level": HSM},
                    **fields,
                },
                "skip_initial_version_creation": skip,
            }
        )

    def settled(self, version_name):
        """The version once it has left PENDING_GENERATION and PENDING_IMPORT."""
        for _ in range(PENDING_POLLS):
            version = self.kms.get_crypto_key_version(name=version_name)
            if version.state not in (State.PENDING_GENERATION, State.PENDING_IMPORT):
                return version
            time.sleep(PENDING_POLL_SECONDS)
        raise CheckFailed(f"{version_name} still {version.state.name}")

    def first_version(self, key):
        """Version 1 of an asymmetric or MAC key, once ENABLED."""
        expect(not key.primary.name, f"a {key.purpose.name} key has a primary version")
        version = self.settled(f"{key.name}/cryptoKeyVersions/1")
        expect_eq(version.state, State.ENABLED, f"{version.name} state")
        expect_eq(version.algorithm, key.version_template.algorithm, f"{version.name} algorithm")
        return version

    def roundtrip(self, key_name, plaintext, aad=b""):
        """Encrypts and decrypts under `key_name`, checking every CRC32C field; the encrypt
        answer."""
        encrypted = self.kms.encrypt(
            request={
                "name": key_name,
                "plaintext": plaintext,
                "plaintext_crc32c": crc32c(plaintext),
                "additional_authenticated_data": aad,
                "additional_authenticated_data_crc32c": crc32c(aad),
            }
        )
        expect(encrypted.verified_plaintext_crc32c, "encrypt: verified_plaintext_crc32c")
        expect(
            encrypted.verified_additional_authenticated_data_crc32c,
            "encrypt: verified_additional_authenticated_data_crc32c",
        )
        expect_eq(
            encrypted.ciphertext_crc32c, crc32c(encrypted.ciphertext), "encrypt: ciphertext_crc32c"
        )
        expect(
            encrypted.name.startswith(f"{key_name}/cryptoKeyVersions/"),
            f"encrypt: name {encrypted.name!r} is not a version of {key_name}",
        )
        expect_eq(encrypted.protection_level, HSM, "encrypt: protection_level")
        decrypted = self.decrypt(key_name, encrypted.ciphertext, aad)
        expect_eq(decrypted.plaintext, plaintext, "decrypt: plaintext")
        expect_eq(decrypted.plaintext_crc32c, crc32c(plaintext), "decrypt: plaintext_crc32c")
        expect(decrypted.used_primary, "decrypt: used_primary")
        return encrypted

    def decrypt(self, key_name, ciphertext, aad=b""):
        return self.kms.decrypt(
            request={
                "name": key_name,
                "ciphertext": ciphertext,
                "ciphertext_crc32c": crc32c(ciphertext),
                "additional_authenticated_data": aad,
                "additional_authenticated_data_crc32c": crc32c(aad),
            }
        )

    def set_state(self, version_name, state):
        return self.kms.update_crypto_key_version(
            request={
                "crypto_key_version": {"name": version_name, "state": state},
                "update_mask": {"paths": ["state"]},
            }
        )

    def import_job(self, job_id, method):
        """A new import job with a 3072-bit wrapping key, once ACTIVE; remembered for the
        `expired` phase."""
        job = self.kms.create_import_job(
            request={
                "parent": RING,
                "import_job_id": job_id,
                "import_job": {"import_method": method, "protection_level": HSM},
            }
        )
        expect_eq(job.name, f"{RING}/importJobs/{job_id}", "import job name")
        for _ in range(PENDING_POLLS):
            job = self.kms.get_import_job(name=job.name)
            if job.state != JobState.PENDING_GENERATION:
                break
            time.sleep(PENDING_POLL_SECONDS)
        expect_eq(job.state, JobState.ACTIVE, f"{job.name} state")
        expect_eq(job.import_method, method, f"{job.name} import_method")
        lifetime = job.expire_time - job.create_time
        expect(
            3 * DAY <= lifetime <= 3 * DAY + datetime.timedelta(seconds=1),
            f"{job.name} expires {lifetime} after its creation, expected 3 days",
        )
        job_key = serialization.load_pem_public_key(job.public_key.pem.encode())
        expect_eq(job_key.key_size, 3072, "wrapping key size")
        listed = [j.name for j in self.kms.list_import_jobs(parent=RING)]
        expect(job.name in listed, f"{job.name} not in list_import_jobs: {listed}")
        self.state.setdefault("import_jobs", []).append(job.name)
        return job

    def import_only_key(self, key_id):
        key = self.crypto_key(
            key_id,
            Purpose.ENCRYPT_DECRYPT,
            Algorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
            import_only=True,
            skip_initial_version_creation=True,
        )
        expect(key.import_only, "import_only")
        expect(not key.primary.name, f"an import-only key has a primary: {key.primary.name}")
        expect_eq(list(self.kms.list_crypto_key_versions(parent=key.name)), [], "versions")
        return key

    def import_version(self, key, job, field, wrapped):
        """Imports `wrapped` through `job` into `key` by the request field `field`; the
        version, checked ENABLED."""
        version = self.kms.import_crypto_key_version(
            request={
                "parent": key.name,
                "algorithm": Algorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
                "import_job": job.name,
                field: wrapped,
            }
        )
        version = self.settled(version.name)
        expect_eq(version.state, State.ENABLED, f"state of the version imported by {field}")
        expect_eq(version.import_job, job.name, "import_job of the imported version")
        expect("import_time" in version, "an imported version has no import_time")
        return version

    def use_imported(self, key, version):
        """Makes `version` the primary of `key` and encrypts and decrypts under it."""
        self.kms.update_crypto_key_primary_version(
            name=key.name, crypto_key_version_id=version.name.rsplit("/", 1)[1]
        )
        encrypted = self.roundtrip(key.name, b"under imported material", b"imported")
        expect_eq(encrypted.name, version.name, "encrypt under the imported version")


def wrap_for_import(job_public_pem, target_key, digest=hashes.SHA1):
    """The Cloud KMS import wrapping of RSA_OAEP_*_AES_256: a fresh AES-256 key under
    RSA-OAEP (`digest` for OAEP and MGF1: SHA-1, or SHA-256 for the *_SHA256_* methods)
    with the job's public key, then the target key under that AES key with AES-KWP
    (RFC 5649), concatenated."""
    public_key = serialization.load_pem_public_key(job_public_pem.encode())
    ephemeral = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
    return public_key.encrypt(ephemeral, oaep) + aes_key_wrap_with_padding(ephemeral, target_key)


# Phase main.


def key_rings(run):
    ring = run.kms.create_key_ring(
        request={"parent": LOCATION, "key_ring_id": "client-ring", "key_ring": {}}
    )
    expect_eq(ring.name, RING, "created key ring name")
    expect("create_time" in ring, "created key ring has no create_time")
    expect_eq(run.kms.get_key_ring(name=RING).name, RING, "get_key_ring name")
    for index in range(3):
        run.kms.create_key_ring(
            request={"parent": LOCATION, "key_ring_id": f"paged-{index}", "key_ring": {}}
        )
    pages = run.kms.list_key_rings(request={"parent": LOCATION, "page_size": 2}).pages
    names = [[ring.name for ring in page.key_rings] for page in pages]
    expect(all(len(page) <= 2 for page in names), f"pages larger than page_size 2: {names}")
    expect_eq(
        sorted(sum(names, [])),
        sorted([RING] + [f"{LOCATION}/keyRings/paged-{i}" for i in range(3)]),
        "listed key rings over all pages",
    )
    expect_error(
        exceptions.Conflict,
        "ALREADY_EXISTS",
        "create an existing key ring",
        run.kms.create_key_ring,
        request={"parent": LOCATION, "key_ring_id": "client-ring", "key_ring": {}},
    )


def symmetric_encryption(run):
    key = run.crypto_key(
        "sym", Purpose.ENCRYPT_DECRYPT, Algorithm.GOOGLE_SYMMETRIC_ENCRYPTION, labels={"team": "a"}
    )
    expect_eq(key.name, f"{RING}/cryptoKeys/sym", "crypto key name")
    expect_eq(key.purpose, Purpose.ENCRYPT_DECRYPT, "purpose")
    expect_eq(key.primary.name, f"{key.name}/cryptoKeyVersions/1", "primary version")
    expect_eq(key.primary.state, State.ENABLED, "primary state")
    expect_eq(key.version_template.protection_level, HSM, "protection level")
    expect_eq(key.destroy_scheduled_duration, 30 * DAY, "default destroy_scheduled_duration")
    expect_eq(dict(key.labels), {"team": "a"}, "labels")

    aad = b"order=42"
    encrypted = run.roundtrip(key.name, b"attack at dawn", aad)
    expect_eq(encrypted.name, key.primary.name, "encrypt used the primary version")
    expect_error(
        exceptions.BadRequest,
        "INVALID_ARGUMENT",
        "decrypt with a wrong additional_authenticated_data",
        run.decrypt,
        key.name,
        encrypted.ciphertext,
        b"order=43",
    )
    expect_error(
        exceptions.BadRequest,
        "INVALID_ARGUMENT",
        "encrypt with a wrong plaintext_crc32c",
        run.kms.encrypt,
        request={"name": key.name, "plaintext": b"x", "plaintext_crc32c": crc32c(b"y")},
    )
    expect_error(
        exceptions.BadRequest,
        "INVALID_ARGUMENT",
        "decrypt with a wrong ciphertext_crc32c",
        run.kms.decrypt,
        request={
            "name": key.name,
            "ciphertext": encrypted.ciphertext,
            "ciphertext_crc32c": crc32c(encrypted.ciphertext) ^ 1,
            "additional_authenticated_data": aad,
        },
    )

    patched = run.kms.update_crypto_key(
        request={
            "crypto_key": {"name": key.name, "labels": {"team": "b", "env": "test"}},
            "update_mask": {"paths": ["labels"]},
        }
    )
    expect_eq(dict(patched.labels), {"team": "b", "env": "test"}, "patched labels")
    expect_eq(
        dict(run.kms.get_crypto_key(name=key.name).labels),
        {"team": "b", "env": "test"},
        "labels read back",
    )
    listed = [k.name for k in run.kms.list_crypto_keys(parent=RING)]
    expect(key.name in listed, f"{key.name} not in list_crypto_keys: {listed}")


def version_lifecycle(run):
    key = run.crypto_key("versions", Purpose.ENCRYPT_DECRYPT, Algorithm.GOOGLE_SYMMETRIC_ENCRYPTION)
    first = f"{key.name}/cryptoKeyVersions/1"
    old = run.roundtrip(key.name, b"under version 1")

    second = run.kms.create_crypto_key_version(parent=key.name, crypto_key_version={})
    expect_eq(second.name, f"{key.name}/cryptoKeyVersions/2", "created version name")
    expect_eq(run.settled(second.name).state, State.ENABLED, "created version state")
    expect_eq(
        run.kms.get_crypto_key(name=key.name).primary.name,
        first,
        "a new version does not become primary by itself",
    )
    updated = run.kms.update_crypto_key_primary_version(
        name=key.name, crypto_key_version_id="2"
    )
    expect_eq(updated.primary.name, second.name, "primary after update_crypto_key_primary_version")
    expect_eq(run.roundtrip(key.name, b"under version 2").name, second.name, "encrypt version")
    from_first = run.decrypt(key.name, old.ciphertext)
    expect_eq(from_first.plaintext, b"under version 1", "old ciphertext after a primary change")
    expect(not from_first.used_primary, "decrypt under version 1 reports used_primary")

    disabled = run.set_state(first, State.DISABLED)
    expect_eq(disabled.state, State.DISABLED, "state after disable")
    expect_error(
        exceptions.BadRequest,
        "FAILED_PRECONDITION",
        "decrypt under a DISABLED version",
        run.decrypt,
        key.name,
        old.ciphertext,
    )
    enabled_names = [
        v.name
        for v in run.kms.list_crypto_key_versions(
            request={"parent": key.name, "filter": "state=ENABLED"}
        )
    ]
    expect_eq(enabled_names, [second.name], "versions listed with filter state=ENABLED")
    expect_eq(run.set_state(first, State.ENABLED).state, State.ENABLED, "state after enable")
    expect_eq(run.decrypt(key.name, old.ciphertext).plaintext, b"under version 1", "re-enabled")

    destroyed = run.kms.destroy_crypto_key_version(name=first)
    expect_eq(destroyed.state, State.DESTROY_SCHEDULED, "state after destroy")
    expect("destroy_time" in destroyed, "a DESTROY_SCHEDULED version has no destroy_time")
    scheduled = destroyed.destroy_time - destroyed.create_time
    expect(
        30 * DAY <= scheduled < 30 * DAY + datetime.timedelta(minutes=10),
        f"destroy_time is {scheduled} after create_time, expected 30 days",
    )
    expect_error(
        exceptions.BadRequest,
        "FAILED_PRECONDITION",
        "decrypt under a DESTROY_SCHEDULED version",
        run.decrypt,
        key.name,
        old.ciphertext,
    )
    restored = run.kms.restore_crypto_key_version(name=first)
    expect_eq(restored.state, State.DISABLED, "state after restore")
    expect("destroy_time" not in restored, "a restored version still has a destroy_time")
    run.set_state(first, State.ENABLED)
    expect_eq(run.decrypt(key.name, old.ciphertext).plaintext, b"under version 1", "restored")

    # A third version destroyed and left scheduled: the `destroyed` phase finds it DESTROYED.
    third = run.kms.create_crypto_key_version(parent=key.name, crypto_key_version={})
    run.kms.update_crypto_key_primary_version(name=key.name, crypto_key_version_id="3")
    under_third = run.roundtrip(key.name, b"under version 3")
    run.kms.update_crypto_key_primary_version(name=key.name, crypto_key_version_id="2")
    expect_eq(
        run.kms.destroy_crypto_key_version(name=third.name).state,
        State.DESTROY_SCHEDULED,
        "third version after destroy",
    )
    run.state["destroyed_version"] = third.name
    run.state["destroyed_ciphertext"] = base64.b64encode(under_third.ciphertext).decode()


def asymmetric_sign(run):
    key = run.crypto_key("ec-sign", Purpose.ASYMMETRIC_SIGN, Algorithm.EC_SIGN_P256_SHA256)
    version = run.first_version(key)
    public = run.kms.get_public_key(name=version.name)
    expect_eq(public.name, version.name, "public key name")
    expect_eq(public.algorithm, Algorithm.EC_SIGN_P256_SHA256, "public key algorithm")
    expect_eq(public.pem_crc32c, crc32c(public.pem.encode()), "pem_crc32c")
    public_key = serialization.load_pem_public_key(public.pem.encode())
    expect(isinstance(public_key, ec.EllipticCurvePublicKey), f"not an EC key: {public.pem}")
    expect_eq(public_key.curve.name, "secp256r1", "curve")

    digest = hashlib.sha256(b"a message to sign").digest()
    signed = run.kms.asymmetric_sign(
        request={"name": version.name, "digest": {"sha256": digest}, "digest_crc32c": crc32c(digest)}
    )
    expect(signed.verified_digest_crc32c, "asymmetric_sign: verified_digest_crc32c")
    expect_eq(signed.signature_crc32c, crc32c(signed.signature), "signature_crc32c")
    expect_eq(signed.name, version.name, "asymmetric_sign name")
    public_key.verify(signed.signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def mac(run):
    key = run.crypto_key("hmac", Purpose.MAC, Algorithm.HMAC_SHA256)
    version = run.first_version(key)
    data = b"a message to authenticate"
    signed = run.kms.mac_sign(
        request={"name": version.name, "data": data, "data_crc32c": crc32c(data)}
    )
    expect(signed.verified_data_crc32c, "mac_sign: verified_data_crc32c")
    expect_eq(len(signed.mac), 32, "HMAC-SHA256 length")
    expect_eq(signed.mac_crc32c, crc32c(signed.mac), "mac_crc32c")
    verified = run.kms.mac_verify(
        request={
            "name": version.name,
            "data": data,
            "data_crc32c": crc32c(data),
            "mac": signed.mac,
            "mac_crc32c": crc32c(signed.mac),
        }
    )
    expect(verified.success, "mac_verify of the MAC just made")
    expect(verified.verified_data_crc32c and verified.verified_mac_crc32c, "mac_verify CRC32Cs")
    expect_eq(verified.verified_success_integrity, verified.success, "verified_success_integrity")
    tampered = bytes([signed.mac[0] ^ 1]) + signed.mac[1:]
    expect(
        not run.kms.mac_verify(request={"name": version.name, "data": data, "mac": tampered}).success,
        "mac_verify accepted a tampered MAC",
    )


def asymmetric_decrypt(run):
    key = run.crypto_key(
        "rsa-decrypt", Purpose.ASYMMETRIC_DECRYPT, Algorithm.RSA_DECRYPT_OAEP_2048_SHA256
    )
    version = run.first_version(key)
    public = run.kms.get_public_key(name=version.name)
    public_key = serialization.load_pem_public_key(public.pem.encode())
    expect(isinstance(public_key, rsa.RSAPublicKey), f"not an RSA key: {public.pem}")
    expect_eq(public_key.key_size, 2048, "RSA key size")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    ciphertext = public_key.encrypt(b"for the token only", oaep)
    decrypted = run.kms.asymmetric_decrypt(
        request={
            "name": version.name,
            "ciphertext": ciphertext,
            "ciphertext_crc32c": crc32c(ciphertext),
        }
    )
    expect_eq(decrypted.plaintext, b"for the token only", "asymmetric_decrypt plaintext")
    expect(decrypted.verified_ciphertext_crc32c, "verified_ciphertext_crc32c")
    expect_eq(decrypted.plaintext_crc32c, crc32c(decrypted.plaintext), "plaintext_crc32c")


def random_bytes(run):
    answer = run.kms.generate_random_bytes(
        request={"location": LOCATION, "length_bytes": 32, "protection_level": HSM}
    )
    expect_eq(len(answer.data), 32, "random length")
    expect_eq(answer.data_crc32c, crc32c(answer.data), "data_crc32c")
    again = run.kms.generate_random_bytes(
        request={"location": LOCATION, "length_bytes": 32, "protection_level": HSM}
    )
    expect(answer.data != again.data, "two random answers are equal")


def import_key(run):
    job = run.import_job("client-job", ImportMethod.RSA_OAEP_3072_SHA1_AES_256)
    key = run.import_only_key("imported")
    imported = [
        run.import_version(key, job, field, wrap_for_import(job.public_key.pem, os.urandom(32)))
        for field in ("wrapped_key", "rsa_aes_wrapped_key")
    ]
    expect_eq(
        [v.name.rsplit("/", 1)[1] for v in imported], ["1", "2"], "imported version numbers"
    )
    for version in imported:
        run.use_imported(key, version)

    # Material the job did not wrap: refused at once, or a version in IMPORT_FAILED.
    garbage = {
        "parent": key.name,
        "algorithm": Algorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
        "import_job": job.name,
        "wrapped_key": os.urandom(384 + 40),
    }
    try:
        failed = run.settled(run.kms.import_crypto_key_version(request=garbage).name)
    except exceptions.BadRequest as error:
        expect_eq(error.response.json()["error"]["status"], "INVALID_ARGUMENT", "bad wrapping")
    else:
        expect_eq(failed.state, State.IMPORT_FAILED, "state of a version imported from garbage")
        expect(failed.import_failure_reason, "an IMPORT_FAILED version has no reason")
    run.state["import_key"] = key.name


def import_key_sha256(run):
    # SoftHSM2 has no OAEP with SHA-256: the daemon's recorded host-decoding fallback.
    job = run.import_job("client-job-sha256", ImportMethod.RSA_OAEP_3072_SHA256_AES_256)
    key = run.import_only_key("imported-sha256")
    wrapped = wrap_for_import(job.public_key.pem, os.urandom(32), hashes.SHA256)
    run.use_imported(key, run.import_version(key, job, "wrapped_key", wrapped))


def errors(run):
    expect_error(
        exceptions.NotFound,
        "NOT_FOUND",
        "get a missing crypto key",
        run.kms.get_crypto_key,
        name=f"{RING}/cryptoKeys/missing",
    )
    expect_error(
        exceptions.NotFound,
        "NOT_FOUND",
        "get a missing key ring",
        run.kms.get_key_ring,
        name=f"{LOCATION}/keyRings/missing",
    )
    expect_error(
        exceptions.Forbidden,
        "PERMISSION_DENIED",
        "get a key ring as a principal that is not an admin",
        client(os.environ["HSMKMS_CLOUD_APP_TOKEN"]).get_key_ring,
        name=RING,
    )
    expect_error(
        exceptions.Unauthorized,
        "UNAUTHENTICATED",
        "get a key ring with an unknown token",
        client("not-a-token", StaticToken).get_key_ring,
        name=RING,
    )
    try:
        client("not-a-token").get_key_ring(name=RING)
    except google.auth.exceptions.RefreshError:
        pass  # the 401 made the client try to refresh a token it cannot refresh
    else:
        raise CheckFailed("an unknown token was accepted")
    expect_error(
        exceptions.BadRequest,
        "INVALID_ARGUMENT",
        "create an ENCRYPT_DECRYPT key with a signing algorithm",
        run.crypto_key,
        "bad-algorithm",
        Purpose.ENCRYPT_DECRYPT,
        Algorithm.EC_SIGN_P256_SHA256,
    )
    expect_error(
        exceptions.BadRequest,
        "INVALID_ARGUMENT",
        "create a key ring with an id that is not [a-zA-Z0-9_-]{1,63}",
        run.kms.create_key_ring,
        request={"parent": LOCATION, "key_ring_id": "no spaces", "key_ring": {}},
    )


def aws_key(run):
    key_id = os.environ["HSMKMS_AWS_KEY_ID"]
    name = f"{AWS_LOCATION}/keyRings/aws/cryptoKeys/{key_id}"
    key = run.kms.get_crypto_key(name=name)
    expect_eq(key.name, name, "AWS key's crypto key name")
    expect_eq(key.purpose, Purpose.ENCRYPT_DECRYPT, "AWS key's purpose")
    expect_eq(key.primary.state, State.ENABLED, "AWS key's primary state")
    listed = [k.name for k in run.kms.list_crypto_keys(parent=f"{AWS_LOCATION}/keyRings/aws")]
    expect(name in listed, f"{name} not listed in the aws key ring: {listed}")
    run.roundtrip(name, b"through the other front door", b"cross-api")


# Phase expired (3 days and 1 second later).


def import_job_expired(run):
    jobs = [run.kms.get_import_job(name=name) for name in run.state["import_jobs"]]
    for job in jobs:
        expect_eq(job.state, JobState.EXPIRED, f"{job.name} state after 3 days")
    job = jobs[0]
    # The job's wrapping key is gone; a key of the same shape gets the request past the
    # wrapping checks to the state check.
    wrapping = rsa.generate_private_key(public_exponent=65537, key_size=3072).public_key()
    pem = wrapping.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    expect_error(
        exceptions.BadRequest,
        "FAILED_PRECONDITION",
        "import through an EXPIRED import job",
        run.kms.import_crypto_key_version,
        request={
            "parent": run.state["import_key"],
            "algorithm": Algorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
            "import_job": job.name,
            "wrapped_key": wrap_for_import(pem, os.urandom(32)),
        },
    )
    expect_eq(
        run.kms.get_crypto_key_version(name=run.state["destroyed_version"]).state,
        State.DESTROY_SCHEDULED,
        "a version 3 days into its 30-day schedule",
    )


# Phase destroyed (more than 30 days after `main`).


def version_destroyed(run):
    name = run.state["destroyed_version"]
    version = run.kms.get_crypto_key_version(name=name)
    expect_eq(version.state, State.DESTROYED, "state after the scheduled destruction")
    expect("destroy_event_time" in version, "a DESTROYED version has no destroy_event_time")
    key_name = name.split("/cryptoKeyVersions/")[0]
    expect_error(
        exceptions.BadRequest,
        "FAILED_PRECONDITION",
        "decrypt under a DESTROYED version",
        run.decrypt,
        key_name,
        base64.b64decode(run.state["destroyed_ciphertext"]),
    )
    expect_error(
        exceptions.BadRequest,
        "FAILED_PRECONDITION",
        "restore a DESTROYED version",
        run.kms.restore_crypto_key_version,
        name=name,
    )
    expect_eq(
        run.roundtrip(key_name, b"the key lives on").name,
        f"{key_name}/cryptoKeyVersions/2",
        "encrypt under the primary beside a DESTROYED version",
    )


PHASES = {
    "main": [
        key_rings,
        symmetric_encryption,
        version_lifecycle,
        asymmetric_sign,
        mac,
        asymmetric_decrypt,
        random_bytes,
        import_key,
        import_key_sha256,
        errors,
        aws_key,
    ],
    "expired": [import_job_expired],
    "destroyed": [version_destroyed],
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in PHASES:
        print(f"usage: {sys.argv[0]} {'|'.join(PHASES)}")
        return 2
    phase = sys.argv[1]
    run = Run()
    for body in PHASES[phase]:
        run.check(body.__name__, body)
    run.save()
    total = len(run.passed) + len(run.failed)
    print(f"phase {phase}: {len(run.passed)} of {total} checks passed")
    if run.failed:
        print(f"phase {phase} failed: {', '.join(run.failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
