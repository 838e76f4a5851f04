"""pyftpdlib for bench/compare: one user, passive ports, optional FTPS.

Run with Debian's python3 (python3-pyftpdlib, python3-openssl):
  python3 pyftpdlib_server.py ADDR PORT PASV_LO PASV_HI USER PASSWORD ROOT CERT KEY
"""
import logging
import resource
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer


class DTP(TLS_DTPHandler):
    """TLS_DTPHandler never uses sendfile, not even for clear data (PROT C):
    keep pyftpdlib's own sendfile path for clear transfers."""

    def use_sendfile(self):
        if self.cmd_channel._prot:
            return False
        return DTPHandler.use_sendfile(self)


def main():
    addr, port, lo, hi, user, password, root, cert, key = sys.argv[1:10]
    # One descriptor per session: lift the soft limit as the Go servers do.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # pyftpdlib logs every command at INFO; warnings only, as the C servers
    # here log little.
    logging.basicConfig(level=logging.WARNING)

    authorizer = DummyAuthorizer()  # compares the password as given
    authorizer.add_user(user, password, root, perm="elradfmwMT")
    handler = TLS_FTPHandler  # FTPS optional: plain sessions work as usual
    handler.dtp_handler = DTP
    handler.certfile = cert
    handler.keyfile = key
    handler.tls_control_required = False
    handler.tls_data_required = False
    handler.authorizer = authorizer
    handler.passive_ports = range(int(lo), int(hi) + 1)
    handler.timeout = 900
    server = FTPServer((addr, int(port)), handler)
    server.max_cons = 30000
    server.max_cons_per_ip = 0
    server.serve_forever()


if __name__ == "__main__":
    main()
