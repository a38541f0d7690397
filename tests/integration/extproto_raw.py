#!/usr/bin/env python3
"""Raw extended-query-protocol exchanges, printed as a transcript.

usage: extproto_raw.py PORT [transcript|garbage]

'transcript' (default) sends message sequences libpq cannot (Execute with a
row limit and PortalSuspended, named portals, Describe/Close of each kind,
errors followed by messages that must be skipped until Sync, Flush) and
prints every backend message in a normalised form. test_extproto.sh diffs
the output with tests/integration/extproto/raw.out, written by running this
script against PostgreSQL 15.

'garbage' (synod only) sends malformed extended-protocol bodies: each must
end that connection with a FATAL 08P01 while another session keeps working.
"""
import socket
import struct
import sys

PORT = int(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 else "transcript"


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed")
        out += chunk
    return out


def read_msg(s):
    t = recv_exact(s, 1)
    (ln,) = struct.unpack("!I", recv_exact(s, 4))
    return t, recv_exact(s, ln - 4)


def login():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    body = b"user\0postgres\0database\0postgres\0\0"
    s.sendall(struct.pack("!II", 8 + len(body), 196608) + body)
    while True:
        t, b = read_msg(s)
        if t == b"Z":
            return s
        if t == b"E":
            raise SystemExit("login failed: %r" % b)


def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def cstr(x):
    return x.encode() + b"\0"


def parse(name, sql, types=()):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", len(types)) +
               b"".join(struct.pack("!I", t) for t in types))


def bind(portal, stmt, params=(), pformats=(), rformats=()):
    b = cstr(portal) + cstr(stmt) + struct.pack("!H", len(pformats))
    b += b"".join(struct.pack("!h", f) for f in pformats)
    b += struct.pack("!H", len(params))
    for p in params:
        if p is None:
            b += struct.pack("!i", -1)
        else:
            p = p.encode() if isinstance(p, str) else p
            b += struct.pack("!i", len(p)) + p
    b += struct.pack("!H", len(rformats)) + b"".join(struct.pack("!h", f) for f in rformats)
    return msg(b"B", b)


def describe(kind, name):
    return msg(b"D", kind + cstr(name))


def execute(portal, rows=0):
    return msg(b"E", cstr(portal) + struct.pack("!i", rows))


def close(kind, name):
    return msg(b"C", kind + cstr(name))


SYNC = msg(b"S")
FLUSH = msg(b"H")


def show(t, b):
    """One line per backend message; only what a conforming server must send."""
    if t == b"T":
        (n,) = struct.unpack("!H", b[:2])
        off, cols = 2, []
        for _ in range(n):
            z = b.index(b"\0", off)
            name = b[off:z].decode()
            off = z + 1
            _, _, typ, _, _, fmt = struct.unpack("!IhIhih", b[off:off + 18])
            off += 18
            cols.append("%s:%d:%d" % (name, typ, fmt))
        return "RowDescription " + " ".join(cols)
    if t == b"D":
        (n,) = struct.unpack("!H", b[:2])
        off, vals = 2, []
        for _ in range(n):
            (ln,) = struct.unpack("!i", b[off:off + 4])
            off += 4
            if ln < 0:
                vals.append("NULL")
            else:
                vals.append(repr(b[off:off + ln].decode(errors="replace")))
                off += ln
        return "DataRow " + " ".join(vals)
    if t == b"t":
        (n,) = struct.unpack("!H", b[:2])
        return "ParameterDescription " + " ".join(
            str(struct.unpack("!I", b[2 + 4 * i:6 + 4 * i])[0]) for i in range(n))
    if t in (b"E", b"N"):
        f = {}
        for part in b.split(b"\0"):
            if part:
                f[chr(part[0])] = part[1:].decode()
        kind = "Error" if t == b"E" else "Notice"
        return "%s %s %s %s" % (kind, f.get("V"), f.get("C"), f.get("M"))
    if t == b"C":
        return "CommandComplete " + b.rstrip(b"\0").decode()
    if t == b"Z":
        return "ReadyForQuery " + b.decode()
    names = {b"1": "ParseComplete", b"2": "BindComplete", b"3": "CloseComplete",
             b"n": "NoData", b"s": "PortalSuspended", b"I": "EmptyQueryResponse"}
    if t in names:
        return names[t]
    if t == b"S":
        return None  # ParameterStatus: servers differ in what they report
    return "message %r" % t


def run(s, title, data, syncs=1, notices=True):
    """Send data, print messages until `syncs` ReadyForQuery arrived."""
    print("== " + title)
    s.sendall(data)
    seen = 0
    while seen < syncs:
        t, b = read_msg(s)
        line = show(t, b)
        if line and (notices or t != b"N"):
            print("   " + line)
        if t == b"Z":
            seen += 1


