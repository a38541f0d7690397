#!/usr/bin/env python3
"""Raw-socket checks of the pgwire server (run by test_pgwire.sh).

usage: pgwire_raw.py PORT SERVER_LOG [capped|main]

'main' (default) runs every protocol check against a server started with
--database postgres; 'capped' checks the output cap against a server started
with --no-backpressure --max-output 2000000. Prints one line per check and
exits 1 at the first failure.
"""
import os
import socket
import struct
import sys
import time

PORT = int(sys.argv[1])
LOG = sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "main"
TIMEOUT = 10.0


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def read_msg(s):
    t = recv_exact(s, 1)
    (ln,) = struct.unpack("!I", recv_exact(s, 4))
    return t, recv_exact(s, ln - 4)


def expect_eof(s):
    try:
        data = s.recv(1)
    except ConnectionResetError:
        return
    check(data == b"", "expected the server to close, got %r" % data)


def fields(body):
    """Fields of an ErrorResponse/NoticeResponse as a dict."""
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode()
    return out


def startup_packet(params, version=196608):
    body = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return struct.pack("!II", 8 + len(body), version) + body


def login(params=None):
    """Connect, authenticate; returns (sock, params, pid, key)."""
    s = connect()
    s.sendall(startup_packet(params or {"user": "postgres", "database": "postgres"}))
    ps, pid, key = {}, None, None
    while True:
        t, b = read_msg(s)
        if t == b"R":
            check(b == b"\0\0\0\0", "AuthenticationOk expected, got %r" % b)
        elif t == b"S":
            k, v, _ = b.split(b"\0")
            ps[k.decode()] = v.decode()
        elif t == b"K":
            pid, key = struct.unpack("!ii", b)
        elif t == b"Z":
            check(b == b"I", "first ReadyForQuery must be idle, got %r" % b)
            return s, ps, pid, key
        else:
            raise Fail("unexpected %r during startup: %r" % (t, b))


def query_msg(sql):
    data = sql.encode() + b"\0"
    return b"Q" + struct.pack("!I", 4 + len(data)) + data


def run(s, sql):
    """Send one Query; return (messages, ready_status)."""
    s.sendall(query_msg(sql))
    return collect(s)


def collect(s):
    msgs = []
    while True:
        t, b = read_msg(s)
        if t == b"Z":
            return msgs, b.decode()
        msgs.append((t, b))


def rows(msgs):
    out = []
    for t, b in msgs:
        if t != b"D":
            continue
        (n,) = struct.unpack("!h", b[:2])
        off, row = 2, []
        for _ in range(n):
            (ln,) = struct.unpack("!i", b[off:off + 4])
            off += 4
            if ln < 0:
                row.append(None)
            else:
                row.append(b[off:off + ln].decode())
                off += ln
        out.append(row)
    return out


def tags(msgs):
    return [b[:-1].decode() for t, b in msgs if t == b"C"]


def errors(msgs):
    return [fields(b) for t, b in msgs if t == b"E"]


def expect_fatal(s, sqlstate, what):
    t, b = read_msg(s)
    check(t == b"E", "%s: ErrorResponse expected, got %r %r" % (what, t, b))
    f = fields(b)
    check(f.get("C") == sqlstate, "%s: SQLSTATE %s expected, got %r" % (what, sqlstate, f))
    check(f.get("S") == "FATAL", "%s: FATAL expected, got %r" % (what, f))
    expect_eof(s)
    return f


def log_has(text):
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return text in f.read()


# ---------------------------------------------------------------------------

def t_parameters():
    s, ps, pid, key = login({"user": "alice", "database": "postgres",
                             "application_name": "rawtest", "options": "-c x=1"})
    check(ps.get("server_version", "").startswith("15.") and "synod" in ps["server_version"],
          "server_version %r" % ps.get("server_version"))
    want = {"server_encoding": "UTF8", "client_encoding": "UTF8", "DateStyle": "ISO, MDY",
            "integer_datetimes": "on", "standard_conforming_strings": "on",
            "TimeZone": "UTC", "application_name": "rawtest", "IntervalStyle": "postgres",
            "session_authorization": "alice"}
    for k, v in want.items():
        check(ps.get(k) == v, "ParameterStatus %s=%r, want %r" % (k, ps.get(k), v))
    check("is_superuser" in ps, "is_superuser missing")
    check(pid is not None and pid > 0, "BackendKeyData pid %r" % pid)
    s.sendall(b"X\0\0\0\x04")
    expect_eof(s)


