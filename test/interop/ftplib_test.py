#!/usr/bin/env python3
"""Interop tests for the Rotary FTP server using Python's ftplib.

Standard library only. Configuration comes from the command line or the
environment (command line wins):

  --host      / FTP_HOST            control host (default 127.0.0.1)
  --port      / FTP_PORT            control port (required)
  --user      / FTP_USER            user name (required)
  --password  / FTP_PASS            password (required)
  --root      / FTP_ROOT            the server's --root directory on this machine (required)
  --exhaust-port  / FTP_EXHAUST_PORT   control port of a second server whose
                                       passive range is tiny (optional; the
                                       passive-exhaustion case is skipped without it)
  --exhaust-ports / FTP_EXHAUST_PASV_COUNT  number of ports in that range (default 3)
  --only      / FTP_ONLY            comma-separated case names to run (default all)

Prints one line per case ("PASS name", "FAIL name: reason" or "SKIP name:
reason") and a final "ftplib: N passed, M failed". Exit status 1 on any
failure.
"""

import argparse
import ftplib
import hashlib
import io
import os
import re
import socket
import sys
import time
import traceback

TIMEOUT = 20  # seconds, for every socket operation


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def expect_code(fn, code, what):
    """Run fn, expecting an ftplib error whose reply starts with code."""
    try:
        resp = fn()
    except ftplib.all_errors as e:
        text = str(e)
        check(text.startswith(str(code)), "%s: want %s, got %r" % (what, code, text))
        return text
    raise Failure("%s: want %s, got success %r" % (what, code, resp))


