#!/usr/bin/env python3
"""FTPS interop tests for Rotary with Python's ftplib (standard library only).

Run by ftps.sh against two servers it starts:

  FTPS_HOST          127.0.0.1
  FTPS_PORT          explicit FTPS control port of the main server
                     (--tls-self-signed --tls-allow-ccc)
  FTPS_IMPLICIT_PORT implicit FTPS port of the main server
  FTPS_STRICT_PORT   control port of the strict server
                     (--require-tls --tls-require-session-reuse)
  FTPS_USER, FTPS_PASS
  FTPS_ROOT          the main server's --root on this machine

Prints "PASS name" or "FAIL name: reason" per case and a last line
"ftps-python: N passed, M failed". Exit status 1 on any failure.
"""

import ftplib
import hashlib
import io
import os
import socket
import ssl
import sys
import traceback

TIMEOUT = 20  # seconds, for every socket operation
HOST = os.environ.get("FTPS_HOST", "127.0.0.1")
PORT = int(os.environ["FTPS_PORT"])
IMPLICIT_PORT = int(os.environ["FTPS_IMPLICIT_PORT"])
STRICT_PORT = int(os.environ["FTPS_STRICT_PORT"])
USER = os.environ["FTPS_USER"]
PASS = os.environ["FTPS_PASS"]
ROOT = os.path.realpath(os.environ["FTPS_ROOT"])


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def context():
    # The servers use throwaway self-signed certificates.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ResumingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS
    session, as servers with vsftpd's require_ssl_reuse expect. ftplib
    itself does not (Python 3.11: ntransfercmd wraps without session=)."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
            self.resumed.append(conn.session_reused)
        return conn, size

    resumed = None


class ImplicitFTP_TLS(ftplib.FTP_TLS):
    """Implicit FTPS: the socket is TLS from the first byte. Data defaults
    to PROT P on the server, so no PBSZ/PROT is sent."""

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        self._prot_p = True
        return self.welcome


def explicit(cls=ftplib.FTP_TLS, port=PORT):
    ftp = cls(context=context(), timeout=TIMEOUT)
    ftp.connect(HOST, port)
    ftp.login(USER, PASS)  # sends AUTH TLS first
    ftp.prot_p()
    return ftp


def download(ftp, name):
    buf = io.BytesIO()
    ftp.retrbinary("RETR " + name, buf.write)
    return buf.getvalue()


def case_explicit_10mib_round_trip():
    ftp = explicit()
    try:
        check(isinstance(ftp.sock, ssl.SSLSocket), "control connection is not TLS")
        feat = ftp.sendcmd("FEAT")
        for f in ("AUTH TLS", "PBSZ", "PROT"):
            check(f in feat, "FEAT lacks %s: %r" % (f, feat))
        data = os.urandom(10 << 20)
        ftp.storbinary("STOR big-explicit.bin", io.BytesIO(data))
        with open(os.path.join(ROOT, "big-explicit.bin"), "rb") as f:
            check(sha(f.read()) == sha(data), "file on disk differs")
        got = download(ftp, "big-explicit.bin")
        check(sha(got) == sha(data), "RETR: %d bytes, sha256 differs" % len(got))
        names = ftp.nlst()
        check("big-explicit.bin" in names, "NLST over TLS: %r" % names)
        ftp.voidcmd("NOOP")
    finally:
        ftp.quit()


def case_empty_file():
    ftp = explicit()
    try:
        ftp.storbinary("STOR empty.bin", io.BytesIO(b""))
        check(download(ftp, "empty.bin") == b"", "empty file not empty")
    finally:
        ftp.quit()


def case_implicit():
    ftp = ImplicitFTP_TLS(context=context(), timeout=TIMEOUT)
    ftp.connect(HOST, IMPLICIT_PORT)
    try:
        check(ftp.welcome.startswith("220"), "greeting %r" % ftp.welcome)
        ftp.login(USER, PASS)
        data = os.urandom(1 << 20)
        ftp.storbinary("STOR implicit.bin", io.BytesIO(data))
        check(sha(download(ftp, "implicit.bin")) == sha(data), "implicit round trip differs")
    finally:
        ftp.quit()


