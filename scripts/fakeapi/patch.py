"""Patches and server-side apply field ownership.

Field sets are sets of paths (tuples of keys). Maps are followed key by key; a list is one
leaf (atomic): the fake does not merge associative lists by key (containers by name) the way
the real structured-merge-diff does. Ownership: an Apply manager owns exactly the fields of
its last applied configuration; an Update (create/put/patch) takes the fields it changed.
"""
import json
import time

# Fields no manager owns.
_UNTRACKED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"),
              ("metadata", "uid"), ("metadata", "resourceVersion"), ("metadata", "generation"),
              ("metadata", "creationTimestamp"), ("metadata", "deletionTimestamp"),
              ("metadata", "managedFields"), ("metadata", "selfLink"), ("metadata", "deletionGracePeriodSeconds")}


class PatchError(Exception):
    def __init__(self, code, reason, message):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def clone(value):
    """A deep copy of a JSON value (maps, lists, immutable scalars): what copy.deepcopy does
    for these, without its memo and dispatch (the fake copies objects on every write)."""
    if isinstance(value, dict):
        return {key: clone(item) if isinstance(item, (dict, list)) else item for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) if isinstance(item, (dict, list)) else item for item in value]
    return value


def leaves(value, scope=None):
    """Every leaf path of a value: non-map values and empty maps; none under the untracked
    fields. scope (a predicate on a path that looks at its first key only, as every scope
    here does) skips whole top-level subtrees: a status write never walks the spec."""
    out = set()
    if scope is None or not isinstance(value, dict):
        _collect_leaves(value, (), out)
        return {p for p in out if scope is None or scope(p)}
    for key, item in value.items():
        if scope((key,)):
            _collect_leaves(item, (key,), out)
    return out


def _collect_leaves(value, prefix, out):
    if prefix in _UNTRACKED:
        return
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _collect_leaves(item, prefix + (key,), out)
    elif prefix:
        out.add(prefix)


def get_path(value, path):
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


_MISSING = object()


def remove_path(value, path):
    """Removes a leaf and any maps it leaves empty (that the removal emptied)."""
    parents = []
    current = value
    for key in path[:-1]:
        if not isinstance(current, dict) or key not in current:
            return
        parents.append((current, key))
        current = current[key]
    if isinstance(current, dict):
        current.pop(path[-1], None)
        while parents and current == {}:
            parent, key = parents.pop()
            del parent[key]
            current = parent


def merge_patch(target, patch):
    """RFC 7386. A new value: target is not changed."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(result, patch):
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if not isinstance(result.get(key), dict):
                result[key] = {}
            _merge_into(result[key], value)
        else:
            result[key] = clone(value)


def strategic_merge_patch(target, patch):
    """A subset of strategic merge patch: maps merge, lists of objects with a "name" merge by
    name, `$patch: delete` on a list item removes it, other lists replace."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list) and all(
                isinstance(i, dict) and "name" in i for i in value + result[key]):
            merged = {item["name"]: item for item in result[key]}
            order = [item["name"] for item in result[key]]
            for item in value:
                if item.get("$patch") == "delete":
                    merged.pop(item["name"], None)
                    continue
                if item["name"] not in merged:
                    order.append(item["name"])
                merged[item["name"]] = strategic_merge_patch(merged.get(item["name"]), item)
            result[key] = [merged[n] for n in order if n in merged]
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, "Invalid", f"JSON pointer {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target, operations):
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise PatchError(400, "BadRequest", "a JSON patch must be an array of operations")
    document = clone(target)

    def parent(doc, parts):
        current = doc
        for part in parts[:-1]:
            if isinstance(current, list):
                current = current[int(part)]
            elif isinstance(current, dict) and part in current:
                current = current[part]
            else:
                raise PatchError(422, "Invalid", f"path /{'/'.join(parts)} does not exist")
        return current

    def read(doc, parts):
        current = doc
        for part in parts:
            try:
                current = current[int(part)] if isinstance(current, list) else current[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise PatchError(422, "Invalid", f"path /{'/'.join(parts)} does not exist")
        return current

    def add(doc, parts, value):
        if not parts:
            return value
        holder = parent(doc, parts)
        key = parts[-1]
        if isinstance(holder, list):
            index = len(holder) if key == "-" else int(key)
            holder.insert(index, value)
        else:
            holder[key] = value
        return doc

    def remove(doc, parts):
        holder = parent(doc, parts)
        key = parts[-1]
        try:
            if isinstance(holder, list):
                del holder[int(key)]
            else:
                del holder[key]
        except (KeyError, IndexError, ValueError):
            raise PatchError(422, "Invalid", f"cannot remove /{'/'.join(parts)}: it does not exist")
        return doc

    for operation in operations:
        op = operation.get("op")
        parts = _pointer(operation.get("path", ""))
        if op == "add":
            document = add(document, parts, clone(operation.get("value")))
        elif op == "remove":
            document = remove(document, parts)
        elif op == "replace":
            read(document, parts)
            document = remove(document, parts) if parts else document
            document = add(document, parts, clone(operation.get("value")))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = clone(read(document, source))
            if op == "move":
                document = remove(document, source)
            document = add(document, parts, value)
        elif op == "test":
            if read(document, parts) != operation.get("value"):
                raise PatchError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                                 f"test operation failed at /{'/'.join(parts)}")
        else:
            raise PatchError(400, "BadRequest", f"unknown JSON patch operation {op!r}")
    return document