def simple(s, sql):
    """Setup: notices (DROP ... IF EXISTS) are not part of the comparison."""
    run(s, sql, msg(b"Q", cstr(sql)), notices=False)


def transcript():
    s = login()
    simple(s, "DROP TABLE IF EXISTS ep_r")
    simple(s, "CREATE TABLE ep_r (id int PRIMARY KEY, name text)")
    simple(s, "INSERT INTO ep_r VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e')")

    q = "SELECT id, name FROM ep_r WHERE id >= $1 ORDER BY id"
    run(s, "row limit 2 over 5 rows", parse("", q) + bind("", "", ["1"]) +
        describe(b"P", "") + execute("", 2) + execute("", 2) + execute("", 2) +
        execute("", 2) + SYNC)
    run(s, "row limit equal to the row count", parse("", q) + bind("", "", ["4"]) +
        execute("", 2) + execute("", 2) + SYNC)
    run(s, "portal gone after Sync", execute("", 1) + SYNC)
    run(s, "named portals interleaved in a block",
        msg(b"Q", cstr("BEGIN")) + parse("s1", q) + bind("p1", "s1", ["1"]) +
        bind("p2", "s1", ["3"], rformats=[0]) + execute("p1", 1) + execute("p2", 1) +
        execute("p1", 1) + describe(b"P", "p2") + execute("p2", 0) + SYNC, syncs=2)
    run(s, "portals survive Sync inside a block", execute("p1", 0) + SYNC)
    run(s, "portals end at COMMIT", msg(b"Q", cstr("COMMIT")) + execute("p1", 0) + SYNC,
        syncs=2)
    run(s, "DML RETURNING under a row limit",
        parse("", "UPDATE ep_r SET name = name || '!' WHERE id <= $1 RETURNING id, name") +
        bind("", "", ["3"]) + execute("", 2) + execute("", 2) + SYNC)
    run(s, "the update committed at Sync", parse("", "SELECT name FROM ep_r ORDER BY id") +
        bind("", "") + execute("") + SYNC)
    run(s, "error skips everything until Sync",
        parse("bad", "SELECT nosuch FROM ep_r") + bind("", "bad") + execute("") +
        msg(b"Q", cstr("SELECT 1")) + SYNC)
    run(s, "error in Execute aborts the implicit transaction",
        parse("", "INSERT INTO ep_r VALUES ($1, 'x')") + bind("", "", ["10"]) + execute("") +
        bind("", "", ["1"]) + execute("") + bind("", "", ["11"]) + execute("") + SYNC)
    run(s, "nothing of it stayed", parse("", "SELECT count(*) FROM ep_r") + bind("", "") +
        execute("") + SYNC)
    run(s, "implicit transaction across Executes commits at Sync",
        parse("ins", "INSERT INTO ep_r VALUES ($1, $2)") + bind("", "ins", ["20", "t"]) +
        execute("") + bind("", "ins", ["21", "u"]) + execute("") + SYNC)
    run(s, "describe statement and portal",
        parse("d1", "SELECT id, name FROM ep_r WHERE id = $1") + describe(b"S", "d1") +
        bind("pd", "d1", ["20"], rformats=[1]) + describe(b"P", "pd") + execute("pd") +
        describe(b"S", "ins") + parse("e1", "") + describe(b"S", "e1") + bind("", "e1") +
        describe(b"P", "") + execute("") + SYNC)
    run(s, "parameter types given in Parse",
        parse("ty", "SELECT $1, $2", [20, 0]) + describe(b"S", "ty") +
        bind("", "ty", ["7", "x"]) + execute("") + SYNC)
    run(s, "close statement and portal, twice",
        close(b"S", "d1") + close(b"S", "d1") + close(b"P", "nosuch") + bind("", "d1", ["1"]) +
        SYNC)
    run(s, "utility statements through Execute",
        parse("", "BEGIN") + bind("", "") + describe(b"P", "") + execute("") +
        parse("", "SHOW transaction_isolation") + describe(b"S", "") + bind("", "") +
        execute("") + parse("", "COMMIT") + bind("", "") + execute("") + SYNC)
    run(s, "Flush answers without ReadyForQuery, Sync then ends",
        parse("f", "SELECT 1 AS one") + FLUSH + bind("", "f") + execute("") + FLUSH + SYNC)
    run(s, "bad result format count",
        bind("", "f", rformats=[0, 0]) + execute("") + SYNC)
    run(s, "unsupported format code", bind("", "ins", ["30", "z"], pformats=[2]) + SYNC)
    run(s, "executing a finished portal again",
        parse("", "SELECT id FROM ep_r WHERE id = 1") + bind("", "") + execute("") + execute("") +
        parse("", "INSERT INTO ep_r VALUES (40, 'r')") + bind("", "") + execute("") +
        execute("") + SYNC)
    run(s, "a block inside one batch",
        parse("", "BEGIN") + bind("", "") + execute("") + bind("", "ins", ["41", "s"]) +
        execute("") + parse("", "COMMIT") + bind("", "") + execute("") + SYNC)
    run(s, "failed block: Parse, Bind and Describe refused until ROLLBACK",
        msg(b"Q", cstr("BEGIN")) + bind("", "ins", ["41", "dup"]) + execute("") + SYNC +
        parse("", "SELECT 1") + SYNC + describe(b"S", "d1x") + SYNC +
        parse("rb", "ROLLBACK") + bind("", "rb") + execute("") + SYNC, syncs=5)
    run(s, "LIMIT and OFFSET parameters",
        parse("lim", "SELECT id FROM ep_r ORDER BY id LIMIT $1 OFFSET $2") + describe(b"S", "lim") +
        bind("", "lim", ["2", "1"]) + execute("") + SYNC)
    run(s, "numeric parameter rounded to the column's scale, NULL in binary",
        parse("", "CREATE TABLE ep_n (id int PRIMARY KEY, n numeric(8,2), b bytea)") + bind("", "") +
        execute("") + SYNC +
        parse("nn", "INSERT INTO ep_n VALUES ($1, $2, $3) RETURNING n, b") +
        describe(b"S", "nn") + bind("", "nn", ["1", "3.14159", None], [0, 0, 1], [1, 0]) +
        execute("") + bind("", "nn", ["2", "1e3", b"\x00\x01"], [0, 0, 1]) + execute("") + SYNC, syncs=2)
    # (A value too large for numeric(8,2) fails at Bind in PostgreSQL, whose
    # custom plan folds the parameter into the cast, and at Execute in synod.)
    run(s, "a bad value for the column type",
        bind("", "nn", ["3", "abc", None]) + execute("") + SYNC)
    simple(s, "DROP TABLE ep_n")
    run(s, "a portal outlives the statement it was bound from",
        msg(b"Q", cstr("BEGIN")) + parse("cs", q) + bind("cp", "cs", ["4"]) + close(b"S", "cs") +
        execute("cp", 1) + SYNC + execute("cp", 0) + SYNC + msg(b"Q", cstr("ROLLBACK")), syncs=4)
    run(s, "a portal in a failed block",
        msg(b"Q", cstr("BEGIN")) + parse("fs", q) + bind("fp", "fs", ["1"]) + SYNC +
        msg(b"Q", cstr("SELECT nosuch")) + describe(b"P", "fp") + SYNC + execute("fp") + SYNC +
        close(b"P", "fp") + SYNC + msg(b"Q", cstr("ROLLBACK")), syncs=7)
    run(s, "an error in the middle of a streamed result",
        parse("", "SELECT 10 / (id - 3) AS x FROM ep_r WHERE id < 10 ORDER BY id") + bind("", "") +
        execute("", 1) + execute("", 0) + execute("", 0) + SYNC)
    run(s, "negative row limit means all rows",
        parse("", q) + bind("", "", ["4"]) + execute("", -1) + SYNC)
    s.close()


