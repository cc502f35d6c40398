"""The pinned trust anchor of DCAP attestation: Intel's SGX Provisioning Certification Root CA.

Every genuine SGX and TDX certificate chain (the PCK chain inside a quote, and the issuer
chains of the TCB info, the QE identity and the PCK CRL in the collateral) ends in this one
self-signed certificate. sealgate carries it in the code rather than trusting whichever root
a quote or its collateral brings along, and refuses any chain that ends elsewhere
(``root-ca-mismatch``): a look-alike root with the same name and another key proves nothing.

Certificate: ``CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US``,
serial ``22650CD65A9D3489F383B49552BF501B392706AC``, ECDSA P-256, valid 2018-05-21T10:45:10Z
to 2049-12-31T23:59:59Z, 659 bytes of DER.

- SHA-256 of the DER: ``44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3``
- SHA-1 of the DER:   ``8bd31eb1d63ce37382c0ffaa0d8200a3011ad6ff``

Intel publishes it at
https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.pem
(its CRL distribution point is .../IntelSGXRootCA.der). The bytes below were taken from the
issuer chains of the collateral in ``../shared/vectors/dcap/`` (Intel PCS collateral, see its
README); the SHA-256 above matches the value pinned independently by several public DCAP
verifiers, and dcap-qvl 0.7's compiled-in root gives the same results (docs/attestation.md).

The fingerprint is checked against the bytes by tests/enclaves/test_quote.py rather than at
import time: the check would load OpenSSL's hashlib into every verifying process, and
anyone able to edit this file could edit the check as well.
"""

from __future__ import annotations

import binascii
from typing import Final

__all__ = ["INTEL_SGX_ROOT_CA_DER", "INTEL_SGX_ROOT_CA_SHA256", "INTEL_SGX_ROOT_CA_SUBJECT"]

INTEL_SGX_ROOT_CA_SHA256: Final = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
INTEL_SGX_ROOT_CA_SUBJECT: Final = "CN=Intel SGX Root CA,O=Intel Corporation,L=Santa Clara,ST=CA,C=US"

_BASE64: Final = (
    "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw"
    "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv"
    "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ"
    "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG"
    "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0"
    "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT"
    "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7"
    "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB"
    "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ"
    "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50"
    "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV"
    "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI"
    "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg"
    "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI="
)

INTEL_SGX_ROOT_CA_DER: Final = binascii.a2b_base64(_BASE64, strict_mode=True)