# ---- managedFields ------------------------------------------------------------------------

def to_fields_v1(paths):
    tree = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault("f:" + key, {})
    return tree


def from_fields_v1(tree, prefix=()):
    out = set()
    for key, sub in tree.items():
        if not key.startswith("f:"):
            continue
        path = prefix + (key[2:],)
        inner = from_fields_v1(sub, path) if sub else set()
        out |= inner if inner else {path}
    return out


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_managers(obj, subresource):
    """{(manager, operation): paths} for entries of this subresource ("" = main)."""
    managers = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if (entry.get("subresource") or "") != subresource:
            continue
        managers[(entry.get("manager", ""), entry.get("operation", "Update"))] = from_fields_v1(entry.get("fieldsV1") or {})
    return managers


def write_managers(obj, subresource, managers, api_version):
    others = [e for e in (obj.get("metadata") or {}).get("managedFields") or [] if (e.get("subresource") or "") != subresource]
    entries = []
    for (manager, operation), paths in managers.items():
        if not paths:
            continue
        entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now(),
                 "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
    obj.setdefault("metadata", {})["managedFields"] = others + entries


def record_update(old, new, manager, subresource, api_version, scope):
    """An Update operation: `manager` takes every field (within `scope`) it changed or added."""
    managers = read_managers(old, subresource) if old else {}
    old_leaves = leaves(old, scope) if old else set()
    new_leaves = leaves(new, scope)
    changed = {p for p in new_leaves if p not in old_leaves or get_path(old, p) != get_path(new, p)}
    removed = old_leaves - new_leaves
    for key in managers:
        managers[key] = {p for p in managers[key] if p not in changed and p not in removed and _still_leaf(p, new_leaves)}
    if changed:
        key = (manager, "Update")
        managers[key] = managers.get(key, set()) | changed
    write_managers(new, subresource, managers, api_version)


def _still_leaf(path, new_leaves):
    return path in new_leaves


def apply(live, applied, manager, force, subresource, api_version, scope):
    """Server-side apply of `applied` onto `live` (None: create). Returns the merged object with
    managedFields updated, or raises PatchError 409 listing the conflicts."""
    applied_leaves = leaves(applied, scope)
    if live is None:
        result = clone(applied)
        write_managers(result, subresource, {(manager, "Apply"): applied_leaves}, api_version)
        return result
    managers = read_managers(live, subresource)
    conflicts = []
    for (other, operation), paths in managers.items():
        if other == manager and operation == "Apply":
            continue
        for path in paths & applied_leaves:
            if get_path(applied, path) == {} and isinstance(get_path(live, path), dict):
                continue
            if get_path(live, path) != get_path(applied, path):
                conflicts.append((other, path))
    if conflicts and not force:
        details = "; ".join(f'conflict with "{m}": .{".".join(p)}' for m, p in sorted(conflicts))
        raise PatchError(409, "Conflict", f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: {details}")
    result = clone(live)
    for path in sorted(applied_leaves):
        value = get_path(applied, path)
        if value == {}:
            # An empty map claims the map, not the keys other managers put in it.
            if not isinstance(get_path(result, path), dict):
                _set_path(result, path, {})
        else:
            _set_path(result, path, clone(value))
    previous = managers.get((manager, "Apply"), set())
    owned_by_others = set()
    for key, paths in managers.items():
        if key != (manager, "Apply"):
            owned_by_others |= paths
    for path in previous - applied_leaves:
        if path not in owned_by_others:
            remove_path(result, path)
    if force:
        taken = {p for _, p in conflicts}
        for key in managers:
            managers[key] = managers[key] - taken
    managers[(manager, "Apply")] = applied_leaves
    write_managers(result, subresource, managers, api_version)
    return result


def _set_path(value, path, item):
    for key in path[:-1]:
        if not isinstance(value.get(key), dict):
            value[key] = {}
        value = value[key]
    value[path[-1]] = item


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
