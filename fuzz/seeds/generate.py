#!/usr/bin/env python3
"""Writes the committed seed inputs of every fuzz target (run from any directory)."""
# Hand-built BER so the seeds do not depend on the code under test.
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE_ID = bytes([0x80, 0x00, 0x1F, 0x88, 0x04]) + b"fuzz"


def length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag, content):
    return bytes([tag]) + length(len(content)) + content


def integer(n, tag=0x02):
    size = 1
    while not -(1 << (8 * size - 1)) <= n < (1 << (8 * size - 1)):
        size += 1
    return tlv(tag, n.to_bytes(size, "big", signed=True))


def unsigned(n, tag):
    body = n.to_bytes((n.bit_length() + 8) // 8 or 1, "big")
    return tlv(tag, body)


def oid(arcs):
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def varbinds(pairs):
    return seq(*(seq(oid(name), value) for name, value in pairs))


IF_ENTRY = [1, 3, 6, 1, 2, 1, 2, 2, 1]
VALUES = [
    (IF_ENTRY + [2, 1], tlv(0x04, b"eth0")),
    (IF_ENTRY + [10, 1], unsigned(4_000_000_000, 0x41)),
    ([1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1], unsigned(2**64 - 1, 0x46)),
    ([1, 3, 6, 1, 2, 1, 1, 3, 0], unsigned(123456, 0x43)),
    ([1, 3, 6, 1, 2, 1, 1, 2, 0], oid([1, 3, 6, 1, 4, 1, 8072, 3, 2, 10])),
    ([1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 1], tlv(0x40, bytes([10, 0, 0, 1]))),
    (IF_ENTRY + [8, 1], integer(-1)),
    (IF_ENTRY + [9, 1], tlv(0x80, b"")),
    (IF_ENTRY + [11, 1], tlv(0x82, b"")),
]


def pdu(tag, request_id, values, status=0, index=0):
    return tlv(tag, integer(request_id) + integer(status) + integer(index) + varbinds(values))


def community_message(version, pdu_bytes, community=b"public"):
    return seq(integer(version), tlv(0x04, community), pdu_bytes)


def usm(engine_id, user, boots=1, time=1000, auth=b"", priv=b""):
    return tlv(0x04, seq(tlv(0x04, engine_id), integer(boots), integer(time),
                         tlv(0x04, user), tlv(0x04, auth), tlv(0x04, priv)))


def v3_message(flags, security, scoped_pdu, msg_id=7):
    header = seq(integer(msg_id), integer(65507), tlv(0x04, bytes([flags])), integer(3))
    return seq(integer(3), header, security, scoped_pdu)


def scoped(engine_id, pdu_bytes):
    return seq(tlv(0x04, engine_id), tlv(0x04, b""), pdu_bytes)


def write(target, name, data):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def snmp_response_seeds():
    response = pdu(0xA2, 42, VALUES)
    write("snmp_response", "v2c-response", b"\x00" + community_message(1, response))
    write("snmp_response", "v1-response", b"\x00" + community_message(0, pdu(0xA2, 1, VALUES[:2])))
    write("snmp_response", "v2c-toobig", b"\x00" + community_message(1, pdu(0xA2, 3, [], status=1)))
    noauth = v3_message(0, usm(ENGINE_ID, b"fuzzer"), scoped(ENGINE_ID, response))
    write("snmp_response", "v3-noauth-response", b"\x80" + noauth)
    authpriv = v3_message(3, usm(ENGINE_ID, b"fuzzer", auth=bytes(12), priv=bytes(8)),
                          tlv(0x04, bytes(48)))
    write("snmp_response", "v3-authpriv-response", b"\x81" + authpriv)
    # Signed by the target before decoding (selectors 4: AES, 5: DES).
    write("snmp_response", "v3-signed-aes-response", b"\x84" + authpriv)
    des = v3_message(3, usm(ENGINE_ID, b"fuzzer", auth=bytes(12), priv=bytes(8)),
                     tlv(0x04, bytes(48)))
    write("snmp_response", "v3-signed-des-response", b"\x85" + des)
    report = pdu(0xA8, 0, [([1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0], unsigned(1, 0x41))])
    discovery = v3_message(0, usm(ENGINE_ID, b"", boots=3, time=99), scoped(ENGINE_ID, report))
    write("snmp_response", "v3-discovery-report", b"\x82" + discovery)
    write("snmp_response", "v3-rediscovery-report", b"\x83" + discovery)


def walk_seeds():
    # Header: columns-1, mode (version/endless), max-repetitions; then answers.
    rows = bytes([3, 8]) + bytes([0, 4, 0, 0, 0, 5]) * 4 + bytes([3, 0])
    write("snmp_walk", "two-columns-then-end", bytes([1, 1, 10]) + rows)
    write("snmp_walk", "duplicate-oids", bytes([0, 4, 5, 3, 3, 0, 4, 1, 1, 4, 1, 2, 4]))
    write("snmp_walk", "decreasing-oids", bytes([2, 7, 20, 3, 4, 0, 4, 0, 4, 2, 4, 2, 4]))
    write("snmp_walk", "toobig-then-rows", bytes([3, 2, 50, 0, 0, 3, 6] + [0, 9] * 6))
    write("snmp_walk", "v1-getnext", bytes([1, 0, 0, 3, 1, 0, 1, 3, 1, 3, 10, 1, 2]))
    write("snmp_walk", "endless-increasing", bytes([0, 8, 30, 3, 2, 0, 7] + [1] * 8))


def ssh_output_seeds():
    sources = ["stat", "meminfo", "loadavg", "uptime", "netdev", "diskstats", "mounts", "df",
               "kernel", "os"]
    commands = {"stat": "cat /proc/stat", "meminfo": "cat /proc/meminfo",
                "loadavg": "cat /proc/loadavg", "uptime": "cat /proc/uptime",
                "netdev": "cat /proc/net/dev", "diskstats": "cat /proc/diskstats",
                "mounts": "cat /proc/self/mounts", "df": "df -P -k", "kernel": "uname -r",
                "os": "cat /etc/os-release"}
    out = b"Welcome banner\n"
    for name in sources:
        out += b"@@ispmonitor@@ " + name.encode() + b"\n"
        out += subprocess.run(["sh", "-c", commands[name] + " 2>/dev/null"],
                              capture_output=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout
    out += b"@@ispmonitor@@ end\n"
    write("ssh_output", "this-machine", out)
    write("ssh_output", "truncated", out[: len(out) // 2])
    write("ssh_output", "empty-sections",
          b"".join(b"@@ispmonitor@@ " + n.encode() + b"\n" for n in sources) + b"@@ispmonitor@@ end\n")


def icmp_seeds():
    echo = bytes([0, 0, 0, 0, 0x12, 0x34, 0, 9]) + b"payload!"
    write("icmp_reply", "v4-dgram-echo-reply", bytes([4, 0x12, 0x34, 0, 9]) + echo)
    ip = bytes([0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1])
    write("icmp_reply", "v4-raw-echo-reply", bytes([6, 0x12, 0x34, 0, 9]) + ip + echo)
    request = bytes([8, 0, 0, 0, 0x12, 0x34, 0, 9])
    unreachable = bytes([3, 1, 0, 0, 0, 0, 0, 0]) + ip + request
    write("icmp_reply", "v4-raw-unreachable", bytes([6, 0x12, 0x34, 0, 9]) + ip + unreachable)
    v6 = bytes([129, 0, 0, 0, 0x12, 0x34, 0, 9]) + b"payload!"
    write("icmp_reply", "v6-echo-reply", bytes([1, 0x12, 0x34, 0, 9]) + v6)
    v6_header = bytes([0x60, 0, 0, 0, 0, 16, 58, 64]) + bytes(15) + b"\x01" + bytes(15) + b"\x01"
    v6_error = bytes([3, 0, 0, 0, 0, 0, 0, 0]) + v6_header + bytes([128, 0, 0, 0, 0x12, 0x34, 0, 9])
    write("icmp_reply", "v6-time-exceeded", bytes([1, 0x12, 0x34, 0, 9]) + v6_error)


def agent_seeds():
    names = [(IF_ENTRY + [2], tlv(0x05, b"")), (IF_ENTRY + [10], tlv(0x05, b""))]
    get = tlv(0xA0, integer(1) + integer(0) + integer(0)
              + varbinds([([1, 3, 6, 1, 2, 1, 1, 3, 0], tlv(0x05, b""))]))
    write("agent_request", "v2c-get", community_message(1, get))
    getnext = tlv(0xA1, integer(2) + integer(0) + integer(0) + varbinds(names))
    write("agent_request", "v1-getnext", community_message(0, getnext))
    bulk = tlv(0xA5, integer(3) + integer(0) + integer(50) + varbinds(names))
    write("agent_request", "v2c-getbulk", community_message(1, bulk))
    huge_bulk = tlv(0xA5, integer(4) + integer(0) + integer(2**31 - 1) + varbinds(names))
    write("agent_request", "v2c-getbulk-huge-repetitions", community_message(1, huge_bulk))
    write("agent_request", "v3-discovery",
          v3_message(4, usm(b"", b"", 0, 0), scoped(b"", tlv(0xA0, integer(5) + integer(0)
                                                                  + integer(0) + seq()))))
    authpriv = v3_message(7, usm(ENGINE_ID, b"fuzzer", auth=bytes(12), priv=bytes(8)),
                          tlv(0x04, bytes(64)))
    if len(authpriv) % 2:  # even lengths are signed by the target
        authpriv = v3_message(7, usm(ENGINE_ID, b"fuzzer", auth=bytes(12), priv=bytes(8)),
                              tlv(0x04, bytes(65)))
    write("agent_request", "v3-authpriv-get", authpriv)
    write("agent_request", "v3-noauth-getbulk",
          v3_message(4, usm(ENGINE_ID, b"fuzzer"), scoped(ENGINE_ID, bulk)))



def ros_length(n):
    """A RouterOS API length prefix (1 to 5 bytes, the first byte's high bits say how many)."""
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return (n | 0x8000).to_bytes(2, "big")
    if n < 0x200000:
        return (n | 0xC00000).to_bytes(3, "big")
    if n < 0x10000000:
        return (n | 0xE0000000).to_bytes(4, "big")
    return b"\xf0" + n.to_bytes(4, "big")


def ros_sentence(*words):
    """Length-prefixed words, then the empty word that ends the sentence."""
    out = b""
    for word in words:
        word = word.encode() if isinstance(word, str) else word
        out += ros_length(len(word)) + word
    return out + b"\x00"


def ros_reply(kind, tag=None, **attributes):
    words = [kind] + [f"={name.replace('_', '-')}={value}" for name, value in attributes.items()]
    if tag is not None:
        words.append(f".tag={tag}")
    return ros_sentence(*words)


ROS_RESOURCE = ros_reply("!re", tag=10, uptime="3w2d04:05:06", version="7.16.2 (stable)",
                         free_memory=812_000_000, total_memory=1_073_741_824, cpu="ARM64",
                         cpu_count=4, cpu_load=7, architecture_name="arm64",
                         board_name="CCR2004-16G-2S+", free_hdd_space=90_000_000,
                         total_hdd_space=128_000_000) + ros_reply("!done", tag=10)
ROS_HEALTH = (ros_reply("!re", tag=11, name="temperature", value=45, type="C")
              + ros_reply("!re", tag=11, name="voltage", value=24.1, type="V")
              + ros_reply("!re", tag=11, name="cpu-temperature", value=52, type="C")
              + ros_reply("!done", tag=11))
ROS_INTERFACES = b"".join(
    ros_reply("!re", tag=12, name=name, type=kind, running=running, disabled="false",
              rx_byte=2**63 + 5, tx_byte=123_456_789, rx_packet=99, tx_packet=98, rx_error=0,
              tx_error=1, rx_drop=2, tx_drop=0)
    for name, kind, running in [("ether1", "ether", "true"), ("pppoe-out1", "pppoe-out", "false"),
                                ("bridge", "bridge", "true")]) + ros_reply("!done", tag=12)
ROS_COUNTS = ros_reply("!done", tag=1, ret=1234) + b"".join(
    ros_reply("!done", tag=2 + i, ret=n) for i, n in enumerate([900, 3, 1, 0, 0, 0]))
ROS_CONNTRACK = (ros_reply("!done", tag=8, ret=48_000)
                 + ros_reply("!re", tag=9, max_entries=1_048_576, total_entries=48_000)
                 + ros_reply("!done", tag=9))


def routeros_seeds():
    write("routeros_reply", "login-ok", ros_reply("!done"))
    write("routeros_reply", "login-refused",
          ros_reply("!trap", message="invalid user name or password (6)") + ros_reply("!done"))
    write("routeros_reply", "count-only", ROS_COUNTS)
    write("routeros_reply", "system-resource", ROS_RESOURCE)
    write("routeros_reply", "system-health", ROS_HEALTH)
    write("routeros_reply", "interfaces", ROS_INTERFACES)
    write("routeros_reply", "full-poll",
          ros_reply("!done") + ROS_COUNTS + ROS_CONNTRACK + ROS_RESOURCE + ROS_HEALTH
          + ROS_INTERFACES)
    write("routeros_reply", "trap-then-done",
          ros_reply("!trap", tag=4, category=2, message="no such command prefix")
          + ros_reply("!done", tag=4))
    write("routeros_reply", "empty-then-done", ros_reply("!empty", tag=3) + ros_reply("!done", tag=3))
    write("routeros_reply", "fatal", ros_sentence("!fatal", "session terminated on request"))
    # A 20,000-byte comment (3-byte prefix) and words with longer prefixes than needed.
    write("routeros_reply", "long-word-and-padded-prefixes",
          ros_sentence("!re", "=comment=" + "x" * 20_000)
          + b"\x80\x05!done" + b"\xc0\x00\x08=ret=123" + b"\x00")

snmp_response_seeds()
walk_seeds()
ssh_output_seeds()
icmp_seeds()
agent_seeds()
routeros_seeds()


def write_regression(target, name, data):
    folder = os.path.join(HERE, "..", "regressions", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def hostile_regressions():
    """Hand-written hostile inputs: `refused-*` must be refused, `accepted-*` answered."""
    huge_4gb = bytes([0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]) + integer(1) + tlv(0x04, b"public")
    huge_1mb = bytes([0x30, 0x83, 0x10, 0x00, 0x00]) + integer(1) + tlv(0x04, b"public")
    nested = integer(0)
    for _ in range(5000):
        nested = tlv(0x30, nested)
    huge_arc = bytes([0x2B, 6, 1, 0xA0, 0x80, 0x80, 0x80, 0x80, 0x00])
    big_arc_varbind = tlv(0x30, tlv(0x30, tlv(0x06, huge_arc) + tlv(0x05, b"")))
    response = community_message(1, pdu(0xA2, 9, VALUES[:3]))
    oversized_id = community_message(1, tlv(0xA2, tlv(0x02, bytes([1] + [0] * 8)) + integer(0)
                                            + integer(0) + seq()))
    negative_status = community_message(1, tlv(0xA2, integer(1) + integer(-1) + integer(0) + seq()))
    for name, data in [
        ("refused-ber-length-4gb", huge_4gb),
        ("refused-ber-length-1mb", huge_1mb),
        ("refused-length-beyond-datagram", response[:-3]),
        ("refused-deep-nesting", nested),
        ("refused-oid-arc-above-2-32",
         community_message(1, tlv(0xA2, integer(1) + integer(0) + integer(0) + big_arc_varbind))),
        ("refused-oversized-request-id", oversized_id),
        ("refused-negative-error-status", negative_status),
    ]:
        write_regression("snmp_response", name, b"\x00" + data)
    write_regression("snmp_response", "refused-v3-ber-length-4gb", b"\x81" + huge_4gb)
    write_regression("snmp_response", "refused-v3-discovery-deep-nesting", b"\x82" + nested)
    for length in (0, 1, 7, 9, 47):
        broken = v3_message(3, usm(ENGINE_ID, b"fuzzer", auth=bytes(12), priv=bytes(8)),
                            tlv(0x04, bytes(length)))
        write_regression("snmp_response", f"refused-signed-des-ciphertext-of-{length}-bytes",
                         b"\x85" + broken)
        write_regression("snmp_response", f"refused-signed-aes-ciphertext-of-{length}-bytes",
                         b"\x84" + broken)
    short_salt = v3_message(3, usm(ENGINE_ID, b"fuzzer", auth=bytes(12), priv=bytes(3)),
                            tlv(0x04, bytes(16)))
    write_regression("snmp_response", "refused-signed-des-salt-of-3-bytes", b"\x85" + short_salt)
    write_regression("snmp_response", "refused-signed-aes-salt-of-3-bytes", b"\x84" + short_salt)

    get_huge_arc = community_message(1, tlv(0xA0, integer(1) + integer(0) + integer(0)
                                            + big_arc_varbind))
    bulk_max = community_message(1, tlv(0xA5, integer(3) + integer(0) + integer(2**31 - 1)
                                        + varbinds([(IF_ENTRY + [2], tlv(0x05, b""))])))
    for name, data in [
        ("refused-ber-length-4gb", huge_4gb),
        ("refused-deep-nesting", nested),
        ("refused-oid-arc-above-2-32", get_huge_arc),
        ("accepted-getbulk-max-repetitions-2-31", bulk_max),
    ]:
        write_regression("agent_request", name, data)

    # Walk scripts (see tests/fuzz_regressions.rs): an agent repeating OIDs, one going back.
    write_regression("snmp_walk", "refused-agent-repeats-oids", bytes([1, 4, 10, 3, 2, 0, 8, 0, 8]))
    write_regression("snmp_walk", "refused-decreasing-oids", bytes([0, 1, 10, 3, 2, 0, 8, 2, 8]))
    write_regression("snmp_walk", "accepted-rows-then-next-column",
                     bytes([0, 1, 10, 3, 3, 0, 8, 0, 8, 3, 8]))

    long = b"9" * 200
    sections = b"".join(b"@@ispmonitor@@ " + n + b"\ncpu " + long + b" " + long + b"\n"
                        for n in [b"stat", b"meminfo", b"loadavg", b"uptime"])
    write_regression("ssh_output", "refused-numbers-of-200-digits",
                     sections + b"@@ispmonitor@@ end\n")
    write_regression("ssh_output", "refused-not-utf8", b"@@ispmonitor@@ stat\n\xff\xfe\n")

    write_regression("icmp_reply", "refused-truncated-echo-header", bytes([4, 0x12, 0x34, 0, 9, 0, 0, 0]))
    write_regression("icmp_reply", "refused-ip-header-longer-than-datagram",
                     bytes([6, 0x12, 0x34, 0, 9]) + bytes([0x4F] * 24))


hostile_regressions()


def routeros_regressions():
    """Hand-written hostile RouterOS streams (see tests/fuzz_regressions.rs)."""
    re_word = ros_length(3) + b"!re"
    write_regression("routeros_reply", "refused-length-prefix-of-4-gib",
                     re_word + b"\xf0\xff\xff\xff\xff" + b"A" * 64)
    write_regression("routeros_reply", "refused-word-one-byte-over-1-mib",
                     re_word + ros_length(1024 * 1024 + 1) + b"A" * 64)
    for byte in (0xF1, 0xF8, 0xFF):
        write_regression("routeros_reply", f"refused-reserved-length-byte-{byte:02x}",
                         ros_reply("!done", tag=1) + re_word + bytes([byte]) + b"\x00" * 8)
    write_regression("routeros_reply", "refused-truncated-word",
                     ros_reply("!re", tag=2, name="ether1") + re_word + ros_length(40) + b"=name=eth")
    write_regression("routeros_reply", "refused-truncated-length-prefix", re_word + b"\xc0\x40")
    write_regression("routeros_reply", "refused-sentence-of-5000-words",
                     ros_sentence("!re", *[f"=a{i}=1" for i in range(4999)]))
    write_regression("routeros_reply", "accepted-sentence-of-4096-words",
                     ros_sentence("!re", *[f"=a{i}=1" for i in range(4095)]) + ros_reply("!done"))
    write_regression("routeros_reply", "refused-garbage-after-fatal",
                     ros_reply("!done", ret=5) + ros_sentence("!fatal", "not logged in")
                     + b"\xff\xfe\xf8garbage" + b"\xf0\xff\xff\xff\xff")
    write_regression("routeros_reply", "refused-unknown-reply-word",
                     ros_sentence("HTTP/1.1 400 Bad Request" + "!" * 200, "=a=b"))
    write_regression("routeros_reply", "accepted-empty-sentences-between-replies",
                     b"\x00\x00" + ros_reply("!re", tag=1, name="x") + b"\x00" + ros_reply("!done", tag=1))


routeros_regressions()
