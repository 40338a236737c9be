"""In-memory object store with Kubernetes semantics.

* one global, monotonically increasing resourceVersion (like etcd's revision);
* per-resource event logs holding the last ``window`` changes (like the API
  server's watch cache); watching from a resourceVersion older than what a
  log still holds gives 410 Gone / Expired;
* create / update / patch / delete with the API server's checks: AlreadyExists,
  optimistic concurrency (Conflict), preconditions, graceful pod deletion,
  finalizers, no-op updates that do not bump the resourceVersion;
* the controllers a kubelet relies on that live in the control plane:
  namespace lifecycle (default ServiceAccount, kube-root-ca.crt ConfigMap,
  cascading delete), ServiceAccount admission for pods, pod binding.
"""

import base64
import bisect
import copy
import datetime
import json
import threading

import kube_patch
from kube_resources import (ApiError, DNS1123_LABEL, DNS1123_SUBDOMAIN, Namespaces, Pods,
                            bad_request, conflict, already_exists, decode_nulls, invalid, new_uid,
                            not_found, random_suffix, parse_field_selector,
                            parse_label_selector)

START_RV = 1000
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def fmt_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class WatchEvent:
    __slots__ = ("rv", "type", "obj", "prev")

    def __init__(self, rv, type_, obj, prev):
        self.rv, self.type, self.obj, self.prev = rv, type_, obj, prev


class ResourceExpired(Exception):
    pass