def t_transaction_status():
    s, _, _, _ = login()
    _, st = run(s, "create table acct(id integer primary key, bal integer)")
    check(st == "I", "after CREATE: %s" % st)
    _, st = run(s, "begin")
    check(st == "T", "after BEGIN: %s" % st)
    m, st = run(s, "insert into acct values (1, 10); select * from nosuch; select 1")
    check(st == "E", "after error in block: %s" % st)
    check(tags(m) == ["INSERT 0 1"], "statements after the error must not run: %r" % tags(m))
    check(errors(m)[0]["C"] == "42P01", "error %r" % errors(m))
    m, st = run(s, "select 1")
    check(st == "E" and errors(m)[0]["C"] == "25P02", "25P02 expected: %r %s" % (m, st))
    m, st = run(s, "rollback")
    check(st == "I" and tags(m) == ["ROLLBACK"], "after ROLLBACK: %r %s" % (m, st))
    m, st = run(s, "select count(*) from acct")
    check(rows(m) == [["0"]], "rolled-back insert visible: %r" % rows(m))
    m, st = run(s, "")
    check([t for t, _ in m] == [b"I"] and st == "I", "empty query: %r" % m)
    m, st = run(s, "select 1 as a, null as b, 'x' as c")
    check(rows(m) == [["1", None, "x"]], "NULL and values: %r" % rows(m))
    s.close()


def t_pipelined_queries():
    s, _, _, _ = login()
    s.sendall(query_msg("select 1") + query_msg("select 2; select 3"))
    m1, st1 = collect(s)
    m2, st2 = collect(s)
    check(rows(m1) == [["1"]] and rows(m2) == [["2"], ["3"]], "pipelined: %r %r" % (m1, m2))
    s.close()


def t_extended_protocol_refused():
    s, _, _, _ = login()
    parse = b"P" + struct.pack("!I", 4 + 1 + 9 + 2) + b"\0select 1\0" + b"\0\0"
    bind = b"B" + struct.pack("!I", 4 + 1 + 1 + 2 + 2 + 2) + b"\0\0" + b"\0\0" * 3
    execute = b"E" + struct.pack("!I", 4 + 1 + 4) + b"\0" + b"\0\0\0\0"
    sync = b"S\0\0\0\x04"
    s.sendall(parse + bind + execute + sync)
    m, st = collect(s)
    check(len(m) == 1 and m[0][0] == b"E", "one error until Sync expected: %r" % m)
    check(fields(m[0][1])["C"] == "0A000", "0A000 expected: %r" % fields(m[0][1]))
    m, st = run(s, "select 42")
    check(rows(m) == [["42"]] and st == "I", "session usable after refusal: %r" % m)
    # FunctionCall: error and ReadyForQuery right away.
    s.sendall(b"F" + struct.pack("!I", 4 + 4 + 2 + 2 + 2) + b"\0\0\0\x01" + b"\0\0" * 3)
    m, st = collect(s)
    check(errors(m)[0]["C"] == "0A000", "FunctionCall: %r" % m)
    s.close()


def t_invalid_utf8_keeps_session():
    s, _, _, _ = login()
    data = b"select '\xff'\0"
    s.sendall(b"Q" + struct.pack("!I", 4 + len(data)) + data)
    m, st = collect(s)
    check(errors(m)[0]["C"] == "22021" and st == "I", "invalid UTF-8: %r" % m)
    m, st = run(s, "select 'ok'")
    check(rows(m) == [["ok"]], "after invalid UTF-8: %r" % m)
    s.close()


def t_ssl_and_gss_refused_then_plain():
    for code in (80877103, 80877104):
        s = connect()
        s.sendall(struct.pack("!II", 8, code))
        check(recv_exact(s, 1) == b"N", "'N' expected for request %d" % code)
        s.sendall(startup_packet({"user": "postgres", "database": "postgres"}))
        t, b = read_msg(s)
        check(t == b"R", "startup after 'N' failed: %r %r" % (t, b))
        s.close()


def t_bad_startup():
    s = connect()
    s.sendall(struct.pack("!I", 4))
    expect_fatal(s, "08P01", "length 4")
    s = connect()
    s.sendall(struct.pack("!II", 20000, 196608) + b"user\0")
    expect_fatal(s, "08P01", "startup too long")
    s = connect()
    s.sendall(startup_packet({"user": "postgres"}, version=2 << 16))
    f = expect_fatal(s, "0A000", "protocol 2.0")
    check("2.0" in f["M"], "message names the version: %r" % f)
    s = connect()
    s.sendall(startup_packet({"database": "postgres"}))
    expect_fatal(s, "28000", "no user")
    s = connect()
    s.sendall(struct.pack("!II", 16, 196608) + b"user\0bob")  # no terminators
    expect_fatal(s, "08P01", "bad layout")
    s = connect()
    bad = struct.pack("!I", 196608) + b"user\0\xc3\x28\0\0"
    s.sendall(struct.pack("!I", 4 + len(bad)) + bad)
    expect_fatal(s, "22021", "invalid UTF-8 user name")
    s = connect()
    s.sendall(startup_packet({"user": "postgres", "database": "nosuchdb"}))
    t, b = read_msg(s)
    check(t == b"R", "auth before the database check: %r" % t)
    while True:
        t, b = read_msg(s)
        if t == b"E":
            break
    check(fields(b)["C"] == "3D000", "database does not exist: %r" % fields(b))
    expect_eof(s)


