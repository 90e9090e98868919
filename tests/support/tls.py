"""The sandbox served over TLS with a certificate made here, for MSAL, which talks to nothing but an https
authority. Clients trust it as a deployment trusts a private CA: a requests session's `verify`, or
REQUESTS_CA_BUNDLE (requests) and SSL_CERT_FILE (OpenSSL's default store, which urllib3 reads)."""
from __future__ import annotations

import datetime
import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "sandbox.pem", folder / "sandbox.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def serve_tls(app, folder: Path) -> Iterator[tuple[str, Path]]:
    """`app` on an https port of 127.0.0.1: (its URL, the certificate to trust)."""
    cert, key = make_certificate(folder)
    secure = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=secure.serve_forever, name="tls-sandbox", daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{secure.server_port}", cert
    finally:
        secure.shutdown()
        thread.join(timeout=10)
