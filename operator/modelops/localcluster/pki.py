"""Certificates for the local control plane: a CA, the API server's serving cert,
an admin client cert (system:masters) and the service-account signing key."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
API_SERVER_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
API_SERVER_IPS = ("127.0.0.1", "10.96.0.1")  # the first IP of the service range


@dataclass(frozen=True)
class Pki:
    """File locations of everything `write_pki` creates."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.dir / "sa.pub"


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    is_ca: bool = False,
    usages: tuple[x509.ObjectIdentifier, ...] = (),
    san: x509.SubjectAlternativeName | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(directory: Path) -> Pki:
    """Create a fresh CA and the certificates the cluster needs, in `directory`."""
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("modelops-local-ca")
    ca = _issue(ca_name, ca_key, ca_name, ca_key, is_ca=True)

    server_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in API_SERVER_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in API_SERVER_IPS]
    )
    server = _issue(
        _name("kube-apiserver"),
        server_key,
        ca_name,
        ca_key,
        usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
        san=san,
    )
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _issue(
        _name("modelops-admin", "system:masters"),
        admin_key,
        ca_name,
        ca_key,
        usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    )
    # Service-account tokens are signed with RSA, which every client library verifies.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def write(path: Path, data: bytes) -> None:
        path.write_bytes(data)
        path.chmod(0o600)

    pem = serialization.Encoding.PEM
    write(pki.ca_cert, ca.public_bytes(pem))
    write(pki.ca_key, _key_pem(ca_key))
    write(pki.apiserver_cert, server.public_bytes(pem))
    write(pki.apiserver_key, _key_pem(server_key))
    write(pki.admin_cert, admin.public_bytes(pem))
    write(pki.admin_key, _key_pem(admin_key))
    write(pki.service_account_key, _key_pem(sa_key))
    write(
        pki.service_account_pub,
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
    )
    return pki
