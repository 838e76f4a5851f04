# Helpers shared by the interop scripts (sourced; needs PYTHON and HOST).

# free_ports COUNT: prints the first port of COUNT consecutive ports that are
# free on $HOST right now, tried from random bases below Linux's ephemeral
# range (32768-60999), where outgoing connections would take ports from
# under the servers.
free_ports() {
	"$PYTHON" - "$HOST" "$1" <<'PY'
import random, socket, sys
host, n = sys.argv[1], int(sys.argv[2])
for _ in range(500):
    base = random.randrange(20000, 32000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            socks.append(s)
            s.bind((host, p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("no free port range found")
PY
}

# wait_ready PORT PID: waits up to 15 s for the 220 greeting on $HOST:PORT;
# fails at once if process PID has exited.
wait_ready() {
	"$PYTHON" - "$HOST" "$1" "$2" <<'PY'
import os, socket, sys, time
host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deadline = time.time() + 15
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(3)
            if s.recv(100).startswith(b"220"):
                s.sendall(b"QUIT\r\n")
                sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}