class Store:
    def __init__(self, resources, window=1000, ca_pem=""):
        self.resources = resources
        self.cond = threading.Condition(threading.RLock())
        self.rv = START_RV
        self.window = window
        self.ca_pem = ca_pem
        keys = {r.storage_key for r in resources}
        self.objects = {k: {} for k in keys}
        self.logs = {k: [] for k in keys}
        self.compacted = {k: START_RV for k in keys}
        self.epoch = 0          # bumped to close every open watch
        self.by_plural = {}
        for r in resources:
            self.by_plural.setdefault((r.group, r.plural), r)
        self.after_commit = []  # callbacks(res, type, obj), run under the store lock: must not block

    def resource(self, group, plural):
        return self.by_plural[(group, plural)]

    # ------------------------------------------------------------------
    # low level
    # ------------------------------------------------------------------

    def _commit(self, res, type_, obj, prev):
        """Store ``obj`` (storage form) with a new resourceVersion, log the event."""
        key = res.storage_key
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        ident = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if type_ == "DELETED":
            self.objects[key].pop(ident, None)
        else:
            self.objects[key][ident] = obj
        log = self.logs[key]
        log.append(WatchEvent(self.rv, type_, obj, prev))
        if len(log) > self.window:
            drop = len(log) - self.window
            self.compacted[key] = log[drop - 1].rv
            del log[:drop]
        self.cond.notify_all()
        for cb in self.after_commit:
            cb(res, type_, obj)
        return obj

    def _get(self, res, ns, name):
        obj = self.objects[res.storage_key].get((ns or "", name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def compact(self, res=None):
        with self.cond:
            for key in ([res.storage_key] if res else list(self.logs)):
                self.logs[key] = []
                self.compacted[key] = self.rv
            return self.rv

    def close_watches(self):
        with self.cond:
            self.epoch += 1
            self.cond.notify_all()

    # ------------------------------------------------------------------
    # reads
    # ------------------------------------------------------------------

    def get(self, res, ns, name):
        with self.cond:
            return res.from_storage(self._get(res, ns, name))

    def get_raw(self, res, ns, name):
        """Stored form, or None."""
        with self.cond:
            obj = self.objects[res.storage_key].get((ns or "", name))
            return copy.deepcopy(obj) if obj else None

    def matcher(self, res, ns, label_selector, field_selector):
        lp = parse_label_selector(label_selector)
        fp = parse_field_selector(field_selector, res)

        def match(obj):
            meta = obj["metadata"]
            if ns and meta.get("namespace") != ns:
                return False
            return lp(meta.get("labels")) and fp(obj)
        return match

    def list(self, res, ns, label_selector="", field_selector="", limit=0, cont=""):
        match = self.matcher(res, ns, label_selector, field_selector)
        with self.cond:
            start = ""
            if cont:
                try:
                    tok = json.loads(_b64d(cont))
                    start, tok_rv = tok["start"], int(tok["rv"])
                except Exception:
                    raise bad_request("continue key is not valid: illegal base64 data")
                if tok_rv < self.compacted[res.storage_key]:
                    raise ApiError(410, "Expired", "The provided continue parameter is too old to "
                                   "display a consistent list result. You can start a new list "
                                   "without the continue parameter.")
            items = sorted(self.objects[res.storage_key].items())
            selected = [o for (k, o) in items if "/".join(k) > start and match(o)]
            meta = {"resourceVersion": str(self.rv)}
            if limit and len(selected) > limit:
                last = selected[limit - 1]["metadata"]
                meta["continue"] = _b64e(json.dumps(
                    {"rv": self.rv, "start": "%s/%s" % (last.get("namespace", ""), last["name"])}))
                meta["remainingItemCount"] = len(selected) - limit
                selected = selected[:limit]
            out = []
            for o in selected:
                o = res.from_storage(o)
                o.pop("kind", None)        # list items carry no kind/apiVersion
                o.pop("apiVersion", None)
                out.append(o)
            return {"kind": res.kind + "List", "apiVersion": res.api_version,
                    "metadata": meta, "items": out}

    # ------------------------------------------------------------------
    # watch support
    # ------------------------------------------------------------------

    def watch_start(self, res, rv, match, initial):
        """Return (cursor, epoch, initial ADDED objects) or raise ResourceExpired."""
        with self.cond:
            key = res.storage_key
            objs = []
            if rv not in (None, "", "0"):
                try:
                    want = int(rv)
                except ValueError:
                    raise bad_request('invalid resource version: "%s"' % rv)
                if want < self.compacted[key]:
                    raise ResourceExpired("too old resource version: %d (%d)"
                                          % (want, self.compacted[key]))
                if not initial:
                    return want, self.epoch, []
            objs = [o for _, o in sorted(self.objects[key].items()) if match(o)]
            return self.rv, self.epoch, objs

    def watch_wait(self, res, cursor, epoch, timeout):
        """Wait up to ``timeout`` for events after ``cursor``.

        Returns (events, new_cursor); events is None when the watch must end
        (closed by a test hook, or the watcher fell out of the window).
        """
        key = res.storage_key
        with self.cond:
            if self.rv <= cursor and self.epoch == epoch:
                self.cond.wait(timeout)
            if self.epoch != epoch or cursor < self.compacted[key]:
                return None, cursor
            log = self.logs[key]
            i = bisect.bisect_right([e.rv for e in log], cursor)
            return log[i:], max(cursor, self.rv)

    # ------------------------------------------------------------------
    # writes
    # ------------------------------------------------------------------

    def create(self, res, ns, body, user=None, dry_run=False):
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        with self.cond:
            obj = res.to_storage(decode_nulls(copy.deepcopy(body)))
            meta = obj.setdefault("metadata", {})
            if not isinstance(meta, dict):
                raise bad_request("metadata must be an object")
            if res.namespaced:
                if meta.get("namespace") and meta["namespace"] != ns:
                    raise bad_request("the namespace of the provided object does not match "
                                      "the namespace sent on the request")
                meta["namespace"] = ns
                self._check_namespace_open(res, ns, meta.get("name") or meta.get("generateName", ""))
            else:
                meta.pop("namespace", None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise invalid(res, "", [("metadata.name",
                                             "Required value: name or generateName is required")])
                for _ in range(20):
                    meta["name"] = meta["generateName"] + random_suffix()
                    if (ns or "", meta["name"]) not in self.objects[res.storage_key]:
                        break
            name = meta["name"]
            rx = DNS1123_LABEL if isinstance(res, Namespaces) else DNS1123_SUBDOMAIN
            if not rx.match(name) or len(name) > 253:
                raise invalid(res, name, [("metadata.name", 'Invalid value: "%s": a lowercase RFC '
                                           "1123 subdomain must consist of lower case alphanumeric "
                                           "characters, '-' or '.'" % name)])
            if (ns or "", name) in self.objects[res.storage_key]:
                raise already_exists(res, name)
            for f in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "selfLink", "managedFields"):
                meta.pop(f, None)
            meta["uid"] = new_uid()
            meta["creationTimestamp"] = fmt_time(now())
            obj["kind"], obj["apiVersion"] = res.kind, res.api_version
            res.prepare_create(obj, {"user": user or {}})
            if isinstance(res, Pods):
                self._admit_pod(obj, res)
            errs = res.validate(obj)
            if errs:
                raise invalid(res, name, errs)
            if dry_run:
                return res.from_storage(obj)
            stored = self._commit(res, "ADDED", obj, None)
            if isinstance(res, Namespaces):
                self._namespace_created(name)
            return res.from_storage(stored)

    def update(self, res, ns, name, body, subresource=None, dry_run=False):
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        with self.cond:
            cur = self._get(res, ns, name)
            new = res.to_storage(decode_nulls(copy.deepcopy(body)))
            meta = new.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise bad_request("the name of the object (%s) does not match the name on the "
                                  "URL (%s)" % (meta.get("name"), name))
            if res.namespaced and meta.get("namespace", ns) != ns:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            cmeta = cur["metadata"]
            rv = meta.get("resourceVersion")
            if rv not in (None, "") and rv != cmeta["resourceVersion"]:
                raise conflict(res, name)
            if meta.get("uid") and meta["uid"] != cmeta["uid"]:
                raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in "
                               "object meta: %s" % (meta["uid"], cmeta["uid"]))
            for f in ("uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "namespace", "name"):
                if f in cmeta:
                    meta[f] = cmeta[f]
                else:
                    meta.pop(f, None)
            meta["resourceVersion"] = cmeta["resourceVersion"]
            new["kind"], new["apiVersion"] = cur["kind"], cur["apiVersion"]
            res.prepare_update(new, cur, subresource)
            errs = res.validate(new, cur)
            if errs:
                raise invalid(res, name, errs)
            if new == cur or dry_run:           # no-op: no new resourceVersion, no event
                return res.from_storage(new)
            stored = self._commit(res, "MODIFIED", new, cur)
            if self._should_delete_on_update(stored):
                self._remove(res, stored)
            return res.from_storage(stored)

    def patch(self, res, ns, name, content_type, patch, subresource=None, dry_run=False):
        with self.cond:
            cur = res.from_storage(self._get(res, ns, name))
            try:
                if content_type == "application/merge-patch+json":
                    if not isinstance(patch, dict):
                        raise kube_patch.PatchFormatError("a merge patch must be a JSON object")
                    new = kube_patch.merge_patch(cur, patch)
                elif content_type == "application/strategic-merge-patch+json":
                    new = kube_patch.strategic_merge_patch(cur, patch, res.smp_schema)
                elif content_type == "application/json-patch+json":
                    new = kube_patch.json_patch(cur, patch)
                else:
                    raise ApiError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted "
                                   "media types include: application/json-patch+json, "
                                   "application/merge-patch+json, "
                                   "application/strategic-merge-patch+json")
            except kube_patch.PatchFormatError as e:
                raise bad_request(str(e))
            except kube_patch.PatchError as e:
                raise ApiError(422, "Invalid", str(e))
            if not isinstance(new, dict):
                raise bad_request("the patch produced a non-object document")
            return self.update(res, ns, name, new, subresource, dry_run)

    def delete(self, res, ns, name, options=None):
        """Return (obj_after, deleted: bool)."""
        options = options or {}
        with self.cond:
            cur = self._get(res, ns, name)
            cmeta = cur["metadata"]
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != cmeta["uid"]:
                raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in "
                               "object meta: %s" % (pre["uid"], cmeta["uid"]))
            if pre.get("resourceVersion") and pre["resourceVersion"] != cmeta["resourceVersion"]:
                raise conflict(res, name, "Precondition failed: ResourceVersion in precondition: "
                               "%s, ResourceVersion in object meta: %s"
                               % (pre["resourceVersion"], cmeta["resourceVersion"]))
            if options.get("dryRun"):
                return res.from_storage(cur), False
            if isinstance(res, Namespaces):
                return self._delete_namespace(res, cur), False
            grace = 0
            if isinstance(res, Pods):
                spec, status = cur.get("spec") or {}, cur.get("status") or {}
                grace = options.get("gracePeriodSeconds")
                if grace is None:
                    grace = spec.get("terminationGracePeriodSeconds", 30)
                grace = max(0, int(grace))
                if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
                    grace = 0
            if grace > 0 or cmeta.get("finalizers"):
                # graceful deletion / pending finalizers: mark it and keep the object
                old_grace = cmeta.get("deletionGracePeriodSeconds")
                if cmeta.get("deletionTimestamp") and old_grace is not None and old_grace <= grace:
                    return res.from_storage(cur), False     # the grace can only be shortened
                new = copy.deepcopy(cur)
                new["metadata"]["deletionTimestamp"] = fmt_time(now() + datetime.timedelta(seconds=grace))
                new["metadata"]["deletionGracePeriodSeconds"] = grace
                return res.from_storage(self._commit(res, "MODIFIED", new, cur)), False
            return res.from_storage(self._remove(res, cur)), True

    def _remove(self, res, cur):
        gone = self._commit(res, "DELETED", cur, cur)
        ns = cur["metadata"].get("namespace")
        if ns:
            self._maybe_finalize_namespace(ns)
        return gone

    @staticmethod
    def _should_delete_on_update(obj):
        meta = obj["metadata"]
        return (meta.get("deletionTimestamp") and not meta.get("finalizers")
                and meta.get("deletionGracePeriodSeconds") == 0)

    # ------------------------------------------------------------------
    # subresources with their own logic
    # ------------------------------------------------------------------

    def bind(self, res, ns, name, binding):
        with self.cond:
            cur = self._get(res, ns, name)
            node = ((binding or {}).get("target") or {}).get("name")
            if not node:
                raise invalid(res, name, [("target.name", "Required value")])
            if cur["metadata"].get("deletionTimestamp"):
                raise conflict(res, name, "pod %s is being deleted, cannot be assigned to a host" % name)
            if (cur.get("spec") or {}).get("nodeName"):
                raise conflict(res, name, 'pod %s is already assigned to node "%s"'
                               % (name, cur["spec"]["nodeName"]))
            new = copy.deepcopy(cur)
            new["spec"]["nodeName"] = node
            conds = new.setdefault("status", {}).setdefault("conditions", [])
            conds[:] = [c for c in conds if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": fmt_time(now())})
            self._commit(res, "MODIFIED", new, cur)

    # ------------------------------------------------------------------
    # admission & control-plane controllers
    # ------------------------------------------------------------------

    def _check_namespace_open(self, res, ns, name):
        nsres = self.resource("", "namespaces")
        nsobj = self.objects[nsres.storage_key].get(("", ns))
        if nsobj is None:
            raise not_found(nsres, ns)
        if nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", '%s "%s" is forbidden: unable to create new content '
                           "in namespace %s because it is being terminated"
                           % (res.qualified, name, ns),
                           {"name": name, "kind": res.plural})

    def _admit_pod(self, pod, res):
        """ServiceAccount admission: resolve the SA, add the kube-api-access volume."""
        spec = pod["spec"]
        ns = pod["metadata"]["namespace"]
        sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = spec["serviceAccount"] = sa_name
        sa = self.objects[self.resource("", "serviceaccounts").storage_key].get((ns, sa_name))
        if sa is None:
            raise ApiError(403, "Forbidden", 'pods "%s" is forbidden: error looking up service '
                           'account %s/%s: serviceaccount "%s" not found'
                           % (pod["metadata"].get("name", ""), ns, sa_name, sa_name))
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = sa.get("automountServiceAccountToken", True)
        if not automount:
            return
        containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
        if any(m.get("mountPath") == SA_MOUNT for c in containers for m in c.get("volumeMounts") or []):
            return
        vol = "kube-api-access-" + random_suffix()
        spec.setdefault("volumes", []).append({"name": vol, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}})
        for c in containers:
            c.setdefault("volumeMounts", []).append(
                {"name": vol, "readOnly": True, "mountPath": SA_MOUNT})

    def _namespace_created(self, ns):
        # serviceaccount controller + root-ca-cert-publisher of kube-controller-manager
        sa = self.resource("", "serviceaccounts")
        cm = self.resource("", "configmaps")
        if (ns, "default") not in self.objects[sa.storage_key]:
            self.create(sa, ns, {"metadata": {"name": "default"}})
        if (ns, "kube-root-ca.crt") not in self.objects[cm.storage_key]:
            self.create(cm, ns, {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                "kubernetes.io/description": "Contains a CA bundle that can be used to verify the "
                "kube-apiserver when using internal endpoints such as the internal service IP or "
                "kubernetes.default.svc. No other usage is guaranteed across distributions of "
                "Kubernetes clusters."}}, "data": {"ca.crt": self.ca_pem}})

    def _delete_namespace(self, res, cur):
        name = cur["metadata"]["name"]
        if not cur["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(cur)
            new["metadata"]["deletionTimestamp"] = fmt_time(now())
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            cur = self._commit(res, "MODIFIED", new, cur)
            # namespace controller: delete everything inside
            seen = set()
            for r in self.resources:
                if not r.namespaced or r.storage_key in seen:
                    continue
                seen.add(r.storage_key)
                for (ons, oname) in list(self.objects[r.storage_key]):
                    if ons == name and (ons, oname) in self.objects[r.storage_key]:
                        self.delete(r, ons, oname)
        self._maybe_finalize_namespace(name)
        return res.from_storage(self.objects[res.storage_key].get(("", name), cur))

    def _maybe_finalize_namespace(self, ns):
        nsres = self.resource("", "namespaces")
        nsobj = self.objects[nsres.storage_key].get(("", ns))
        if not nsobj or not nsobj["metadata"].get("deletionTimestamp"):
            return
        for r in self.resources:
            if r.namespaced and any(k[0] == ns for k in self.objects[r.storage_key]):
                return
        self._commit(nsres, "DELETED", nsobj, nsobj)


def _b64e(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def _b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode()
