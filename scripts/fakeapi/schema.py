"""Structural-schema semantics of a CRD version: pruning, defaulting, validation (OpenAPI
keywords and x-kubernetes-validations CEL rules through cel-python when it is installed),
and the human-readable age of printer columns."""
import json
import re
import threading

import patch as patching

try:
    import celpy  # cel-python, from scripts/requirements-test.txt
except ImportError:  # pragma: no cover - the test venv has it
    celpy = None


class Invalid(Exception):
    """422 Invalid: causes are (field, message) pairs."""

    def __init__(self, causes):
        super().__init__("; ".join(f"{field}: {message}" for field, message in causes))
        self.causes = causes


def _preserves(schema):
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def prune(value, schema, path, pruned):
    """Removes fields the schema does not declare (in place); records their paths."""
    if isinstance(value, dict) and schema.get("type", "object") == "object" and not _preserves(schema):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key in list(value):
            if properties is not None and key in properties:
                prune(value[key], properties[key], f"{path}.{key}", pruned)
            elif isinstance(additional, dict):
                prune(value[key], additional, f"{path}.{key}", pruned)
            elif properties is not None or additional is False:
                # metadata's contents belong to the API server, never pruned here.
                if path == "" and key in ("apiVersion", "kind", "metadata"):
                    continue
                pruned.append(f"{path}.{key}".lstrip("."))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            prune(item, schema["items"], f"{path}[{index}]", pruned)


