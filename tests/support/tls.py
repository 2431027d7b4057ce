"""A self-signed certificate for 127.0.0.1, made with openssl for TLS tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from controlplane.ops.serving import TlsFiles


def self_signed(directory: Path, name: str = "server") -> TlsFiles:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return TlsFiles(cert, key)