class Suite:
    def __init__(self, cfg):
        self.cfg = cfg
        self.root = os.path.realpath(cfg.root)
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        # A per-run directory keeps reruns against the same root independent.
        self.base = "/ftplib-%d-%d" % (os.getpid(), int(time.time()))

    # ---- helpers ---------------------------------------------------------

    def connect(self, port=None, login=True):
        ftp = ftplib.FTP(timeout=TIMEOUT)
        ftp.connect(self.cfg.host, port or self.cfg.port)
        if login:
            ftp.login(self.cfg.user, self.cfg.password)
        return ftp

    def session(self):
        """A logged-in session whose cwd is the run's base directory."""
        ftp = self.connect()
        ftp.cwd(self.base)
        return ftp

    def disk(self, remote):
        """Host path of a remote path relative to the base directory."""
        return os.path.join(self.root, self.base.lstrip("/"), remote)

    def write_disk(self, remote, data):
        with open(self.disk(remote), "wb") as f:
            f.write(data)

    def read_disk(self, remote):
        with open(self.disk(remote), "rb") as f:
            return f.read()

    @staticmethod
    def retr(ftp, name, rest=None):
        buf = io.BytesIO()
        ftp.retrbinary("RETR " + name, buf.write, rest=rest)
        return buf.getvalue()

    @staticmethod
    def close(ftp):
        try:
            ftp.quit()
        except Exception:
            ftp.close()

    def run(self, name, fn):
        if self.cfg.only and name not in self.cfg.only:
            return
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            self.skipped += 1
            print("SKIP %s: %s" % (name, e), flush=True)
            return
        except Failure as e:
            self.failed += 1
            print("FAIL %s: %s" % (name, e), flush=True)
            return
        except Exception as e:
            self.failed += 1
            tb = traceback.extract_tb(e.__traceback__)
            where = "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
            print("FAIL %s: %s: %s (at %s)" % (name, type(e).__name__, e, where), flush=True)
            return
        self.passed += 1
        print("PASS %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)

    # ---- cases -----------------------------------------------------------

    def t_login(self):
        ftp = self.connect(login=False)
        welcome = ftp.getwelcome()
        check(welcome.startswith("220"), "greeting %r" % welcome)
        resp = ftp.login(self.cfg.user, self.cfg.password)
        check(resp.startswith("230"), "login reply %r" % resp)
        check(ftp.pwd() == "/", "initial pwd %r" % ftp.pwd())
        # The run's base directory, used by all other cases.
        ftp.mkd(self.base)
        check(os.path.isdir(self.disk("")), "base dir not on disk at %s" % self.disk(""))
        self.close(ftp)

    def t_wrong_password(self):
        ftp = self.connect(login=False)
        try:
            ftp.login(self.cfg.user, self.cfg.password + "-wrong")
        except ftplib.error_perm as e:
            check(str(e).startswith("530"), "want 530, got %r" % str(e))
        else:
            raise Failure("login with a wrong password succeeded")
        # A correct login afterwards on the same connection works.
        resp = ftp.login(self.cfg.user, self.cfg.password)
        check(resp.startswith("230"), "login after failure: %r" % resp)
        self.close(ftp)

    def t_dirs(self):
        ftp = self.session()
        check(ftp.pwd() == self.base, "pwd %r" % ftp.pwd())
        made = ftp.mkd("plain")
        check(made == self.base + "/plain", "mkd returned %r" % made)
        ftp.cwd("plain")
        check(ftp.pwd() == self.base + "/plain", "pwd after cwd %r" % ftp.pwd())
        ftp.cwd("..")
        check(ftp.pwd() == self.base, "pwd after cwd .. %r" % ftp.pwd())
        # A name with a double quote: RFC 959 doubles it in 257 replies.
        q = 'we"ird "dir'
        raw = ftp.sendcmd("MKD " + q)
        want = '257 "%s/%s"' % (self.base.replace('"', '""'), q.replace('"', '""'))
        check(raw.startswith(want), "MKD reply %r, want prefix %r" % (raw, want))
        check(os.path.isdir(self.disk(q)), "quoted dir not on disk")
        ftp.cwd(q)
        raw = ftp.sendcmd("PWD")
        check(raw.startswith('257 "%s/we""ird ""dir"' % self.base), "PWD reply %r" % raw)
        check(ftp.pwd() == self.base + "/" + q, "parsed pwd %r" % ftp.pwd())
        resp = ftp.sendcmd("CDUP")
        check(resp.startswith("250") or resp.startswith("200"), "CDUP reply %r" % resp)
        check(ftp.pwd() == self.base, "pwd after CDUP %r" % ftp.pwd())
        expect_code(lambda: ftp.cwd("does-not-exist"), 550, "CWD missing dir")
        self.write_disk("afile", b"x")
        expect_code(lambda: ftp.cwd("afile"), 550, "CWD to a file")
        check(ftp.pwd() == self.base, "pwd after failed CWDs %r" % ftp.pwd())
        self.close(ftp)

    def t_stor_retr_5mib(self):
        data = os.urandom(5 * 1024 * 1024 + 123)
        ftp = self.session()
        resp = ftp.storbinary("STOR big.bin", io.BytesIO(data))
        check(resp.startswith("226"), "STOR final reply %r" % resp)
        check(sha(self.read_disk("big.bin")) == sha(data), "file on disk differs")
        got = self.retr(ftp, "big.bin")
        check(len(got) == len(data), "RETR got %d bytes, want %d" % (len(got), len(data)))
        check(sha(got) == sha(data), "RETR sha256 mismatch")
        check(ftp.size("big.bin") == len(data), "SIZE %r" % ftp.size("big.bin"))
        # No temporary upload files left in the directory.
        left = [n for n in os.listdir(self.disk("")) if n.startswith(".rotary-upload")]
        check(not left, "temp files left: %r" % left)
        self.close(ftp)

    def t_resume_download(self):
        data = os.urandom(300000)
        self.write_disk("resume-dl.bin", data)
        ftp = self.session()
        for n in (0, 1, 123456, len(data) - 1, len(data)):
            got = self.retr(ftp, "resume-dl.bin", rest=n)
            check(got == data[n:], "REST %d: got %d bytes, want %d" % (n, len(got), len(data) - n))
        # REST past the end is refused.
        expect_code(lambda: self.retr(ftp, "resume-dl.bin", rest=len(data) + 10), 554, "REST beyond EOF")
        self.close(ftp)

    def t_resume_upload(self):
        data = os.urandom(1024 * 1024 + 7)
        n = 400000
        ftp = self.session()
        ftp.storbinary("STOR resume-ul.bin", io.BytesIO(data[:n]))
        check(ftp.size("resume-ul.bin") == n, "partial size %r" % ftp.size("resume-ul.bin"))
        resp = ftp.storbinary("STOR resume-ul.bin", io.BytesIO(data[n:]), rest=n)
        check(resp.startswith("226"), "REST+STOR reply %r" % resp)
        check(sha(self.read_disk("resume-ul.bin")) == sha(data), "resumed file differs on disk")
        check(sha(self.retr(ftp, "resume-ul.bin")) == sha(data), "resumed file differs via RETR")
        self.close(ftp)

    def t_appe(self):
        a, b = os.urandom(70000), os.urandom(50001)
        ftp = self.session()
        ftp.storbinary("STOR appe.bin", io.BytesIO(a))
        resp = ftp.storbinary("APPE appe.bin", io.BytesIO(b))
        check(resp.startswith("226"), "APPE reply %r" % resp)
        check(self.read_disk("appe.bin") == a + b, "appended file differs")
        # APPE to a missing file creates it.
        ftp.storbinary("APPE appe-new.bin", io.BytesIO(b))
        check(self.read_disk("appe-new.bin") == b, "APPE new file differs")
        self.close(ftp)

    def t_ascii(self):
        ftp = self.session()
        # storlines sends CRLF lines; the file on disk must have LF endings.
        text = b"first line\nsecond line\n\nlast line\n"
        resp = ftp.storlines("STOR lines.txt", io.BytesIO(text))
        check(resp.startswith("226"), "storlines reply %r" % resp)
        ondisk = self.read_disk("lines.txt")
        check(ondisk == text, "file on disk after storlines: %r, want %r" % (ondisk, text))
        # An LF file on disk arrives as lines, with CRLF on the wire.
        src = b"alpha\nbeta\n\ngamma delta\n"
        self.write_disk("lf.txt", src)
        lines = []
        ftp.retrlines("RETR lf.txt", lines.append)
        check(lines == ["alpha", "beta", "", "gamma delta"], "retrlines got %r" % lines)
        ftp.voidcmd("TYPE A")
        conn = ftp.transfercmd("RETR lf.txt")
        wire = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            wire += chunk
        conn.close()
        ftp.voidresp()
        check(wire == src.replace(b"\n", b"\r\n"), "TYPE A wire bytes %r" % wire)
        # SIZE in TYPE A counts the added CRs.
        resp = ftp.sendcmd("SIZE lf.txt")
        check(resp == "213 %d" % len(wire), "SIZE in TYPE A: %r, want 213 %d" % (resp, len(wire)))
        ftp.voidcmd("TYPE I")
        check(ftp.size("lf.txt") == len(src), "SIZE in TYPE I: %r" % ftp.size("lf.txt"))
        self.close(ftp)

    def t_listings(self):
        ftp = self.session()
        ftp.mkd("listdir")
        ftp.cwd("listdir")
        self.write_disk("listdir/one.txt", b"12345")
        self.write_disk("listdir/two words.bin", b"x" * 1000)
        ftp.mkd("sub")
        names = sorted(ftp.nlst())
        check(names == ["one.txt", "sub", "two words.bin"], "NLST %r" % names)
        lines = []
        ftp.dir(lines.append)
        check(len(lines) == 3, "LIST lines %r" % lines)
        by_name = {}
        for l in lines:
            m = re.match(r"^([dl-])[rwx-]{9}\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\w{3}\s+\d+\s+[\d:]+\s(.+)$", l)
            check(m, "LIST line not ls -l style: %r" % l)
            by_name[m.group(3)] = (m.group(1), int(m.group(2)))
        check(by_name.get("one.txt") == ("-", 5), "LIST one.txt %r" % (by_name.get("one.txt"),))
        check(by_name.get("two words.bin") == ("-", 1000), "LIST two words.bin %r" % (by_name.get("two words.bin"),))
        check(by_name.get("sub", ("?",))[0] == "d", "LIST sub %r" % (by_name.get("sub"),))
        entries = dict(ftp.mlsd(facts=["type", "size", "modify"]))
        names = sorted(n for n, f in entries.items() if f.get("type") not in ("cdir", "pdir"))
        check(names == ["one.txt", "sub", "two words.bin"], "MLSD names %r" % names)
        f1 = entries["one.txt"]
        check(f1.get("type") == "file" and f1.get("size") == "5", "MLSD one.txt facts %r" % f1)
        check(re.fullmatch(r"\d{14}(\.\d+)?", f1.get("modify", "")), "MLSD modify %r" % f1)
        check(entries["sub"].get("type") == "dir", "MLSD sub facts %r" % entries["sub"])
        # MLSD on a file is an error (RFC 3659: 501), MLST on it works.
        resp = ftp.sendcmd("MLST one.txt")
        check(resp.startswith("250") and "size=5;" in resp.lower() and "one.txt" in resp, "MLST reply %r" % resp)
        # LIST of a single file and of a missing path.
        lines = []
        ftp.dir("one.txt", lines.append)
        check(len(lines) == 1 and lines[0].endswith("one.txt"), "LIST one.txt %r" % lines)
        expect_code(lambda: ftp.nlst("no-such-thing"), 550, "NLST missing path")
        ftp.cwd("..")
        self.close(ftp)

    def t_size_mdtm_mfmt(self):
        ftp = self.session()
        self.write_disk("times.bin", b"y" * 4321)
        check(ftp.size("times.bin") == 4321, "SIZE %r" % ftp.size("times.bin"))
        st = os.stat(self.disk("times.bin"))
        want = time.strftime("%Y%m%d%H%M%S", time.gmtime(int(st.st_mtime)))
        resp = ftp.sendcmd("MDTM times.bin")
        check(resp == "213 " + want, "MDTM %r, want 213 %s" % (resp, want))
        resp = ftp.sendcmd("MFMT 20200102030405 times.bin")
        check(resp.startswith("213") and "Modify=20200102030405" in resp, "MFMT reply %r" % resp)
        resp = ftp.sendcmd("MDTM times.bin")
        check(resp == "213 20200102030405", "MDTM after MFMT %r" % resp)
        st = os.stat(self.disk("times.bin"))
        check(int(st.st_mtime) == 1577934245, "mtime on disk %r" % st.st_mtime)
        expect_code(lambda: ftp.sendcmd("MDTM missing.bin"), 550, "MDTM missing file")
        expect_code(lambda: ftp.sendcmd("MFMT 2020 times.bin"), 501, "MFMT bad time")
        expect_code(lambda: ftp.size("missing.bin"), 550, "SIZE missing file")
        self.close(ftp)

    def t_rename_delete_rmd(self):
        ftp = self.session()
        self.write_disk("ren-a.txt", b"rename me")
        resp = ftp.rename("ren-a.txt", "ren-b.txt")
        check(resp.startswith("250"), "RNTO reply %r" % resp)
        check(not os.path.exists(self.disk("ren-a.txt")), "old name still there")
        check(self.read_disk("ren-b.txt") == b"rename me", "renamed file differs")
        expect_code(lambda: ftp.rename("ren-missing", "x"), 550, "RNFR missing file")
        expect_code(lambda: ftp.sendcmd("RNTO y"), 503, "RNTO without RNFR")
        resp = ftp.delete("ren-b.txt")
        check(resp.startswith("250"), "DELE reply %r" % resp)
        check(not os.path.exists(self.disk("ren-b.txt")), "deleted file still on disk")
        expect_code(lambda: ftp.delete("ren-b.txt"), 550, "DELE missing file")
        ftp.mkd("rmd-dir")
        self.write_disk("rmd-dir/f", b"1")
        expect_code(lambda: ftp.rmd("rmd-dir"), 550, "RMD non-empty dir")
        ftp.delete("rmd-dir/f")
        resp = ftp.rmd("rmd-dir")
        check(resp.startswith("250"), "RMD reply %r" % resp)
        check(not os.path.exists(self.disk("rmd-dir")), "removed dir still on disk")
        self.close(ftp)

    def t_hash(self):
        data = os.urandom(777777)
        self.write_disk("hash.bin", data)
        ftp = self.session()
        path = self.base + "/hash.bin"
        resp = ftp.sendcmd("HASH hash.bin")
        want = "213 SHA-256 0-%d %s %s" % (len(data), hashlib.sha256(data).hexdigest(), path)
        check(resp == want, "default HASH %r, want %r" % (resp, want))
        resp = ftp.sendcmd("OPTS HASH SHA-1")
        check(resp.startswith("200") and "SHA-1" in resp, "OPTS HASH SHA-1 reply %r" % resp)
        resp = ftp.sendcmd("HASH hash.bin")
        want = "213 SHA-1 0-%d %s %s" % (len(data), hashlib.sha1(data).hexdigest(), path)
        check(resp == want, "SHA-1 HASH %r, want %r" % (resp, want))
        ftp.sendcmd("OPTS HASH MD5")
        resp = ftp.sendcmd("HASH hash.bin")
        check(hashlib.md5(data).hexdigest() in resp and resp.startswith("213 MD5 "), "MD5 HASH %r" % resp)
        expect_code(lambda: ftp.sendcmd("OPTS HASH CRC99"), 504, "OPTS HASH unknown")
        expect_code(lambda: ftp.sendcmd("HASH missing.bin"), 550, "HASH missing file")
        feat = ftp.sendcmd("FEAT")
        check("HASH SHA-256;SHA-1;MD5*" in feat.replace("\r", ""), "FEAT HASH line after OPTS: %r" % feat)
        self.close(ftp)

    def stou(self, ftp, arg, data):
        cmd = "STOU" + (" " + arg if arg else "")
        host, port = ftp.makepasv()
        conn = socket.create_connection((host, port), timeout=TIMEOUT)
        try:
            resp = ftp.sendcmd(cmd)  # returns the 150 preliminary reply
            check(resp.startswith("150"), "%s reply %r" % (cmd, resp))
            conn.sendall(data)
        finally:
            conn.close()
        final = ftp.voidresp()
        check(final.startswith("226"), "%s final reply %r" % (cmd, final))
        m = re.search(r"FILE: (.+)$", resp)
        check(m, "%s 150 reply lacks 'FILE: name': %r" % (cmd, resp))
        return m.group(1).strip()

    def t_stou(self):
        ftp = self.session()
        ftp.mkd("stou")
        ftp.cwd("stou")
        d1, d2, d3 = os.urandom(1000), os.urandom(2000), os.urandom(3000)
        n1 = self.stou(ftp, None, d1)
        n2 = self.stou(ftp, None, d2)
        check(n1 != n2, "two STOU got the same name %r" % n1)
        check(self.read_disk("stou/" + n1) == d1, "STOU file %r differs" % n1)
        check(self.read_disk("stou/" + n2) == d2, "STOU file %r differs" % n2)
        self.write_disk("stou/taken.txt", b"keep")
        n3 = self.stou(ftp, "taken.txt", d3)
        check(n3 != "taken.txt", "STOU overwrote an existing name")
        check(self.read_disk("stou/taken.txt") == b"keep", "existing file changed by STOU")
        check(self.read_disk("stou/" + n3) == d3, "STOU file %r differs" % n3)
        ftp.cwd("..")
        self.close(ftp)

    def t_site_chmod(self):
        self.write_disk("chmod.txt", b"c")
        os.chmod(self.disk("chmod.txt"), 0o644)
        ftp = self.session()
        resp = ftp.sendcmd("SITE CHMOD 600 chmod.txt")
        check(resp.startswith("200"), "SITE CHMOD reply %r" % resp)
        mode = os.stat(self.disk("chmod.txt")).st_mode & 0o777
        check(mode == 0o600, "mode on disk %o, want 600" % mode)
        ftp.sendcmd("SITE CHMOD 755 chmod.txt")
        mode = os.stat(self.disk("chmod.txt")).st_mode & 0o777
        check(mode == 0o755, "mode on disk %o, want 755" % mode)
        expect_code(lambda: ftp.sendcmd("SITE CHMOD 999 chmod.txt"), 501, "SITE CHMOD bad mode")
        expect_code(lambda: ftp.sendcmd("SITE CHMOD 644 missing.txt"), 550, "SITE CHMOD missing file")
        expect_code(lambda: ftp.sendcmd("SITE FROB"), 504, "unknown SITE command")
        self.close(ftp)

    def t_active_mode(self):
        data = os.urandom(2 * 1024 * 1024 + 11)
        self.write_disk("active.bin", data)
        ftp = self.session()
        ftp.set_pasv(False)
        got = self.retr(ftp, "active.bin")
        check(sha(got) == sha(data), "active RETR: %d bytes, sha mismatch" % len(got))
        up = os.urandom(300000)
        ftp.storbinary("STOR active-up.bin", io.BytesIO(up))
        check(self.read_disk("active-up.bin") == up, "active STOR differs on disk")
        names = ftp.nlst()
        check("active.bin" in names, "active NLST %r" % names)
        # EPRT too.
        ln = socket.create_server(("127.0.0.1", 0))
        ln.settimeout(TIMEOUT)
        try:
            port = ln.getsockname()[1]
            ftp.voidcmd("TYPE I")
            ftp.voidcmd("EPRT |1|127.0.0.1|%d|" % port)
            resp = ftp.sendcmd("RETR active.bin")
            check(resp.startswith("150"), "RETR after EPRT %r" % resp)
            conn, _ = ln.accept()
            buf = bytearray()
            while True:
                c = conn.recv(1 << 16)
                if not c:
                    break
                buf += c
            conn.close()
            ftp.voidresp()
            check(sha(bytes(buf)) == sha(data), "EPRT RETR mismatch (%d bytes)" % len(buf))
        finally:
            ln.close()
        self.close(ftp)

    def t_epsv(self):
        data = os.urandom(500000)
        self.write_disk("epsv.bin", data)
        ftp = self.session()
        ftp.voidcmd("TYPE I")
        resp = ftp.sendcmd("EPSV")
        m = re.fullmatch(r"229 .*\(\|\|\|(\d+)\|\)\.?", resp)
        check(m, "EPSV reply format %r" % resp)
        port = int(m.group(1))
        check(0 < port < 65536, "EPSV port %d" % port)
        conn = socket.create_connection((self.cfg.host, port), timeout=TIMEOUT)
        resp = ftp.sendcmd("RETR epsv.bin")
        check(resp.startswith("150"), "RETR after EPSV %r" % resp)
        buf = bytearray()
        while True:
            c = conn.recv(1 << 16)
            if not c:
                break
            buf += c
        conn.close()
        ftp.voidresp()
        check(bytes(buf) == data, "EPSV RETR differs (%d bytes)" % len(buf))
        resp = ftp.sendcmd("EPSV 1")
        check(resp.startswith("229"), "EPSV 1 reply %r" % resp)
        expect_code(lambda: ftp.sendcmd("EPSV 2"), 522, "EPSV 2 on an IPv4 connection")
        # Let ftplib itself use EPSV (it does so when af is not AF_INET).
        ftp.af = socket.AF_INET6
        got = self.retr(ftp, "epsv.bin")
        check(got == data, "ftplib EPSV RETR differs")
        ftp.af = socket.AF_INET
        self.close(ftp)

    def t_abor_download(self):
        data = os.urandom(1 << 20)
        with open(self.disk("abor.bin"), "wb") as f:
            for _ in range(48):  # 48 MiB: far more than the socket buffers hold
                f.write(data)
        small = b"after abort\n" * 1000
        self.write_disk("small.bin", small)
        ftp = self.session()
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR abor.bin")
        got = 0
        while got < 200000:
            c = conn.recv(65536)
            check(c, "data connection closed after %d bytes" % got)
            got += len(c)
        resp = ftp.abort()  # ABOR sent with MSG_OOB
        conn.close()
        code = resp[:3]
        if code != "426":
            print("    note: ABOR answered %r: the transfer ended first" % resp, flush=True)
        if code == "426":
            resp2 = ftp.getresp()
            check(resp2.startswith("226") or resp2.startswith("225"), "reply after 426: %r" % resp2)
        elif code == "226":
            # The transfer finished first: its 226, then 225 for ABOR.
            resp2 = ftp.getresp()
            check(resp2[:3] in ("225", "226"), "reply after 226: %r" % resp2)
        else:
            check(code == "225", "ABOR reply %r" % resp)
        check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after ABOR")
        check(self.retr(ftp, "small.bin") == small, "RETR after ABOR differs")
        # ABOR with no transfer: 225 (or 226).
        resp = ftp.sendcmd("ABOR")
        check(resp[:3] in ("225", "226"), "idle ABOR %r" % resp)
        self.close(ftp)

    def t_abor_upload_atomic(self):
        ftp = self.session()
        ftp.voidcmd("TYPE I")
        self.write_disk("keep.bin", b"original")
        for name in ("abor-up.bin", "keep.bin"):
            conn = ftp.transfercmd("STOR " + name)
            conn.sendall(os.urandom(300000))
            resp = ftp.abort()
            conn.close()
            if resp.startswith("426"):
                resp2 = ftp.getresp()
                check(resp2[:3] in ("225", "226"), "reply after 426: %r" % resp2)
                if name == "abor-up.bin":
                    check(not os.path.exists(self.disk(name)), "aborted STOR left %s on disk" % name)
                else:
                    check(self.read_disk(name) == b"original", "aborted STOR changed existing file")
            else:
                raise Failure("ABOR during STOR %s replied %r, want 426" % (name, resp))
        left = [n for n in os.listdir(self.disk("")) if n.startswith(".rotary-upload")]
        check(not left, "temp files left after aborted uploads: %r" % left)
        check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after ABOR")
        self.close(ftp)

    def t_long_line(self):
        ftp = self.session()
        expect_code(lambda: ftp.sendcmd("NOOP " + "x" * 5000), 500, "5000-byte command line")
        expect_code(lambda: ftp.sendcmd("SIZE " + "y" * 4200), 500, "4200-byte command line")
        check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after long line")
        # A line just under the limit is a normal command (a path of short
        # missing components, so the file system answers "no such file").
        longpath = "/".join(["z" * 199] * 20)  # 3999 bytes
        expect_code(lambda: ftp.sendcmd("SIZE " + longpath), 550, "4004-byte SIZE")
        check(ftp.pwd() == self.base, "session state lost after long line")
        self.close(ftp)

    def t_long_file_name(self):
        # A name component longer than the file system allows (ENAMETOOLONG)
        # is the client's fault: 553 "File name not allowed" (or 550), not
        # 451 "Local error in processing".
        ftp = self.session()
        name = "n" * 300
        for what, fn in (
            ("SIZE", lambda: ftp.size(name)),
            ("MKD", lambda: ftp.mkd(name)),
            ("STOR", lambda: ftp.storbinary("STOR " + name, io.BytesIO(b"x"))),
        ):
            try:
                resp = fn()
            except ftplib.all_errors as e:
                resp = str(e)
            else:
                resp = "success: %r" % (resp,)
            check(resp[:3] in ("550", "553"), "%s of a 300-byte name: want 553 or 550, got %r" % (what, resp))
        check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after long names")
        self.close(ftp)

    def t_bad_port(self):
        ftp = self.session()
        expect_code(lambda: ftp.sendcmd("PORT 127,0,0,9,200,10"), 500, "PORT to a third-party address")
        expect_code(lambda: ftp.sendcmd("PORT 127,0,0,1,0,21"), 504, "PORT to a privileged port")
        expect_code(lambda: ftp.sendcmd("EPRT |1|127.0.0.9|51210|"), 500, "EPRT to a third-party address")
        expect_code(lambda: ftp.sendcmd("EPRT |1|127.0.0.1|21|"), 504, "EPRT to a privileged port")
        expect_code(lambda: ftp.sendcmd("PORT 1,2,3"), 501, "malformed PORT")
        # After refused PORTs a transfer without a data setup fails with 425
        # instead of connecting anywhere.
        self.write_disk("port.txt", b"p")
        expect_code(lambda: ftp.sendcmd("RETR port.txt"), 425, "RETR after refused PORT")
        check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after bad PORTs")
        self.close(ftp)

    def t_path_traversal(self):
        ftp = self.connect()
        expect_code(lambda: self.retr(ftp, "../../etc/passwd"), 550, "RETR ../../etc/passwd")
        expect_code(lambda: self.retr(ftp, "/../../../etc/passwd"), 550, "RETR /../../../etc/passwd")
        expect_code(lambda: ftp.size("../../../../etc/passwd"), 550, "SIZE ../../etc/passwd")
        resp = ftp.sendcmd("CWD ../..")
        check(resp.startswith("250"), "CWD ../.. reply %r" % resp)
        check(ftp.pwd() == "/", "PWD after CWD ../.. is %r" % ftp.pwd())
        ftp.cwd(self.base)
        ftp.cwd("../../../..")
        check(ftp.pwd() == "/", "PWD after CWD ../../../.. from base is %r" % ftp.pwd())
        resp = ftp.sendcmd("CDUP")
        check(ftp.pwd() == "/", "PWD after CDUP at root is %r" % ftp.pwd())
        names = ftp.nlst()
        check(self.base.lstrip("/") in names, "root listing does not show the run dir: %r" % names[:20])
        # A symlink inside the root that points outside must not be followed.
        link = self.disk("escape")
        try:
            os.symlink("/etc", link)
        except OSError as e:
            raise Failure("cannot create symlink: %s" % e)
        ftp.cwd(self.base)
        expect_code(lambda: self.retr(ftp, "escape/passwd"), 550, "RETR through a symlink to /etc")
        expect_code(lambda: ftp.cwd("escape"), 550, "CWD through a symlink to /etc")
        expect_code(lambda: ftp.storbinary("STOR escape/rotary-interop-test", io.BytesIO(b"x")), 550,
                    "STOR through a symlink to /etc")
        check(not os.path.exists("/etc/rotary-interop-test"), "STOR escaped the root!")
        os.unlink(link)
        self.close(ftp)

    def t_passive_exhaustion(self):
        port = self.cfg.exhaust_port
        if not port:
            raise Skip("no --exhaust-port / FTP_EXHAUST_PORT given")
        n = self.cfg.exhaust_count
        holders = []
        try:
            for i in range(n):
                f = self.connect(port=port)
                resp = f.sendcmd("PASV")
                check(resp.startswith("227"), "holder %d PASV %r" % (i, resp))
                holders.append(f)
            extra = self.connect(port=port)
            t0 = time.monotonic()
            text = expect_code(lambda: extra.sendcmd("PASV"), 425, "PASV with all %d ports reserved" % n)
            dt = time.monotonic() - t0
            check(dt < 2.0, "425 took %.2fs" % dt)
            t0 = time.monotonic()
            expect_code(lambda: extra.sendcmd("EPSV"), 425, "EPSV with all ports reserved")
            check(time.monotonic() - t0 < 2.0, "EPSV 425 too slow")
            check(extra.voidcmd("NOOP").startswith("200"), "session unusable after 425")
            # Release one by QUIT: PASV works again (allow the server a moment
            # to tear the session down).
            self.close(holders.pop(0))
            resp = self.retry_pasv(extra)
            check(resp.startswith("227"), "PASV after a holder quit: %r" % resp)
            # Now full again.
            other = self.connect(port=port)
            holders.append(other)
            expect_code(lambda: other.sendcmd("PASV"), 425, "PASV when full again")
            # Release one by ABOR without a transfer (drops the reservation).
            resp = holders[0].sendcmd("ABOR")
            check(resp[:3] in ("225", "226"), "idle ABOR %r" % resp)
            resp = self.retry_pasv(other)
            check(resp.startswith("227"), "PASV after ABOR released a port: %r" % resp)
            # Full again (holder 3, other, extra). A new PASV in the same
            # session replaces its own reservation, and the reservation used
            # by a transfer is released when the transfer ends.
            names = []
            extra.retrlines("NLST", names.append)
            last = self.connect(port=port)
            holders.append(last)
            resp = self.retry_pasv(last)
            check(resp.startswith("227"), "PASV after a transfer ended: %r" % resp)
            self.close(extra)
        finally:
            for f in holders:
                self.close(f)

    def retry_pasv(self, ftp, within=2.0):
        deadline = time.monotonic() + within
        while True:
            try:
                return ftp.sendcmd("PASV")
            except ftplib.error_temp as e:
                if time.monotonic() > deadline:
                    return str(e)
                time.sleep(0.05)

    def t_cleanup(self):
        # Leaves the run directory for inspection when KEEP is set.
        if os.environ.get("FTP_KEEP"):
            return
        import shutil
        shutil.rmtree(self.disk(""), ignore_errors=True)


class Skip(Exception):
    pass


CASES = [
    ("login", Suite.t_login),
    ("wrong_password", Suite.t_wrong_password),
    ("pwd_mkd_cwd_cdup_quotes", Suite.t_dirs),
    ("stor_retr_5MiB_sha256", Suite.t_stor_retr_5mib),
    ("resume_download_rest", Suite.t_resume_download),
    ("resume_upload_rest_stor", Suite.t_resume_upload),
    ("appe", Suite.t_appe),
    ("ascii_storlines_retrlines", Suite.t_ascii),
    ("nlst_list_mlsd", Suite.t_listings),
    ("size_mdtm_mfmt", Suite.t_size_mdtm_mfmt),
    ("rename_delete_rmd", Suite.t_rename_delete_rmd),
    ("hash", Suite.t_hash),
    ("stou", Suite.t_stou),
    ("site_chmod", Suite.t_site_chmod),
    ("active_mode_port_eprt", Suite.t_active_mode),
    ("epsv", Suite.t_epsv),
    ("abor_during_download", Suite.t_abor_download),
    ("abor_during_upload_atomic", Suite.t_abor_upload_atomic),
    ("long_command_line", Suite.t_long_line),
    ("long_file_name", Suite.t_long_file_name),
    ("bad_port_bounce", Suite.t_bad_port),
    ("path_traversal", Suite.t_path_traversal),
    ("passive_exhaustion", Suite.t_passive_exhaustion),
]


def main(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=env("FTP_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("FTP_PORT", "0")))
    p.add_argument("--user", default=env("FTP_USER"))
    p.add_argument("--password", default=env("FTP_PASS"))
    p.add_argument("--root", default=env("FTP_ROOT"))
    p.add_argument("--exhaust-port", type=int, default=int(env("FTP_EXHAUST_PORT", "0")))
    p.add_argument("--exhaust-ports", dest="exhaust_count", type=int, default=int(env("FTP_EXHAUST_PASV_COUNT", "3")))
    p.add_argument("--only", default=env("FTP_ONLY", ""))
    cfg = p.parse_args(argv)
    if not cfg.port or not cfg.user or cfg.password is None or not cfg.root:
        p.error("port, user, password and root are required (flags or FTP_* environment)")
    cfg.only = set(x for x in cfg.only.split(",") if x)
    if cfg.only:
        cfg.only |= {"login", "cleanup"}
    socket.setdefaulttimeout(TIMEOUT)

    s = Suite(cfg)
    for name, fn in CASES:
        s.run(name, lambda fn=fn: fn(s))
    Suite.t_cleanup(s)
    print("ftplib: %d passed, %d failed" % (s.passed, s.failed), flush=True)
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