def t_negotiate_minor_version():
    s = connect()
    s.sendall(startup_packet({"user": "postgres", "database": "postgres",
                              "_pq_.future": "1"}, version=3 << 16 | 2))
    t, b = read_msg(s)
    check(t == b"v", "NegotiateProtocolVersion expected, got %r" % t)
    minor, n = struct.unpack("!ii", b[:8])
    check(minor == 0 and n == 1 and b[8:] == b"_pq_.future\0", "negotiate body %r" % b)
    t, b = read_msg(s)
    check(t == b"R", "session continues after negotiation: %r" % t)
    s.close()


def t_garbage_after_auth_with_concurrent_session():
    good, _, _, _ = login()
    run(good, "create table keep(x integer)")
    run(good, "insert into keep values (7)")

    cases = [
        ("unknown type", b"\x01\x02\x03\x04\x05garbage", "invalid frontend message type"),
        ("oversized", b"Q" + struct.pack("!I", 64 * 1024 * 1024 + 5), "exceeds the limit"),
        ("length < 4", b"Q\0\0\0\x02", "invalid message length"),
        ("query without NUL", b"Q\0\0\0\x08abcd", "missing terminator"),
        ("random", os.urandom(512).replace(b"Q", b"\x07").replace(b"S", b"\x07")
         .replace(b"X", b"\x07"), None),
    ]
    for name, junk, text in cases:
        if name == "random":
            junk = b"\x9c" + junk  # never a valid type byte
        s, _, _, _ = login()
        local = "127.0.0.1:%d" % s.getsockname()[1]
        s.sendall(junk)
        f = expect_fatal(s, "08P01", name)
        if text:
            check(text in f["M"], "%s: message %r" % (name, f["M"]))
        deadline = time.time() + 5
        while not log_has("protocol violation from " + local) and time.time() < deadline:
            time.sleep(0.05)
        check(log_has("protocol violation from " + local), "%s: no WARN naming %s" % (name, local))
        m, st = run(good, "select x from keep")
        check(rows(m) == [["7"]] and st == "I", "good session after %s: %r" % (name, m))
    good.close()


def t_slow_reader_gets_everything():
    s, _, _, _ = login()
    n = 200000
    s.sendall(query_msg("with recursive c(x) as (select 1 union all select x+1 from c "
                        "where x < %d) select x, 'padding-padding-padding' from c" % n))
    time.sleep(1.0)  # let the server hit its high-water mark and park
    m, st = collect(s)
    check(len(rows(m)) == n and tags(m) == ["SELECT %d" % n], "rows %d tags %r"
          % (len(rows(m)), tags(m)))
    check(rows(m)[-1][0] == str(n), "last row %r" % rows(m)[-1])
    s.close()


def t_cancel_request():
    s, _, pid, key = login()
    s.sendall(query_msg("with recursive c(x) as (select 1 union all select x+1 from c "
                        "where x < 50000000) select x, 'padding-padding-padding' from c"))
    time.sleep(0.5)
    # A wrong key must not cancel anything; the right one must.
    for k in (key ^ 1, key):
        c = connect()
        c.sendall(struct.pack("!IIii", 16, 80877102, pid, k))
        expect_eof(c)
    m, st = collect(s)
    errs = errors(m)
    check(errs and errs[0]["C"] == "57014", "57014 expected, got %r" % errs)
    check(len(rows(m)) < 50000000, "query was not cancelled")
    m, st = run(s, "select 'after cancel'")
    check(rows(m) == [["after cancel"]] and st == "I", "session after cancel: %r" % m)
    s.close()


def t_output_cap():
    s, _, _, _ = login()
    s.sendall(query_msg("with recursive c(x) as (select 1 union all select x+1 from c "
                        "where x < 3000000) select x, 'padding-padding-padding' from c"))
    time.sleep(1.5)
    got_ready = False
    try:
        while True:
            t, _ = read_msg(s)
            if t == b"Z":
                got_ready = True
                break
    except (EOFError, ConnectionResetError):
        pass
    check(not got_ready, "a non-reading client must be cut off at the output cap")
    check(log_has("client is not reading"), "WARN line for the output cap missing")
    s2, _, _, _ = login()
    m, st = run(s2, "select 1")
    check(rows(m) == [["1"]], "server still serves after the cap: %r" % m)
    s2.close()


MAIN = [t_parameters, t_transaction_status, t_pipelined_queries, t_extended_protocol_refused,
        t_invalid_utf8_keeps_session, t_ssl_and_gss_refused_then_plain, t_bad_startup,
        t_negotiate_minor_version, t_garbage_after_auth_with_concurrent_session,
        t_slow_reader_gets_everything, t_cancel_request]


def main():
    tests = [t_output_cap] if MODE == "capped" else MAIN
    for t in tests:
        try:
            t()
        except (Fail, EOFError, OSError) as e:
            print("FAIL %s: %s" % (t.__name__, e))
            return 1
        print("ok   %s" % t.__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