def default(value, schema):
    """Applies `default`s of missing properties, recursively (in place)."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = patching.clone(sub["default"])
            if key in value:
                default(value[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in value:
                if key not in (schema.get("properties") or {}):
                    default(value[key], additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            default(item, schema["items"])


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}

_pattern_cache = {}


def validate(value, schema, path, causes, old=None, has_old=False):
    """OpenAPI keyword and CEL validation; appends (path, message) to causes. On updates a
    value equal to the old one is not validated again (CRD validation ratcheting, on by
    default since Kubernetes 1.30), so an unchanged spec is not re-checked on status writes."""
    if has_old and value == old:
        return
    field = path.lstrip(".") or "<root>"
    if value is None:
        if not schema.get("nullable"):
            if schema.get("type"):
                causes.append((field, f"Invalid value: \"null\": {field} in body must be of type {schema['type']}"))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (_TYPES["integer"](value) or isinstance(value, str)):
            causes.append((field, "Invalid value: must be an integer or a string"))
            return
    else:
        expected = schema.get("type")
        if expected and not _TYPES[expected](value):
            causes.append((field, f"Invalid value: \"{_show(value)}\": {field} in body must be of type {expected}: \"{_type_name(value)}\""))
            return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        causes.append((field, f"Unsupported value: \"{_show(value)}\": supported values: {allowed}"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append((field, f"Invalid value: {value}: {field} in body should be greater than or equal to {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            causes.append((field, f"Invalid value: {value}: {field} in body should be less than or equal to {schema['maximum']}"))
        if schema.get("format") == "int32" and not (-2**31 <= value < 2**31):
            causes.append((field, f"Invalid value: {value}: {field} in body must be a 32-bit integer"))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append((field, f"Too long: may not be more than {schema['maxLength']} bytes"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append((field, f"Invalid value: \"{value}\": {field} in body should be at least {schema['minLength']} chars long"))
        if "pattern" in schema and not schema.get("x-kubernetes-int-or-string"):
            regex = _pattern_cache.get(schema["pattern"])
            if regex is None:
                regex = _pattern_cache[schema["pattern"]] = re.compile(schema["pattern"])
            if not regex.search(value):
                causes.append((field, f"Invalid value: \"{value}\": {field} in body should match '{schema['pattern']}'"))
    if schema.get("anyOf") and isinstance(value, str) and "pattern" in schema:
        regex = _pattern_cache.get(schema["pattern"]) or re.compile(schema["pattern"])
        if not regex.search(value):
            causes.append((field, f"Invalid value: \"{value}\": {field} in body should match '{schema['pattern']}'"))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append((field, f"Too many: {len(value)}: must have at most {schema['maxItems']} items"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append((field, f"Invalid value: {field} in body should have at least {schema['minItems']} items"))
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                validate(item, items, f"{path}[{index}]", causes)
    if isinstance(value, dict):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append((field, f"Too many: {len(value)}: must have at most {schema['maxProperties']} items"))
        for key in schema.get("required") or []:
            if key not in value:
                causes.append((f"{path}.{key}".lstrip("."), "Required value"))
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key) or (additional if isinstance(additional, dict) else None)
            if sub is not None and not (path == "" and key == "metadata"):
                old_item = old.get(key) if has_old and isinstance(old, dict) else None
                validate(item, sub, f"{path}.{key}", causes, old_item, has_old and isinstance(old, dict) and key in old)
    for rule in schema.get("x-kubernetes-validations") or []:
        _check_rule(rule, value, old, has_old, field, causes)


def _show(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def _type_name(value):
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return "null"


_programs = {}
_results = {}  # (rule, self, oldSelf) as JSON -> result: CEL is pure, and objects repeat
_cel_lock = threading.Lock()


_field_use = {}


def _fields_used(text):
    """The paths a rule selects from self/oldSelf as a tree ("self.metadata.name.size()" ->
    {"metadata": {"name": None}}; None = the whole subtree), or None when it uses self whole
    (self == oldSelf, self.size(), has(self)). A method call ends a path: its receiver is used
    whole."""
    if text not in _field_use:
        tree = {}
        for match in re.finditer(r"\b(?:self|oldSelf)\b((?:\.\w+)*)(\s*\()?", text):
            path = match.group(1).split(".")[1:]
            if match.group(2):
                path = path[:-1]
            if not path:
                tree = None
                break
            node = tree
            for key in path[:-1]:
                if node.get(key, {}) is None:
                    break  # a shorter path already takes this subtree whole
                node = node.setdefault(key, {})
            else:
                node[path[-1]] = None
        _field_use[text] = tree
    return _field_use[text]


def _project(value, tree):
    """Only the parts of value a rule reads (tree from _fields_used): the rule's result and its
    cache key then depend on nothing else (not on resourceVersion or managedFields)."""
    if tree is None or not isinstance(value, dict):
        return value
    return {key: _project(value[key], sub) for key, sub in tree.items() if key in value}


def _check_rule(rule, value, old, has_old, field, causes):
    text = rule["rule"]
    if celpy is None:
        return
    transition = "oldSelf" in text
    if transition and not has_old:
        return  # transition rules only run on updates
    fields = _fields_used(text)
    if fields is not None:
        # Only the fields the rule selects matter: convert and cache just those.
        value = _project(value, fields)
        old = _project(old, fields)
    key = (text, json.dumps(value, sort_keys=True), json.dumps(old, sort_keys=True) if transition else None)
    with _cel_lock:
        result = _results.get(key)
        if result is None:
            program = _programs.get(text)
            if program is None:
                environment = celpy.Environment()
                program = _programs[text] = environment.program(environment.compile(text))
            activation = {"self": celpy.json_to_cel(value)}
            if transition:
                activation["oldSelf"] = celpy.json_to_cel(old)
            try:
                evaluated = program.evaluate(activation)
                result = ("ok",) if not isinstance(evaluated, Exception) and bool(evaluated) else ("failed",)
            except Exception as error:  # an evaluation error rejects the object, as the API server does
                result = ("error", str(error))
            if len(_results) > 50000:
                _results.clear()
            _results[key] = result
    if result[0] == "error":
        causes.append((field, f"Invalid value: {text}: evaluation error: {result[1]}"))
        return
    if result[0] == "failed":
        message = rule.get("message") or f"failed rule: {text}"
        causes.append((field, f"Invalid value: \"object\": {message}"))


def human_duration(seconds):
    """Kubernetes' HumanDuration: the AGE column's "5m", "3h12m", "2d"."""
    seconds = int(seconds)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m{s}s" if s else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h{m}m" if m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        h = hours % 24
        return f"{hours // 24}d{h}h" if h else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        d = (hours // 24) % 365
        return f"{hours // 24 // 365}y{d}d" if d else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def json_path(value, path):
    """The simple JSONPath of printer columns: ".spec.a.b", ".status.items[0].name"."""
    current = value
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        key, index = part
        if key:
            if not isinstance(current, dict) or key not in current:
                return None
            current = current[key]
        else:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
    return current
