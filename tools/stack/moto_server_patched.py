"""moto_server with two emulator defects fixed, each guarded against a moto that has changed.

1. SQS DeleteMessage racing SendMessage loses messages.

moto (5.1.22, and 5.2.5 still) deletes an SQS message by rebuilding the queue's message list
without the lock that SendMessage takes to append to it. The server is threaded, so a message
sent while another one is being deleted can be dropped from the queue (the rebuilt list replaces
the one it was appended to), and of two concurrent deletes one can come back to life. Measured on
an unpatched moto: 800 messages sent while 800 others were deleted in parallel batches left 797
and 791 (two runs), with 111 and 149 deleted ones back in flight. Real SQS loses nothing; tests
that send while the ingestion consumer deletes (test/ingest/simulated-load.test.ts, the ingestion
chaos test) lost readings to this. Patch: Queue.delete_message under that same lock.

2. IoT CreateCertificateFromCsr ignores the CSR's public key.

moto 5.1.22's IoTBackend.create_certificate_from_csr keeps only the CSR's subject: it generates a
new RSA-2048 key for every certificate, puts that key's public half in the certificate and
self-signs with it. Real AWS IoT issues the certificate for the CSR's public key, signed by an AWS
CA; with moto, the device key behind our CSR never matches its certificate, so nothing can use the
pair (test/ingest/mqtt-provisioned.test.ts had to use CERTIFICATE_MODE=create-keys). Patch: the
certificate carries the CSR's public key and subject and is signed by ONE emulator CA key (EC
P-256, generated at import, once per moto process) under moto's own issuer name (C=US, O=Moto,
OU=Server CA 1B, CN=Moto). Everything else is moto's: same SAN, validity and random serial, the
same register_certificate call (certificate id, ARN and status come from it as before), plus an
authorityKeyIdentifier naming the CA's key.
CreateKeysAndCertificate is untouched (it still calls _generate_certificate_pem with its own key).
The CSR's signature is not checked (nor was it before).

The emulator CA's certificate is published: a self-signed certificate for the CA key, made once
at import (subject = issuer = that name, basicConstraints CA:TRUE pathlen 0, keyUsage keyCertSign
and cRLSign, subjectKeyIdentifier; valid from a day before start for ten years). It is the issuer
of every CSR certificate, so a TLS peer that trusts it verifies their chain for real (name,
signature, key identifier). When the environment variable MOTO_IOT_CA_FILE names a file, its PEM
is written there at start (a temporary file in the same folder, then renamed: a reader sees the
whole certificate or no file). startMoto sets it; the end-to-end MQTT test's broker trusts it.
Real AWS's counterpart is the Amazon CA that signs IoT certificates (the certificates of
CreateCertificateFromCsr chain to Amazon Root CA 1, the CA devices are given for the ATS
endpoint); this CA is moto's, per moto process, and only stands in for it.

Second gain, CPU: the RSA-2048 keygen (about 41 ms of CPU alone) was about half of moto's CPU in
the provisioning benchmark (0.086 CPU-s per plant). bench/moto-csr.ts (`npm run bench:moto-csr`),
100 CreateCertificateFromCsr on each server, both in the same run, moto process CPU (utime+stime)
per certificate, HTTP handling included, 2-core machine shared with other work: plain moto_server
67.9 ms, this file 5.8 ms (11.7 times less; load average 3.5); again at load average 9.6: 77.8 and
6.6 ms (11.8 times).

tools/stack/components.ts startMoto runs moto through this file.
Run with moto's own interpreter: python moto_server_patched.py -H 127.0.0.1 -p PORT
"""

import functools
import inspect
import os
import sys
import tempfile
import textwrap
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from moto.core.utils import utcnow
from moto.iot.models import FakeCertificate, IoTBackend
from moto.server import main
from moto.sqs.models import Queue

# --- 1. SQS: Queue.delete_message under Queue._messages_lock ------------------------------------

_delete_message = Queue.delete_message
if "self._messages_lock" not in inspect.getsource(Queue.__init__):
    raise SystemExit("moto_server_patched: this moto has no Queue._messages_lock; review the SQS patch")


