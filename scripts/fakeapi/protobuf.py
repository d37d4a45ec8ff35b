"""Just enough of Kubernetes' protobuf encoding to read what kubectl's typed clients send for
kinds that are all metadata (`kubectl create namespace`): the "k8s\\0" envelope
(runtime.Unknown) and ObjectMeta's name, generateName, namespace, labels, annotations and
finalizers. Anything else is refused (415), never half-read."""

METADATA_ONLY_KINDS = {"Namespace"}


class Unsupported(Exception):
    pass


def _fields(data):
    """(number, wire type, value) for each field of a message."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise Unsupported(f"protobuf wire type {wire}")
        yield number, wire, value


def _varint(data, i):
    shift = result = 0
    while True:
        if i >= len(data):
            raise Unsupported("truncated protobuf varint")
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _metadata(data):
    metadata = {}
    for number, _, value in _fields(data):
        if number in (1, 2, 3):
            metadata[{1: "name", 2: "generateName", 3: "namespace"}[number]] = value.decode()
        elif number in (11, 12):
            entry = {n: v.decode() for n, _, v in _fields(value)}
            metadata.setdefault("labels" if number == 11 else "annotations", {})[entry.get(1, "")] = entry.get(2, "")
        elif number == 14:
            metadata.setdefault("finalizers", []).append(value.decode())
        elif number in (4, 5, 6, 7, 8, 9, 10, 17):
            continue  # server-owned fields, ignored on create as the API server does
        else:
            raise Unsupported(f"ObjectMeta field {number}")
    return metadata


def decode(data):
    """The object as JSON-shaped dicts; Unsupported for kinds this cannot read fully."""
    if not data.startswith(b"k8s\x00"):
        raise Unsupported("no k8s protobuf envelope")
    api_version = kind = raw = None
    for number, _, value in _fields(data[4:]):
        if number == 1:
            for n, _, v in _fields(value):
                if n == 1:
                    api_version = v.decode()
                elif n == 2:
                    kind = v.decode()
        elif number == 2:
            raw = value
    if kind not in METADATA_ONLY_KINDS:
        raise Unsupported(f"protobuf bodies of kind {kind} (send JSON)")
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for number, _, value in _fields(raw or b""):
        if number == 1:
            obj["metadata"] = _metadata(value)
        elif number == 2 and value:
            raise Unsupported(f"{kind} spec in protobuf")
    return obj