def garbage():
    other = login()
    bad = [
        ("truncated Parse", msg(b"P", b"name\0SELECT 1")),
        ("Bind claims 5 parameters", msg(b"B", b"\0\0\0\0\0\x05")),
        ("Bind value longer than the message", msg(b"B", b"\0\0\0\0\0\x01\x00\x00\x10\x00ab\0\0")),
        ("Parse with bytes after the types", msg(b"P", b"\0SELECT 1\0\0\0junk")),
        ("Describe of kind X", msg(b"D", b"X\0")),
        ("Execute without row count", msg(b"E", b"\0")),
        ("Sync with a body", msg(b"S", b"x")),
    ]
    for title, data in bad:
        s = login()
        s.sendall(data)
        t, b = read_msg(s)
        line = show(t, b)
        if not (t == b"E" and "FATAL 08P01" in line):
            raise SystemExit("%s: expected FATAL 08P01, got %s" % (title, line))
        try:
            rest = s.recv(1)
        except ConnectionResetError:
            rest = b""
        if rest:
            raise SystemExit("%s: connection not closed" % title)
        s.close()
        print("ok %s: %s" % (title, line))
    run(other, "the other session still works", parse("", "SELECT 1 AS one") + bind("", "") +
        execute("") + SYNC)


if MODE == "garbage":
    garbage()
else:
    transcript()
