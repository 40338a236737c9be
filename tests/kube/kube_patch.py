"""Patch algorithms used by the fake Kubernetes API server.

* JSON merge patch (RFC 7386)            -- application/merge-patch+json
* JSON patch (RFC 6902)                  -- application/json-patch+json
* Kubernetes strategic merge patch       -- application/strategic-merge-patch+json

The strategic merge patch follows the apimachinery semantics for the struct
tags of the built-in types we serve: lists with a ``patchMergeKey`` are merged
element-by-element on that key, lists tagged ``patchStrategy:"merge"`` without
a key (primitive lists such as ``metadata.finalizers``) are merged as sets, and
every other list is replaced atomically.  The directives ``$patch`` (replace /
delete / merge), ``$deleteFromPrimitiveList/<field>``,
``$setElementOrder/<field>`` and ``$retainKeys`` are honoured.
"""

import copy

SET = object()  # marker: primitive list merged as a set


class PatchError(Exception):
    """The patch could not be applied (HTTP 422 in the API server)."""


class PatchFormatError(Exception):
    """The patch document itself is malformed (HTTP 400)."""


# --------------------------------------------------------------------------
# JSON merge patch (RFC 7386)
# --------------------------------------------------------------------------

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------
# JSON patch (RFC 6902)
# --------------------------------------------------------------------------

def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchFormatError("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError("doc is missing path: /%s" % "/".join(parts))
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError("unable to access invalid index: %s" % p)
        else:
            raise PatchError("doc is missing path: /%s" % "/".join(parts))
    return cur


def _add(doc, parts, value):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                idx = int(last)
            except ValueError:
                raise PatchError("invalid index %r" % last)
            if idx < 0 or idx > len(parent):
                raise PatchError("index out of bounds: %d" % idx)
            parent.insert(idx, value)
    else:
        raise PatchError("doc is missing path: /%s" % "/".join(parts))
    return doc


def _remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("unable to remove nonexistent key: %s" % last)
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            raise PatchError("unable to remove invalid index: %s" % last)
    raise PatchError("doc is missing path: /%s" % "/".join(parts))


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise PatchFormatError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchFormatError("invalid JSON patch operation: %r" % (op,))
        kind, parts = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchFormatError("operation %s requires a value" % kind)
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)  # must exist
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "test":
            if _walk(doc, parts) != op["value"]:
                raise PatchError("testing value %s failed" % op["path"])
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise PatchFormatError("operation %s requires from" % kind)
            src = _pointer(op["from"])
            value = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                _remove(doc, src)
            doc = _add(doc, parts, value)
        else:
            raise PatchFormatError("unexpected kind: %s" % kind)
    return doc


# --------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------

def strategic_merge_patch(target, patch, schema):
    """Apply ``patch`` to ``target``.

    ``schema`` maps dotted field paths (list elements add no path segment) to
    either a merge-key string or :data:`SET`.  Paths not in the schema are
    replaced atomically when they hold lists.
    """
    if not isinstance(patch, dict):
        raise PatchFormatError("a strategic merge patch must be a JSON object")
    return _smp_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch, "", schema)


def _join(path, key):
    return key if not path else path + "." + key


def _smp_map(orig, patch, path, schema):
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise PatchError("unknown patch type: %s" % directive)
    retain = patch.get("$retainKeys")
    orders = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(orig.get(field), list):
                orig[field] = [v for v in orig[field] if v not in value]
            continue
        if value is None:
            orig.pop(key, None)
            continue
        sub = _join(path, key)
        if isinstance(value, dict):
            merged = _smp_map(orig[key] if isinstance(orig.get(key), dict) else {}, value, sub, schema)
            if merged is None:
                orig.pop(key, None)
            else:
                orig[key] = merged
        elif isinstance(value, list):
            orig[key] = _smp_list(orig.get(key) if isinstance(orig.get(key), list) else [],
                                  value, sub, schema)
        else:
            orig[key] = value
    for field, order in orders.items():
        if isinstance(orig.get(field), list):
            orig[field] = _apply_order(orig[field], order, schema.get(_join(path, field)))
    if retain is not None:
        for key in list(orig):
            if key not in retain:
                del orig[key]
    return orig


def _smp_list(orig, patch, path, schema):
    strategy = schema.get(path)
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [copy.deepcopy(e) for e in patch if not (isinstance(e, dict) and "$patch" in e)]
    if strategy is None:
        return copy.deepcopy(patch)
    if strategy is SET:
        result = list(orig)
        for v in patch:
            if v not in result:
                result.append(copy.deepcopy(v))
        return result
    key = strategy
    result = [copy.deepcopy(e) for e in orig]
    for elem in patch:
        if not isinstance(elem, dict) or key not in elem:
            raise PatchError("map: %r does not contain declared merge key: %s" % (elem, key))
        idx = next((i for i, e in enumerate(result)
                    if isinstance(e, dict) and e.get(key) == elem[key]), None)
        if elem.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            merged = _smp_map({}, elem, path, schema)
            if merged is not None:
                result.append(merged)
        else:
            merged = _smp_map(result[idx], elem, path, schema)
            if merged is None:
                del result[idx]
            else:
                result[idx] = merged
    return result


def _apply_order(items, order, strategy):
    def ident(item):
        if isinstance(strategy, str) and isinstance(item, dict):
            return {strategy: item.get(strategy)}
        return item
    ranked = []
    for pos, item in enumerate(items):
        try:
            rank = order.index(ident(item))
        except ValueError:
            rank = len(order) + pos
        ranked.append((rank, pos, item))
    return [item for _, _, item in sorted(ranked, key=lambda t: (t[0], t[1]))]