@functools.wraps(_delete_message)
def _locked_delete_message(self, receipt_handle):
    with self._messages_lock:
        return _delete_message(self, receipt_handle)


Queue.delete_message = _locked_delete_message
print("moto_server_patched: Queue.delete_message holds Queue._messages_lock", file=sys.stderr, flush=True)

# --- 2. IoT: CreateCertificateFromCsr certifies the CSR's key, signed by one emulator CA --------

# moto 5.1.22's method, verbatim: the patch replaces exactly this, and nothing else it cannot see.
_REPLACED_CREATE_CERTIFICATE_FROM_CSR = '''
def create_certificate_from_csr(
    self, csr: str, set_as_active: bool
) -> FakeCertificate:
    cert = x509.load_pem_x509_csr(csr.encode("utf-8"), default_backend())
    pem = self._generate_certificate_pem(
        domain_name="example.com", subject=cert.subject
    )
    return self.register_certificate(
        pem, ca_certificate_pem=None, set_as_active=set_as_active, status="INACTIVE"
    )
'''
try:
    _current_source = textwrap.dedent(inspect.getsource(IoTBackend.create_certificate_from_csr)).strip()
except (OSError, TypeError):  # no source to compare: not moto's method as this file knows it
    _current_source = None
if _current_source != _REPLACED_CREATE_CERTIFICATE_FROM_CSR.strip():
    raise SystemExit(
        "moto_server_patched: moto's IoTBackend.create_certificate_from_csr is not the one this"
        " patch replaces (moto 5.1.22's); review the IoT patch"
    )

# The issuer moto's _generate_certificate_pem writes (C = US, O = Moto, OU = Server CA 1B, CN = Moto).
_CA_NAME = x509.Name(
    [
        x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Moto"),
        x509.NameAttribute(x509.NameOID.ORGANIZATIONAL_UNIT_NAME, "Server CA 1B"),
        x509.NameAttribute(x509.NameOID.COMMON_NAME, "Moto"),
    ]
)
_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_SKI = x509.SubjectKeyIdentifier.from_public_key(_CA_KEY.public_key())
_CA_START = utcnow()
# The emulator's CA certificate: self-signed, for _CA_KEY, the issuer of every CSR certificate.
_CA_CERT = (
    x509.CertificateBuilder()
    .subject_name(_CA_NAME)
    .issuer_name(_CA_NAME)
    .public_key(_CA_KEY.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(_CA_START - timedelta(days=1))
    .not_valid_after(_CA_START + timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(
        x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    .add_extension(_CA_SKI, critical=False)
    .sign(_CA_KEY, hashes.SHA256())
)
_CA_AKI = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_CA_SKI)


def _publish_ca_certificate(path: str) -> None:
    """Writes the CA certificate's PEM to `path`: a temporary file next to it, then a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".moto-iot-ca-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_CA_CERT.public_bytes(Encoding.PEM))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def _create_certificate_from_csr(self, csr: str, set_as_active: bool) -> FakeCertificate:
    request = x509.load_pem_x509_csr(csr.encode("utf-8"))
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(_CA_CERT.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.com")]), critical=False)
        .add_extension(_CA_AKI, critical=False)
        .sign(_CA_KEY, hashes.SHA256())
    )
    pem = cert.public_bytes(Encoding.PEM).decode("utf-8")
    return self.register_certificate(
        pem, ca_certificate_pem=None, set_as_active=set_as_active, status="INACTIVE"
    )


IoTBackend.create_certificate_from_csr = _create_certificate_from_csr
print(
    "moto_server_patched: IoT CreateCertificateFromCsr certifies the CSR's public key (one EC P-256 CA key)",
    file=sys.stderr,
    flush=True,
)
_CA_FILE = os.environ.get("MOTO_IOT_CA_FILE")
if _CA_FILE:
    _publish_ca_certificate(_CA_FILE)
    print(f"moto_server_patched: IoT CA certificate written to {_CA_FILE}", file=sys.stderr, flush=True)

if __name__ == "__main__":
    sys.exit(main())
