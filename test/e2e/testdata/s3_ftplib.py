"""Python ftplib against an S3-backed rotary serve (TestS3RealClients).

Usage: s3_ftplib.py HOST PORT WORKDIR. WORKDIR holds empty.bin, one.bin and
big.bin; the bucket holds thousand/ (1,000 keys) and many/ (10,000 keys).
Prints one line per case and exits 1 if any failed.
"""
import ftplib
import hashlib
import io
import os
import sys
import time

host, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failed = 0


def connect():
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=60)
    ftp.login("u", "p")
    return ftp


def fetch(ftp, name, rest=None):
    buf = io.BytesIO()
    ftp.retrbinary("RETR " + name, buf.write, rest=rest)
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def case(fn):
    global failed
    t0 = time.time()
    try:
        fn(connect())
        print("ok   %s (%.2fs)" % (fn.__name__, time.time() - t0))
    except Exception as e:  # report every case, go on to the next
        failed += 1
        print("FAIL %s: %r" % (fn.__name__, e))


@case
def round_trips(ftp):
    ftp.mkd("ftplib")
    for name in ("empty", "one", "big"):
        with open(os.path.join(work, name + ".bin"), "rb") as f:
            data = f.read()
        ftp.storbinary("STOR ftplib/%s.bin" % name, io.BytesIO(data))
        got = fetch(ftp, "ftplib/%s.bin" % name)
        assert sha(got) == sha(data), "%s: %d bytes back, want %d" % (name, len(got), len(data))
        assert ftp.size("ftplib/%s.bin" % name) == len(data), "SIZE of " + name
    ftp.quit()


@case
def rest_stor(ftp):
    data = os.urandom(9 << 20) + b"end"
    # Kept prefixes under and over S3's 5 MiB part minimum.
    for kept in (1 << 20, 6 << 20):
        name = "ftplib/resume-%d.bin" % kept
        ftp.storbinary("STOR " + name, io.BytesIO(data[:kept]))
        resp = ftp.storbinary("STOR " + name, io.BytesIO(data[kept:]), rest=kept)
        assert resp.startswith("226"), resp
        got = fetch(ftp, name)
        assert sha(got) == sha(data), "kept %d: %d bytes back, want %d" % (kept, len(got), len(data))
        # And a ranged RETR from the middle.
        assert fetch(ftp, name, rest=kept + 7) == data[kept + 7:], "REST+RETR"
    ftp.quit()


@case
def appe(ftp):
    a, b = os.urandom(3 << 20), os.urandom(4 << 20)
    ftp.storbinary("STOR ftplib/appe.bin", io.BytesIO(a))
    ftp.storbinary("APPE ftplib/appe.bin", io.BytesIO(b))
    ftp.storbinary("APPE ftplib/appe-new.bin", io.BytesIO(b"x"))
    assert sha(fetch(ftp, "ftplib/appe.bin")) == sha(a + b), "APPE onto 3 MiB"
    assert fetch(ftp, "ftplib/appe-new.bin") == b"x", "APPE of a new file"
    ftp.quit()


@case
def mfmt(ftp):
    resp = ftp.sendcmd("MFMT 20200102030405 ftplib/one.bin")
    assert resp.startswith("213"), resp
    resp = ftp.sendcmd("MDTM ftplib/one.bin")
    assert resp == "213 20200102030405", resp
    facts = dict(ftp.mlsd("ftplib", facts=["modify", "size", "type"]))
    assert facts["one.bin"]["modify"] == "20200102030405", facts["one.bin"]
    assert facts["one.bin"]["size"] == "1", facts["one.bin"]
    ftp.quit()


@case
def rename_folder(ftp):
    assert ftp.sendcmd("RNFR thousand").startswith("350")
    t0 = time.time()
    assert ftp.sendcmd("RNTO renamed").startswith("250")
    took = time.time() - t0
    names = [n for n, f in ftp.mlsd("renamed", facts=["type"]) if f["type"] == "file"]
    assert len(names) == 1000, "renamed/ lists %d files" % len(names)
    assert fetch(ftp, "renamed/f00999") == b"999", "a renamed key's content"
    try:
        list(ftp.mlsd("thousand"))
        raise AssertionError("thousand/ still lists after the rename")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
    print("     RNTO of a folder of 1,000 keys took %.2fs" % took)
    ftp.quit()


@case
def mlsd_10k(ftp):
    t0 = time.time()
    entries = list(ftp.mlsd("many", facts=["type", "size"]))
    took = time.time() - t0
    files = [n for n, f in entries if f["type"] == "file"]
    assert len(files) == 10000, "many/ lists %d files" % len(files)
    assert files[0] == "f00000" and files[-1] == "f09999", (files[0], files[-1])
    assert len(ftp.nlst("many")) == 10000, "NLST of many/"
    print("     MLSD of 10,000 keys took %.2fs" % took)
    ftp.quit()


@case
def errors(ftp):
    for cmd, code in (("RETR no-such-file", "550"), ("RMD many", "550"), ("SIZE no-such-file", "550")):
        try:
            if cmd.startswith("RETR"):
                fetch(ftp, "no-such-file")
            else:
                ftp.sendcmd(cmd)
            raise AssertionError(cmd + " succeeded")
        except ftplib.error_perm as e:
            assert str(e).startswith(code), "%s: %s" % (cmd, e)
    ftp.quit()


print("ftplib: %s" % ("all passed" if failed == 0 else "%d failed" % failed))
sys.exit(1 if failed else 0)
