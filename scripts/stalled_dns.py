"""Runs a command where name resolution never answers, for the probe's watchdog test.

usage: stalled_dns.py [--block SIGNAME]... -- COMMAND [ARG]...

Re-executes itself in new user, network and mount namespaces (no privileges needed where
unprivileged user namespaces are allowed, as on Debian), brings loopback up, binds a UDP
socket on 127.0.0.1:53 that reads nothing and answers nothing, and bind-mounts a
resolv.conf naming it over /etc/resolv.conf. Nothing outside the namespaces changes. The
command then runs with the given signals blocked (a blocked mask survives exec) and this
script exits with its exit status.
"""
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
PR_SET_PDEATHSIG = 1


def loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def main():
    args = sys.argv[1:]
    if os.environ.get("STALLED_DNS_INSIDE") != "1":
        env = dict(os.environ, STALLED_DNS_INSIDE="1")
        command = ["unshare", "--user", "--map-root-user", "--net", "--mount", sys.executable, os.path.abspath(__file__)]
        os.execvpe("unshare", command + args, env)
    blocked = []
    while args and args[0] == "--block":
        blocked.append(getattr(signal, args[1]))
        args = args[2:]
    if not args or args[0] != "--" or len(args) < 2:
        sys.exit(__doc__)
    command = args[1:]

    loopback_up()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 53))
    with tempfile.NamedTemporaryFile("w", suffix=".resolv.conf", delete=False) as conf:
        conf.write("nameserver 127.0.0.1\noptions timeout:30 attempts:2\n")
    try:
        subprocess.run(["mount", "--bind", conf.name, "/etc/resolv.conf"], check=True)
        pid = os.fork()
        if pid == 0:
            # Killed with us: a test that gives up on us must not leave the command behind.
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
            os.execvp(command[0], command)
        _, status = os.waitpid(pid, 0)
    finally:
        os.unlink(conf.name)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
