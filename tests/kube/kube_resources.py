"""Resource types served by the fake API server: names, scope, selectable
fields, strategic-merge-patch schema and the per-type "strategy" (defaults on
create, what an update of the main resource / a subresource may change,
validation), modelled on kubernetes/pkg/registry/*/strategy.go.
"""

import base64
import copy
import datetime
import re
import secrets
import uuid

from kube_patch import SET


# --------------------------------------------------------------------------
# Errors (always rendered as metav1.Status)
# --------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = headers or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            st["details"] = self.details
        return st


def _details(res, name):
    d = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return d


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (res.qualified, name), _details(res, name))


def already_exists(res, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, name),
                    _details(res, name))


def conflict(res, name, why="the object has been modified; please apply your changes "
                            "to the latest version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (res.qualified, name, why), _details(res, name))


def invalid(res, name, causes):
    """causes: list of (field, message)."""
    msg = '%s "%s" is invalid: %s' % (res.kind, name, ", ".join("%s: %s" % c for c in causes))
    det = _details(res, name)
    det["kind"] = res.kind
    det["causes"] = [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]
    return ApiError(422, "Invalid", msg, det)


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


# metav1.Time / MicroTime *values* (not pointers): a zero time encodes as null,
# so the real server keeps `"lastProbeTime": null` and the like.
_TIME_VALUE_FIELDS = frozenset((
    "lastProbeTime", "lastTransitionTime", "lastHeartbeatTime", "lastUpdateTime",
    "startedAt", "finishedAt", "creationTimestamp", "firstTimestamp", "lastTimestamp",
    "eventTime", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"))
# map[string]string fields: a null value decodes to "".
_STRING_MAP_FIELDS = frozenset(("labels", "annotations", "nodeSelector"))


def decode_nulls(value, parent=None):
    """What decoding a JSON body into the typed k8s.io/api structs does to its
    nulls, in place: a null member is a nil pointer / empty omitempty field and
    disappears (`{"waiting": null, "running": {...}}` is stored as
    `{"running": {...}}`), except metav1.Time values (kept as null) and the
    values of string maps (become "").  Patches reach the store through the
    same decode, so nulls left in atomically replaced lists go the same way.
    An empty list member disappears too: the API types' slices are omitempty
    (and storage turns an empty slice into nil), so `"initContainerStatuses":
    []` is stored, and read back, without the key."""
    if isinstance(value, list):
        for item in value:
            decode_nulls(item)
    elif isinstance(value, dict):
        for key in list(value):
            if isinstance(value[key], list) and not value[key]:
                del value[key]
            elif value[key] is not None:
                decode_nulls(value[key], key)
            elif parent in _STRING_MAP_FIELDS:
                value[key] = ""
            elif key not in _TIME_VALUE_FIELDS:
                del value[key]
    return value


def random_suffix(n=5):
    return "".join(secrets.choice(NAME_CHARS) for _ in range(n))


def new_uid():
    return str(uuid.uuid4())


def get_path(obj, dotted):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def field_str(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------
# Resource type definition
# --------------------------------------------------------------------------

COMMON_SMP = {"metadata.ownerReferences": "uid", "metadata.finalizers": SET}


class Resource:
    group = ""
    version = "v1"
    plural = ""
    kind = ""
    namespaced = True
    subresources = ()
    fields = {}              # selectable field -> dotted path in the stored object
    smp = {}                 # extra strategic merge patch schema
    status_subresource = False
    return_deleted_object = False
    short_names = ()
    verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    @property
    def api_version(self):
        return self.version if not self.group else "%s/%s" % (self.group, self.version)

    @property
    def qualified(self):
        return self.plural if not self.group else "%s.%s" % (self.plural, self.group)

    @property
    def storage_key(self):
        """Resources sharing a storage key share objects (core and events.k8s.io events)."""
        return self.qualified

    @property
    def smp_schema(self):
        s = dict(COMMON_SMP)
        s.update(self.smp)
        return s

    def selectable(self):
        f = {"metadata.name": "metadata.name"}
        if self.namespaced:
            f["metadata.namespace"] = "metadata.namespace"
        f.update(self.fields)
        return f

    # conversion between the stored form and this API's form (identity here)
    def to_storage(self, obj):
        return obj

    def from_storage(self, obj):
        obj = copy.deepcopy(obj)
        obj["kind"], obj["apiVersion"] = self.kind, self.api_version
        return obj

    # strategy hooks --------------------------------------------------------
    def prepare_create(self, obj, ctx):
        if self.status_subresource:
            obj.pop("status", None)

    def validate(self, obj, old=None):
        """Return list of (field, message) problems."""
        return []

    def prepare_update(self, new, old, subresource):
        """Reset what this endpoint may not change (spec vs status)."""
        if not self.status_subresource:
            return
        if subresource == "status":
            for k in list(new):
                if k not in ("metadata", "status", "kind", "apiVersion"):
                    del new[k]
            for k in old:
                if k not in ("metadata", "status", "kind", "apiVersion"):
                    new[k] = copy.deepcopy(old[k])
        else:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)


# --------------------------------------------------------------------------
# core/v1
# --------------------------------------------------------------------------

def _container_defaults(c):
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in c:
        image = c.get("image", "")
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        c["imagePullPolicy"] = "Always" if (not tagged or image.endswith(":latest")) else "IfNotPresent"
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")


def _qos_class(spec):
    reqs, lims, any_set, guaranteed = [], [], False, True
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        r = (c.get("resources") or {})
        req, lim = r.get("requests") or {}, r.get("limits") or {}
        if req or lim:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in lim or req.get(res, lim.get(res)) != lim.get(res):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


POD_SPEC_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                    "schedulingGates")


class Pods(Resource):
    plural, kind, short_names = "pods", "Pod", ("po",)
    subresources = ("status", "log", "binding")
    status_subresource = True
    return_deleted_object = True
    fields = {"spec.nodeName": "spec.nodeName", "spec.restartPolicy": "spec.restartPolicy",
              "spec.schedulerName": "spec.schedulerName",
              "spec.serviceAccountName": "spec.serviceAccountName",
              "spec.hostNetwork": "spec.hostNetwork", "status.phase": "status.phase",
              "status.podIP": "status.podIP", "status.nominatedNodeName": "status.nominatedNodeName"}
    smp = {}
    for _c in ("containers", "initContainers", "ephemeralContainers"):
        smp.update({"spec.%s" % _c: "name", "spec.%s.env" % _c: "name",
                    "spec.%s.ports" % _c: "containerPort",
                    "spec.%s.volumeMounts" % _c: "mountPath",
                    "spec.%s.volumeDevices" % _c: "devicePath"})
    smp.update({"spec.volumes": "name", "spec.imagePullSecrets": "name", "spec.hostAliases": "ip",
                "spec.resourceClaims": "name", "spec.schedulingGates": "name",
                "status.conditions": "type", "status.podIPs": "ip", "status.hostIPs": "ip",
                "status.resourceClaimStatuses": "name"})
    # status.containerStatuses / initContainerStatuses carry no patchMergeKey in
    # k8s.io/api core/v1 (listType=atomic): a strategic merge patch replaces them.

    def prepare_create(self, obj, ctx):
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            _container_defaults(c)
        tolerations = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 300})
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}

    def validate(self, obj, old=None):
        errs = []
        spec = obj.get("spec") or {}
        containers = spec.get("containers")
        if not containers:
            errs.append(("spec.containers", "Required value"))
        seen = set()
        for kind in ("initContainers", "containers"):
            for i, c in enumerate(spec.get(kind) or []):
                name = c.get("name", "")
                if not DNS1123_LABEL.match(name):
                    errs.append(("spec.%s[%d].name" % (kind, i), 'Invalid value: "%s"' % name))
                elif name in seen:
                    errs.append(("spec.%s[%d].name" % (kind, i), 'Duplicate value: "%s"' % name))
                seen.add(name)
                if not c.get("image") and old is None:
                    errs.append(("spec.%s[%d].image" % (kind, i), "Required value"))
        vols = set()
        for i, v in enumerate(spec.get("volumes") or []):
            if v.get("name") in vols:
                errs.append(("spec.volumes[%d].name" % i, 'Duplicate value: "%s"' % v.get("name")))
            vols.add(v.get("name"))
        if old is not None:
            errs += self._validate_update(obj, old)
        return errs

    def _validate_update(self, new, old):
        errs = []
        ns, os_ = copy.deepcopy(new.get("spec") or {}), copy.deepcopy(old.get("spec") or {})
        for s in (ns, os_):
            for f in POD_SPEC_MUTABLE:
                s.pop(f, None)
            for kind in ("containers", "initContainers"):
                for c in s.get(kind) or []:
                    c.pop("image", None)
        if ns.pop("nodeName", None) != os_.pop("nodeName", None):
            errs.append(("spec.nodeName", "Forbidden: pod updates may not change nodeName "
                         "(use the binding subresource)"))
        if ns != os_:
            errs.append(("spec", "Forbidden: pod updates may not change fields other than "
                         "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                         "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to "
                         "existing tolerations), `spec.terminationGracePeriodSeconds`"))
        old_phase = (old.get("status") or {}).get("phase")
        new_phase = (new.get("status") or {}).get("phase")
        if old_phase in ("Succeeded", "Failed") and new_phase != old_phase:
            errs.append(("status.phase", "Forbidden: cannot transition from terminal phase %s to %s"
                         % (old_phase, new_phase)))
        return errs

    def prepare_update(self, new, old, subresource):
        super().prepare_update(new, old, subresource)
        if subresource == "status":
            meta, ometa = new.setdefault("metadata", {}), old.get("metadata", {})
            if "ownerReferences" in ometa:
                meta["ownerReferences"] = copy.deepcopy(ometa["ownerReferences"])
            else:
                meta.pop("ownerReferences", None)
            qos = (old.get("status") or {}).get("qosClass")
            if qos:
                new.setdefault("status", {})["qosClass"] = qos


