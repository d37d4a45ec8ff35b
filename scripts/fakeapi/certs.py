"""Test PKI made with the openssl command line: a CA, the server's certificate (IP 127.0.0.1,
DNS localhost), an admin client certificate (O=system:masters), a second CA that signed
nothing (for "wrong CA" tests), and kubeconfigs for the three ways of authenticating."""
import base64
import json
import os
import secrets
import subprocess

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _run(args, cwd):
    result = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr}")


def _ca(directory, name, subject):
    _run(["req", "-x509"] + EC + ["-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "3",
          "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], directory)


def _leaf(directory, name, subject, extensions):
    _run(["req"] + EC + ["-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject], directory)
    with open(os.path.join(directory, f"{name}.ext"), "w") as f:
        f.write(extensions)
    _run(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
          "-out", f"{name}.crt", "-days", "3", "-extfile", f"{name}.ext"], directory)


def make(directory):
    """Writes the PKI, token and kubeconfigs into directory (skips what exists)."""
    if not os.path.exists(os.path.join(directory, "ca.crt")):
        _ca(directory, "ca", "/CN=fake-apiserver-ca")
        _ca(directory, "wrong-ca", "/CN=unrelated-ca")
        _leaf(directory, "server", "/CN=127.0.0.1",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
              "keyUsage=critical,digitalSignature,keyEncipherment\n")
        _leaf(directory, "admin", "/O=system:masters/CN=admin",
              "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    token_path = os.path.join(directory, "token")
    if not os.path.exists(token_path):
        with open(token_path, "w") as f:
            f.write(secrets.token_hex(24) + "\n")


def read_token(directory):
    with open(os.path.join(directory, "token")) as f:
        return f.read().strip()


def _b64(directory, name):
    with open(os.path.join(directory, name), "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfigs(directory, port):
    server = f"https://127.0.0.1:{port}"

    def config(cluster, user):
        return {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": dict(server=server, **cluster)}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "default"}}],
                "users": [{"name": "fake", "user": user}]}

    inline_ca = {"certificate-authority-data": _b64(directory, "ca.crt")}
    files = {
        # Client certificate and CA inline (libcurl blob options).
        "kubeconfig": config(inline_ca, {"client-certificate-data": _b64(directory, "admin.crt"),
                                         "client-key-data": _b64(directory, "admin.key")}),
        # The same as files, relative to the kubeconfig.
        "kubeconfig-files": config({"certificate-authority": "ca.crt"},
                                   {"client-certificate": "admin.crt", "client-key": "admin.key"}),
        # Bearer token from a file that tests may rotate.
        "kubeconfig-token": config(inline_ca, {"tokenFile": "token"}),
    }
    for name, content in files.items():
        path = os.path.join(directory, name)
        with open(path + ".tmp", "w") as f:
            json.dump(content, f, indent=1)
        os.replace(path + ".tmp", path)