def case_abort_during_download():
    ftp = explicit()
    try:
        with open(os.path.join(ROOT, "abort.bin"), "wb") as f:
            f.truncate(256 << 20)
        conn = ftp.transfercmd("RETR abort.bin")
        conn.recv(65536)
        resp = ftp.abort()  # FTP_TLS.abort sends ABOR in band
        # RFC 959: 426 for the transfer, then 226 for ABOR.
        check(resp.startswith("426"), "ABOR: %r" % resp)
        resp = ftp.voidresp()
        check(resp.startswith("226"), "after 426: %r" % resp)
        conn.close()
        ftp.voidcmd("NOOP")
    finally:
        ftp.quit()


def case_ccc():
    ftp = explicit()
    try:
        ftp.storbinary("STOR ccc.bin", io.BytesIO(b"before CCC"))
        resp = ftp.ccc()
        check(resp.startswith("200"), "CCC: %r" % resp)
        check(ftp.sock.version() is None, "control connection still TLS")
        ftp.voidcmd("NOOP")
        # Data keeps PROT P: the download is still TLS.
        check(download(ftp, "ccc.bin") == b"before CCC", "download after CCC")
    finally:
        ftp.quit()


def case_require_tls_refusal():
    ftp = ftplib.FTP(timeout=TIMEOUT)
    ftp.connect(HOST, STRICT_PORT)
    try:
        ftp.login(USER, PASS)
        raise Failure("clear-text login accepted")
    except ftplib.error_perm as e:
        check(str(e).startswith("530") and "TLS required" in str(e), "login in clear: %r" % str(e))
    finally:
        ftp.close()
    # Logged in over TLS but without PROT P: data commands get 521.
    ftp = ftplib.FTP_TLS(context=context(), timeout=TIMEOUT)
    ftp.connect(HOST, STRICT_PORT)
    try:
        ftp.login(USER, PASS)
        try:
            ftp.nlst()
            raise Failure("NLST without PROT P accepted")
        except ftplib.error_perm as e:
            check(str(e).startswith("521"), "NLST without PROT P: %r" % str(e))
    finally:
        ftp.quit()


def case_session_reuse_resuming_client():
    ftp = explicit(ResumingFTP_TLS, STRICT_PORT)
    ftp.resumed = []
    try:
        data = os.urandom(300 << 10)
        ftp.storbinary("STOR reuse.bin", io.BytesIO(data))
        check(sha(download(ftp, "reuse.bin")) == sha(data), "round trip differs")
        check(ftp.resumed == [True, True], "data sessions resumed: %r" % ftp.resumed)
    finally:
        ftp.quit()


def case_session_reuse_refuses_stock_ftplib():
    ftp = explicit(ftplib.FTP_TLS, STRICT_PORT)
    try:
        try:
            ftp.nlst()
            raise Failure("a data connection without session reuse was accepted")
        except ftplib.error_temp as e:
            check(str(e).startswith("425") and "--tls-require-session-reuse" in str(e), "reply %r" % str(e))
        ftp.voidcmd("NOOP")  # the session goes on
    finally:
        ftp.quit()


def main():
    cases = [(n[5:], f) for n, f in sorted(globals().items()) if n.startswith("case_")]
    passed = failed = 0
    for name, fn in cases:
        try:
            fn()
            print("PASS", name)
            passed += 1
        except Exception as e:  # noqa: BLE001 - every failure is reported
            detail = str(e) if isinstance(e, Failure) else traceback.format_exc(limit=3)
            print("FAIL %s: %s" % (name, detail))
            failed += 1
        sys.stdout.flush()
    print("ftps-python: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