class Nodes(Resource):
    plural, kind, namespaced, short_names = "nodes", "Node", False, ("no",)
    subresources = ("status", "proxy")
    status_subresource = True
    fields = {"spec.unschedulable": "spec.unschedulable"}
    smp = {"spec.podCIDRs": SET, "status.conditions": "type", "status.addresses": "type"}
    # spec.taints, status.images, status.volumesInUse... are atomic (replaced).

    def prepare_create(self, obj, ctx):
        # the kubelet registers its node with a status
        canonical_resource_lists(obj.get("status") or {})

    def prepare_update(self, new, old, subresource):
        super().prepare_update(new, old, subresource)
        canonical_resource_lists(new.get("status") or {})


def canonical_resource_lists(status):
    """A real API server stores quantities in canonical form (1000 -> 1k)."""
    for key in ("capacity", "allocatable"):
        for name, value in list((status.get(key) or {}).items()):
            status[key][name] = canonical_quantity(value)


_DEC = {"": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def canonical_quantity(text):
    """resource.Quantity's canonical string for the usual forms (integer or
    decimal mantissa; SI, binary or milli suffix); other text as it came."""
    import fractions
    import re
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?", str(text))
    if not m:
        return text
    mant, suffix = fractions.Fraction(m.group(1)), m.group(2) or ""
    if suffix in _BIN:
        value = mant * 2 ** _BIN[suffix]
        if value.denominator == 1 and value >= 1024:
            exp = max(e for e in (0, 10, 20, 30, 40, 50, 60) if value % 2 ** e == 0)
            name = {v: k for k, v in _BIN.items()}.get(exp, "")
            return f"{value // 2 ** exp}{name}"
        suffix = ""   # small or fractional: decimal form, as the API server prints it
        mant = value
    value = mant / 1000 if suffix == "m" else mant * 10 ** _DEC[suffix]
    if value.denominator != 1:
        milli = value * 1000
        return f"{-(-milli.numerator // milli.denominator)}m"   # rounded up to milli
    value = int(value)
    if value == 0:
        return "0"
    exp = 0
    while exp < 18 and value % 10 ** (exp + 3) == 0:
        exp += 3
    return f"{value // 10 ** exp}{ {v: k for k, v in _DEC.items()}[exp]}"


class Namespaces(Resource):
    plural, kind, namespaced, short_names = "namespaces", "Namespace", False, ("ns",)
    subresources = ("status",)
    status_subresource = True
    fields = {"status.phase": "status.phase"}

    def prepare_create(self, obj, ctx):
        obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
        obj["status"] = {"phase": "Active"}
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


class ConfigMaps(Resource):
    plural, kind, short_names = "configmaps", "ConfigMap", ("cm",)

    def validate(self, obj, old=None):
        errs = []
        if old is not None and old.get("immutable") and (
                obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData")):
            errs.append(("data", "Forbidden: field is immutable when `immutable` is set"))
        return errs


class Secrets(Resource):
    plural, kind = "secrets", "Secret"
    fields = {"type": "type"}

    def _normalize(self, obj):
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if string_data:
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(v.encode()).decode()

    def prepare_create(self, obj, ctx):
        self._normalize(obj)

    def prepare_update(self, new, old, subresource):
        self._normalize(new)

    def validate(self, obj, old=None):
        errs = []
        for k, v in (obj.get("data") or {}).items():
            try:
                base64.b64decode(v, validate=True)
            except Exception:
                errs.append(("data[%s]" % k, "Invalid value: illegal base64 data"))
        if old is not None and old.get("type") != obj.get("type"):
            errs.append(("type", "Invalid value: field is immutable"))
        return errs


class ServiceAccounts(Resource):
    plural, kind, short_names = "serviceaccounts", "ServiceAccount", ("sa",)
    subresources = ("token",)


class CoreEvents(Resource):
    plural, kind, short_names = "events", "Event", ("ev",)
    fields = {"involvedObject.kind": "involvedObject.kind",
              "involvedObject.namespace": "involvedObject.namespace",
              "involvedObject.name": "involvedObject.name",
              "involvedObject.uid": "involvedObject.uid",
              "involvedObject.apiVersion": "involvedObject.apiVersion",
              "involvedObject.resourceVersion": "involvedObject.resourceVersion",
              "involvedObject.fieldPath": "involvedObject.fieldPath",
              "reason": "reason", "reportingComponent": "reportingComponent",
              "source": "source.component", "type": "type"}

    @property
    def storage_key(self):
        return "events"

    def validate(self, obj, old=None):
        errs = []
        if obj.get("type") not in (None, "", "Normal", "Warning"):
            errs.append(("type", 'Unsupported value: "%s"' % obj.get("type")))
        inv_ns = (obj.get("involvedObject") or {}).get("namespace")
        if inv_ns and inv_ns != obj["metadata"].get("namespace"):
            errs.append(("involvedObject.namespace", "Invalid value: does not match event.namespace"))
        return errs


# events.k8s.io/v1 field name -> core/v1 field name
_EVENT_FIELDS = [("regarding", "involvedObject"), ("note", "message"),
                 ("reportingController", "reportingComponent"),
                 ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
                 ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count")]


class EventsV1(CoreEvents):
    group, version = "events.k8s.io", "v1"
    fields = {}

    def to_storage(self, obj):
        obj = copy.deepcopy(obj)
        for new, old in _EVENT_FIELDS:
            if new in obj:
                obj[old] = obj.pop(new)
        return obj

    def from_storage(self, obj):
        obj = copy.deepcopy(obj)
        for new, old in _EVENT_FIELDS:
            if old in obj:
                obj[new] = obj.pop(old)
        obj["kind"], obj["apiVersion"] = self.kind, self.api_version
        return obj

    def validate(self, obj, old=None):
        # obj is in storage (core) form here
        errs = []
        for field, core in (("eventTime", "eventTime"), ("reportingController", "reportingComponent"),
                            ("reportingInstance", "reportingInstance"), ("action", "action"),
                            ("reason", "reason")):
            if old is None and not obj.get(core):
                errs.append((field, "Required value"))
        if obj.get("type") not in ("Normal", "Warning"):
            errs.append(("type", 'Unsupported value: "%s": supported values: "Normal", "Warning"'
                         % obj.get("type")))
        return errs


# --------------------------------------------------------------------------
# other groups
# --------------------------------------------------------------------------

class Leases(Resource):
    group, plural, kind = "coordination.k8s.io", "leases", "Lease"

    def validate(self, obj, old=None):
        d = (obj.get("spec") or {}).get("leaseDurationSeconds")
        if d is not None and (not isinstance(d, int) or d <= 0):
            return [("spec.leaseDurationSeconds", "Invalid value: %r: must be greater than 0" % d)]
        return []


class TokenReviews(Resource):
    group, plural, kind, namespaced = "authentication.k8s.io", "tokenreviews", "TokenReview", False
    verbs = ["create"]


class CSRs(Resource):
    group, plural, kind, namespaced = ("certificates.k8s.io", "certificatesigningrequests",
                                       "CertificateSigningRequest", False)
    short_names = ("csr",)
    subresources = ("approval", "status")
    status_subresource = True
    fields = {"spec.signerName": "spec.signerName"}
    smp = {"status.conditions": "type"}

    def prepare_create(self, obj, ctx):
        obj["status"] = {}
        spec = obj.setdefault("spec", {})
        user = ctx.get("user") or {}
        spec["username"] = user.get("username", "")
        spec["uid"] = user.get("uid", "")
        spec["groups"] = list(user.get("groups", []))
        if user.get("extra"):
            spec["extra"] = user["extra"]
        else:
            spec.pop("extra", None)

    def validate(self, obj, old=None):
        errs = []
        spec = obj.get("spec") or {}
        if not spec.get("signerName"):
            errs.append(("spec.signerName", "Required value"))
        if not spec.get("request"):
            errs.append(("spec.request", "Required value"))
        if not spec.get("usages"):
            errs.append(("spec.usages", "Required value"))
        exp = spec.get("expirationSeconds")
        if exp is not None and exp < 600:
            errs.append(("spec.expirationSeconds", "Invalid value: %d: may not specify a duration "
                         "less than 600 seconds (10 minutes)" % exp))
        conds = {c.get("type") for c in (obj.get("status") or {}).get("conditions") or []}
        if {"Approved", "Denied"} <= conds:
            errs.append(("status.conditions", "Invalid value: Approved and Denied conditions "
                         "are mutually exclusive"))
        if old is not None:
            oconds = {c.get("type") for c in (old.get("status") or {}).get("conditions") or []}
            for t in ("Approved", "Denied", "Failed"):
                if t in oconds and t not in conds:
                    errs.append(("status.conditions", "Forbidden: updates may not remove a "
                                 "condition of type %r" % t))
            oc = (old.get("status") or {}).get("certificate")
            if oc and (obj.get("status") or {}).get("certificate") != oc:
                errs.append(("status.certificate", "Forbidden: updates may not modify existing "
                             "certificate content"))
        return errs

    def prepare_update(self, new, old, subresource):
        if subresource == "approval":
            # only status.conditions may change
            conds = copy.deepcopy((new.get("status") or {}).get("conditions"))
            for k in list(new):
                if k not in ("metadata", "kind", "apiVersion"):
                    del new[k]
            for k in old:
                if k not in ("metadata", "kind", "apiVersion"):
                    new[k] = copy.deepcopy(old[k])
            st = new.setdefault("status", {})
            if conds is None:
                st.pop("conditions", None)
            else:
                st["conditions"] = conds
            self._condition_times(new, old)
            return
        super().prepare_update(new, old, subresource)
        if subresource == "status":
            # approval conditions can only be changed through /approval
            keep = [c for c in (old.get("status") or {}).get("conditions") or []
                    if c.get("type") in ("Approved", "Denied")]
            rest = [c for c in (new.get("status") or {}).get("conditions") or []
                    if c.get("type") not in ("Approved", "Denied")]
            if keep or rest:
                new.setdefault("status", {})["conditions"] = keep + rest
            self._condition_times(new, old)

    @staticmethod
    def _condition_times(new, old):
        """populateConditionTimestamps: a condition without lastUpdateTime gets
        now (the CSR cleaner ages Approved/Denied/Failed ones by it); without
        lastTransitionTime, the old one of the same type and status, else now."""
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        olds = (old.get("status") or {}).get("conditions") or []
        for c in (new.get("status") or {}).get("conditions") or []:
            if not c.get("lastUpdateTime"):
                c["lastUpdateTime"] = stamp
            if not c.get("lastTransitionTime"):
                same = [o.get("lastTransitionTime") for o in olds if o.get("type") == c.get("type")
                        and o.get("status") == c.get("status") and o.get("lastTransitionTime")]
                c["lastTransitionTime"] = same[0] if same else stamp


class StorageOnly(Resource):
    """Resources stored and served without any controller behind them."""

    def __init__(self, group, version, plural, kind, namespaced=True, status=False):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.status_subresource = namespaced, status
        self.subresources = ("status",) if status else ()


def all_resources():
    return [Pods(), Nodes(), Namespaces(), ConfigMaps(), Secrets(), ServiceAccounts(),
            CoreEvents(), EventsV1(), Leases(), TokenReviews(), CSRs(),
            StorageOnly("", "v1", "services", "Service", status=True),
            StorageOnly("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", status=True),
            StorageOnly("batch", "v1", "jobs", "Job", status=True),
            StorageOnly("rbac.authorization.k8s.io", "v1", "roles", "Role"),
            StorageOnly("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
            StorageOnly("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
            StorageOnly("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                        "ClusterRoleBinding", False)]


# --------------------------------------------------------------------------
# Selectors
# --------------------------------------------------------------------------

_LABEL_KEY = re.compile(r"^([a-z0-9A-Z.\-]+/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")


def _split_terms(s):
    terms, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


def parse_label_selector(s):
    """Return a predicate over a labels dict; raise ApiError(400) when malformed."""
    if not s:
        return lambda labels: True
    preds = []
    for term in _split_terms(s):
        m = re.match(r"^(\S+)\s+(in|notin)\s*\(([^)]*)\)$", term)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                preds.append(lambda l, k=key, v=vals: k in l and l[k] in v)
            else:
                preds.append(lambda l, k=key, v=vals: k not in l or l[k] not in v)
            continue
        m = re.match(r"^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$", term)
        if m:
            key, op, val = m.groups()
            if not _LABEL_KEY.match(key):
                raise bad_request("unable to parse requirement: invalid label key %r" % key)
            if op == "!=":
                preds.append(lambda l, k=key, v=val: l.get(k) != v)
            else:
                preds.append(lambda l, k=key, v=val: k in l and l[k] == v)
            continue
        m = re.match(r"^(!?)([^=!\s()]+)$", term)
        if m and _LABEL_KEY.match(m.group(2)):
            if m.group(1):
                preds.append(lambda l, k=m.group(2): k not in l)
            else:
                preds.append(lambda l, k=m.group(2): k in l)
            continue
        raise bad_request("unable to parse requirement: %r" % term)
    return lambda labels: all(p(labels or {}) for p in preds)


def parse_field_selector(s, res):
    """Return a predicate over a stored object; 400 for unsupported fields."""
    if not s:
        return lambda obj: True
    allowed = res.selectable()
    preds = []
    for term in [t.strip() for t in s.split(",") if t.strip()]:
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", term)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (s, term))
        field, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in allowed:
            raise bad_request('field label not supported: %s' % field)
        path = allowed[field]
        if op == "!=":
            preds.append(lambda o, p=path, v=val: field_str(get_path(o, p)) != v)
        else:
            preds.append(lambda o, p=path, v=val: field_str(get_path(o, p)) == v)
    return lambda obj: all(p(obj) for p in preds)
