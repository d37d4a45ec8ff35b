"""A stand-in for a Cassandra node's listeners, bound the way the official image binds them
(docker-entrypoint.sh: listen_address = the pod's first non-loopback address, rpc_address =
0.0.0.0), for the tests that run rendered probes as kubelet would. No Cassandra can be
installed here.

  --storage HOST:PORT  the storage (gossip) port: accepts connections, says nothing
  --cql HOST:PORT      the native transport: answers a protocol v4 OPTIONS frame with
                       SUPPORTED, anything else with an ERROR frame

Prints "ready" once both listen; serves until terminated.
"""
import argparse
import socket
import struct
import threading


def listener(address):
    host, port = address.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(16)
    return sock


def string(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def supported_body():
    entries = [("CQL_VERSION", ["3.4.6"]), ("COMPRESSION", ["lz4", "snappy"]), ("PROTOCOL_VERSIONS", ["3/v3", "4/v4", "5/v5"])]
    body = struct.pack(">H", len(entries))
    for key, values in entries:
        body += string(key) + struct.pack(">H", len(values)) + b"".join(string(v) for v in values)
    return body


def read_exactly(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_cql(conn):
    with conn:
        header = read_exactly(conn, 9)
        if header is None:
            return
        version, _flags, stream, opcode, length = struct.unpack(">BBhBI", header)
        if length and read_exactly(conn, length) is None:
            return
        if version == 0x04 and opcode == 0x05:
            body, reply_opcode = supported_body(), 0x06
        else:
            body, reply_opcode = struct.pack(">I", 0x000A) + string("unsupported request"), 0x00
        conn.sendall(struct.pack(">BBhBI", 0x84, 0, stream, reply_opcode, len(body)) + body)


def accept_forever(sock, handle):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True)
    parser.add_argument("--cql", required=True)
    args = parser.parse_args()
    storage, cql = listener(args.storage), listener(args.cql)
    threading.Thread(target=accept_forever, args=(storage, lambda conn: conn.close()), daemon=True).start()
    print("ready", flush=True)
    accept_forever(cql, serve_cql)


if __name__ == "__main__":
    main()
