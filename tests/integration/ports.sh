# Sourced by integration scripts: lib_free_base prints a base port whose
# whole cluster range (BASE..BASE+299, see docs/operations.md) is free now.

lib_free_base() {
  python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
rng = random.Random()
for _ in range(200):
    b = rng.randrange(20000, 40000)
    if all(free(b + i) for i in range(300)):
        print(b); break
else:
    raise SystemExit("no free port range")
PY
}
