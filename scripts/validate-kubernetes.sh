#!/bin/sh
# Check the Kubernetes deployment (deploy/kubernetes) and the Dockerfile.
#
#   scripts/validate-kubernetes.sh              validate; non-zero exit on any failure
#   scripts/validate-kubernetes.sh --self-test  prove the checks catch broken input
#
# 1. Every manifest against the Kubernetes OpenAPI schemas, strictly (unknown fields, wrong types,
#    and unknown kinds or apiVersions all fail), with kubernetes-validate from PyPI, for the
#    newest Kubernetes version it knows. kustomization.yaml has no such schema: it is checked
#    structurally, and what its generators make (the ConfigMap with spin.toml, the Secret with
#    runtime-config.toml) is built and validated too; so is `kubectl kustomize` output when
#    kubectl is installed.
# 2. Cross-references with the app: spin.toml copy identical to the repository's, every SQL and
#    key-value label of spin.toml on a shared backend in runtime-config.toml, every secret
#    variable in the Secret, probes on the host's health path, flags that `riff up` has, the
#    drain budget (preStop + --shutdown-timeout < terminationGracePeriodSeconds), selectors.
# 3. The Dockerfile's shape: multi-stage, a non-root numeric USER in the final stage, no toolchain
#    copied into it; and `docker build` when a Docker daemon answers.
#
# Skips (never under CI=true, except the docker build and the kubectl render, which need tools
# these machines do not have) print "SKIPPED ..." and add a line to "$RIFF_SKIP_LOG" when set.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPLOY_DIR=deploy/kubernetes

skip() {
    echo "SKIPPED $1"
    if [ -n "${RIFF_SKIP_LOG:-}" ]; then
        echo "scripts/validate-kubernetes.sh: $1" >>"$RIFF_SKIP_LOG"
    fi
}

# The Python half: structural and cross-reference checks. Usage: python3 -c "$CHECKS" MODE ARGS.
CHECKS=$(
    cat <<'PY'
import os, re, sys

errors = []

def fail(msg):
    errors.append(msg)

def finish(what):
    for e in errors:
        print(f"ERROR {e}")
    if errors:
        print(f"FAILED {what}: {len(errors)} problem(s)")
        sys.exit(1)
    print(f"OK {what}")

def load_yaml_docs(path):
    import yaml
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

def load_toml(path):
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)

# ---------------------------------------------------------------------------------------------
# kustomization.yaml: structure, files, and the objects its generators make (written to OUT).
def check_kustomization(d, out):
    path = os.path.join(d, "kustomization.yaml")
    docs = load_yaml_docs(path)
    if len(docs) != 1:
        fail(f"{path}: expected one document")
        return
    k = docs[0]
    if k.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or k.get("kind") != "Kustomization":
        fail(f"{path}: apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
    known = {"apiVersion", "kind", "resources", "configMapGenerator", "secretGenerator",
             "generatorOptions", "images", "labels", "patches", "replicas"}
    for key in k:
        if key not in known:
            fail(f"{path}: unexpected key {key!r} (known here: {', '.join(sorted(known))})")
    if "namespace" in k:
        fail(f"{path}: must not set a namespace (the manifests are namespace-less)")
    listed = []
    for r in k.get("resources") or []:
        if "/" in r or not os.path.isfile(os.path.join(d, r)):
            fail(f"{path}: resource {r!r} is not a file in {d}")
        listed.append(r)
    for f in sorted(os.listdir(d)):
        if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml" and f not in listed:
            fail(f"{path}: {f} is in {d} but not listed under resources")
    gen_labels = ((k.get("generatorOptions") or {}).get("labels")) or {}
    objects = []
    for section, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for g in k.get(section) or []:
            data = {}
            for f in g.get("files") or []:
                key, _, src = f.partition("=") if "=" in f else (os.path.basename(f), "", f)
                # kustomize's load restrictor: nothing from outside the kustomization's directory.
                if os.path.isabs(src) or ".." in src.split("/"):
                    fail(f"{path}: {section} {g.get('name')}: {src!r} is outside {d} (kustomize refuses it)")
                    continue
                p = os.path.join(d, src)
                if not os.path.isfile(p):
                    fail(f"{path}: {section} {g.get('name')}: {src!r} does not exist")
                    continue
                with open(p) as fh:
                    data[key] = fh.read()
            obj = {"apiVersion": "v1", "kind": kind,
                   "metadata": {"name": g.get("name"), "labels": dict(gen_labels)}}
            if kind == "Secret":
                obj["type"] = "Opaque"
                obj["stringData"] = data
            else:
                obj["data"] = data
            objects.append(obj)
    import yaml
    with open(out, "w") as fh:
        yaml.safe_dump_all(objects, fh, sort_keys=False)

# ---------------------------------------------------------------------------------------------
# The manifests against the app: spin.toml, runtime-config.toml, the host's flags and health path.
def riff_up_flags(main_rs):
    """Long flags of `riff up` (struct UpArgs in host/src/main.rs)."""
    src = open(main_rs).read()
    m = re.search(r"struct UpArgs \{(.*?)\n\}", src, re.S)
    if not m:
        fail(f"{main_rs}: struct UpArgs not found")
        return set()
    flags = set()
    pending = None
    for line in m.group(1).splitlines():
        line = line.strip()
        a = re.match(r"#\[arg\((.*)\)\]", line)
        if a:
            named = re.search(r'\blong\s*=\s*"([^"]+)"', a.group(1))
            if named:
                flags.add(named.group(1))
            elif re.search(r"\blong\b", a.group(1)):
                pending = True
            continue
        f = re.match(r"(?:pub\s+)?(\w+)\s*:", line)
        if f and pending:
            flags.add(f.group(1).replace("_", "-"))
            pending = None
    return flags

def duration_seconds(text):
    m = re.fullmatch(r"(\d+)\s*(ms|s|m)?", text.strip())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n / 1000 if unit == "ms" else n * 60 if unit == "m" else n

def check_app(d, root):
    spin_path = os.path.join(root, "spin.toml")
    copy_path = os.path.join(d, "spin.toml")
    if open(spin_path).read() != open(copy_path).read():
        fail(f"{copy_path} differs from {spin_path}: cp spin.toml {copy_path}")
    spin = load_toml(spin_path)
    components = spin.get("component", {})
    sql_labels = sorted({l for c in components.values() for l in c.get("sqlite_databases", [])})
    kv_labels = sorted({l for c in components.values() for l in c.get("key_value_stores", [])})
    uses_queue = bool(spin.get("trigger", {}).get("queue")) or any(
        (c.get("tool", {}).get("riff", {}) or {}).get("publish_topics") for c in components.values())

    # runtime-config.toml: every label on its shared backend, only the keys those backends take.
    rc_path = os.path.join(d, "runtime-config.toml")
    rc = load_toml(rc_path)
    for key in rc:
        if key not in ("sqlite_database", "key_value_store", "queue", "deployments"):
            fail(f"{rc_path}: unknown section [{key}]")
    backends = {
        "sqlite_database": ("postgres", ("postgres://", "postgresql://"), {"type", "url", "schema", "pool_size"}),
        "key_value_store": ("redis", ("redis://", "rediss://"), {"type", "url", "prefix"}),
    }
    for section, labels in (("sqlite_database", sql_labels), ("key_value_store", kv_labels)):
        kind, schemes, keys = backends[section]
        configured = rc.get(section, {})
        for label in labels:
            entry = configured.get(label)
            if entry is None:
                fail(f"{rc_path}: [{section}.{label}] missing: spin.toml uses {label!r}, and an unlisted "
                     f"label is an embedded SQLite file in each replica, not shared")
                continue
            if entry.get("type") != kind:
                fail(f"{rc_path}: [{section}.{label}] type must be {kind!r}")
            if not str(entry.get("url", "")).startswith(schemes):
                fail(f"{rc_path}: [{section}.{label}] url must start with {' or '.join(schemes)}")
            for k in entry:
                if k not in keys:
                    fail(f"{rc_path}: [{section}.{label}] unknown key {k!r}")
        for label in configured:
            if label not in labels:
                fail(f"{rc_path}: [{section}.{label}] is not used by any component in spin.toml")
    q = rc.get("queue")
    if uses_queue and q is None:
        fail(f"{rc_path}: [queue] missing: spin.toml publishes or subscribes, and the embedded queue is per replica")
    if q is not None:
        if q.get("type") != "nats":
            fail(f"{rc_path}: [queue] type must be 'nats'")
        if not str(q.get("url", "")).startswith(("nats://", "tls://")):
            fail(f"{rc_path}: [queue] url must start with nats://")
        for k in q:
            if k not in ("type", "url", "stream", "replicas", "max_age"):
                fail(f"{rc_path}: [queue] unknown key {k!r}")

    dep = rc.get("deployments")
    if dep is None:
        fail(f"{rc_path}: [deployments] missing: without it a deploy changes one pod only")
    else:
        if dep.get("type") != "redis":
            fail(f"{rc_path}: [deployments] type must be 'redis'")
        if not str(dep.get("url", "")).startswith(("redis://", "rediss://")):
            fail(f"{rc_path}: [deployments] url must start with redis://")
        for k in dep:
            if k not in ("type", "url", "prefix"):
                fail(f"{rc_path}: [deployments] unknown key {k!r}")

    # Every manifest: labelled, namespace-less; collect them by kind.
    by_kind = {}
    for f in sorted(os.listdir(d)):
        if not f.endswith((".yaml", ".yml")) or f == "kustomization.yaml":
            continue
        for doc in load_yaml_docs(os.path.join(d, f)):
            meta = doc.get("metadata") or {}
            if (meta.get("labels") or {}).get("app.kubernetes.io/name") != "riff":
                fail(f"{f}: {doc.get('kind')} {meta.get('name')}: label app.kubernetes.io/name=riff missing")
            if "namespace" in meta:
                fail(f"{f}: {doc.get('kind')} {meta.get('name')}: must not name a namespace")
            by_kind.setdefault(doc.get("kind"), []).append((f, doc))

    # The Secret: one RIFF_VARIABLE_<NAME> per secret variable of spin.toml, and nothing else.
    variables = spin.get("variables", {})
    secrets = [doc for _, doc in by_kind.get("Secret", []) if doc["metadata"]["name"] == "riff-variables"]
    if not secrets:
        fail("Secret riff-variables not found")
    else:
        s = secrets[0]
        keys = set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())
        for name, decl in variables.items():
            env = f"RIFF_VARIABLE_{name.upper()}"
            if isinstance(decl, dict) and decl.get("secret") and env not in keys:
                fail(f"Secret riff-variables: {env} missing (spin.toml: {name} is secret)")
        if "RIFF_ADMIN_TOKEN" not in keys:
            fail("Secret riff-variables: RIFF_ADMIN_TOKEN missing (the admin API's token, equal on every pod)")
        for key in keys - {"RIFF_ADMIN_TOKEN"}:
            m = re.fullmatch(r"(?:RIFF|SPIN)_VARIABLE_([A-Z0-9_]+)", key)
            if not m or m.group(1).lower() not in variables:
                fail(f"Secret riff-variables: {key} is no variable of spin.toml (riff reads RIFF_VARIABLE_<NAME>)")

    # The Deployment against the host.
    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        fail(f"expected one Deployment, found {len(deployments)}")
        return
    dep_file, dep = deployments[0]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    selector = spec["selector"]["matchLabels"]
    template_labels = spec["template"]["metadata"]["labels"]
    for k, v in selector.items():
        if template_labels.get(k) != v:
            fail(f"{dep_file}: selector {k}={v} does not match the pod template's labels")
    containers = [c for c in pod["containers"] if c["name"] == "riff"]
    if not containers:
        fail(f"{dep_file}: no container named riff")
        return
    c = containers[0]
    http_rs = open(os.path.join(root, "host/src/app/http.rs")).read()
    hm = re.search(r'HEALTH_PATH: &str = "([^"]+)"', http_rs)
    health = hm.group(1) if hm else None
    if not health:
        fail("host/src/app/http.rs: HEALTH_PATH not found")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = c.get(probe)
        if not p:
            fail(f"{dep_file}: {probe} missing")
        elif (p.get("httpGet") or {}).get("path") != health:
            fail(f"{dep_file}: {probe} must GET {health} (the host's health path)")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    args = c.get("args") or []
    if not args or args[0] != "up":
        fail(f"{dep_file}: args must start with `up`")
    flags = riff_up_flags(os.path.join(root, "host/src/main.rs"))
    values = {}
    for a in args[1:]:
        m = re.fullmatch(r"--([a-z-]+)(?:=(.*))?", a)
        if not m:
            fail(f"{dep_file}: argument {a!r}: write flags as --name=value")
            continue
        if m.group(1) not in flags:
            fail(f"{dep_file}: `riff up` has no flag --{m.group(1)} (it has: {', '.join(sorted(flags))})")
        values[m.group(1)] = m.group(2)
    listen = values.get("listen") or ""
    if not listen.startswith("0.0.0.0:"):
        fail(f"{dep_file}: --listen must be 0.0.0.0:<port> (the default, 127.0.0.1, is unreachable)")
    elif int(listen.rsplit(":", 1)[1]) not in ports.values():
        fail(f"{dep_file}: --listen port {listen} is not a containerPort")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    rcf = values.get("runtime-config-file")
    if not rcf:
        fail(f"{dep_file}: --runtime-config-file missing: without it every label is a per-replica SQLite file")
    else:
        parent, base = os.path.split(rcf)
        m = mounts.get(parent)
        vol = volumes.get(m["name"]) if m else None
        if not vol or (vol.get("secret") or {}).get("secretName") != "riff-runtime-config" or base != "runtime-config.toml":
            fail(f"{dep_file}: --runtime-config-file {rcf} is not runtime-config.toml of the riff-runtime-config Secret")
    frm = values.get("from")
    if frm != "/app/spin.toml":
        fail(f"{dep_file}: --from must be /app/spin.toml, beside the image's .wasm files")
    elif frm in mounts and (mounts[frm].get("subPath") != "spin.toml"
                            or (volumes.get(mounts[frm]["name"], {}).get("configMap") or {}).get("name") != "riff-manifest"):
        fail(f"{dep_file}: {frm} must be mounted from the riff-manifest ConfigMap with subPath spin.toml")
    sc = c.get("securityContext") or {}
    if sc.get("readOnlyRootFilesystem"):
        state = values.get("state-dir")
        if not state:
            fail(f"{dep_file}: --state-dir missing: the default (.riff beside spin.toml) is on the read-only root")
        else:
            m = mounts.get(state)
            if not m or "emptyDir" not in volumes.get(m["name"], {}):
                fail(f"{dep_file}: --state-dir {state} is not an emptyDir mount (the root filesystem is read-only)")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(f"{dep_file}: allowPrivilegeEscalation must be false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        fail(f"{dep_file}: capabilities must drop ALL")
    if not (sc.get("runAsNonRoot") or (pod.get("securityContext") or {}).get("runAsNonRoot")):
        fail(f"{dep_file}: runAsNonRoot must be true")
    res = c.get("resources") or {}
    if not res.get("requests") or not res.get("limits"):
        fail(f"{dep_file}: resources need requests and limits")
    # Drain budget: preStop, then SIGTERM and up to --shutdown-timeout, all before SIGKILL.
    pre = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds")
    if pre is None:
        fail(f"{dep_file}: lifecycle.preStop.sleep missing (endpoints must drop the pod before riff stops accepting)")
        pre = 0
    drain = duration_seconds(values.get("shutdown-timeout") or "30s")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if drain is None:
        fail(f"{dep_file}: --shutdown-timeout: cannot read {values.get('shutdown-timeout')!r}")
    elif pre + drain >= grace:
        fail(f"{dep_file}: preStop ({pre}s) + --shutdown-timeout ({drain:g}s) must be below "
             f"terminationGracePeriodSeconds ({grace}s), or requests in flight are killed")
    env_from = [e.get("secretRef", {}).get("name") for e in c.get("envFrom", [])]
    if "riff-variables" not in env_from:
        fail(f"{dep_file}: envFrom must include the riff-variables Secret")
    if volumes.get("manifest", {}).get("configMap", {}).get("name") != "riff-manifest":
        fail(f"{dep_file}: volume manifest must be the riff-manifest ConfigMap")

    # What points at the Deployment.
    for f, svc in by_kind.get("Service", []):
        sel = svc["spec"].get("selector") or {}
        if any(template_labels.get(k) != v for k, v in sel.items()) or not sel:
            fail(f"{f}: Service selector {sel} does not select the riff pods")
        for p in svc["spec"].get("ports", []):
            t = p.get("targetPort")
            if t not in ports and t not in ports.values():
                fail(f"{f}: targetPort {t!r} is no port of the riff container")
    for f, pdb in by_kind.get("PodDisruptionBudget", []):
        sel = pdb["spec"]["selector"].get("matchLabels") or {}
        if any(template_labels.get(k) != v for k, v in sel.items()) or not sel:
            fail(f"{f}: PodDisruptionBudget selector does not select the riff pods")
        if pdb["spec"].get("minAvailable", 0) >= spec.get("replicas", 1):
            fail(f"{f}: minAvailable must be below the replica count, or no node can ever be drained")
    for f, hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Deployment" or ref.get("name") != dep["metadata"]["name"]:
            fail(f"{f}: scaleTargetRef must be Deployment {dep['metadata']['name']}")
        for f2, pdb in by_kind.get("PodDisruptionBudget", []):
            if hpa["spec"].get("minReplicas", 1) <= pdb["spec"].get("minAvailable", 0):
                fail(f"{f}: minReplicas must exceed the PodDisruptionBudget's minAvailable")
    for kind in ("Service", "Secret", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        if kind not in by_kind:
            fail(f"{d}: no {kind}")

# ---------------------------------------------------------------------------------------------
# The Dockerfile's shape.
def dockerfile_instructions(path):
    out, cur = [], ""
    for raw in open(path):
        line = raw.rstrip("\n")
        if line.strip().startswith("#"):
            continue  # comments and parser directives, also inside a continued instruction
        cur += line
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        if cur.strip():
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        cur = ""
    if cur.strip():
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out

def check_dockerfile(path, root):
    ins = dockerfile_instructions(path)
    args = {}
    stages = []
    for word, rest in ins:
        if word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip('"')
        elif word == "FROM":
            stages.append({"from": rest, "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, rest))
    if len(stages) < 2:
        fail(f"{path}: not multi-stage ({len(stages)} FROM)")
        return
    def expand(s):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)
    builder, final = stages[0], stages[-1]
    image = expand(builder["from"].split()[0])
    channel = re.search(r'channel\s*=\s*"([^"]+)"', open(os.path.join(root, "rust-toolchain.toml")).read())
    if not image.startswith("rust:") or (channel and not image.split(":", 1)[1].startswith(channel.group(1))):
        fail(f"{path}: the builder must be the official rust image of rust-toolchain.toml "
             f"({channel.group(1) if channel else '?'}), not {image}")
    build = " ".join(r for w, r in builder["ins"] if w == "RUN")
    for needed in ("wasm32-wasip2", "cargo build --release", "-p riff",
                   "--target wasm32-wasip2 --manifest-path components/Cargo.toml"):
        if needed not in build:
            fail(f"{path}: the builder does not run {needed!r}")
    final_image = expand(final["from"].split()[0])
    if re.match(r"(docker\.io/(library/)?)?rust[:@]", final_image):
        fail(f"{path}: the final stage is built from the Rust image ({final_image})")
    users = [r for w, r in final["ins"] if w == "USER"]
    if not users:
        fail(f"{path}: the final stage has no USER (it would run as root)")
    else:
        uid = users[-1].split(":")[0]
        if not uid.isdigit():
            fail(f"{path}: USER {users[-1]} must be numeric, so that runAsNonRoot can check it")
        elif int(uid) == 0:
            fail(f"{path}: the final stage runs as root (USER {users[-1]})")
    for w, r in final["ins"]:
        if w in ("COPY", "ADD"):
            if re.search(r"cargo|rustc|rustup|\.rustup|/usr/local/cargo", r):
                fail(f"{path}: the final stage copies a toolchain: {w} {r}")
            if w == "COPY" and re.search(r"(^|\s)\.(\s|$)", r) and "--from" not in r:
                fail(f"{path}: the final stage copies the whole build context: {w} {r}")
        if w == "RUN" and re.search(r"\b(apt-get|apk|cargo|rustup|gcc|make)\b", r):
            fail(f"{path}: the final stage installs or builds: RUN {r}")
    if not any(w == "EXPOSE" for w, _ in final["ins"]):
        fail(f"{path}: the final stage does not EXPOSE the port")
    command = " ".join(r for w, r in final["ins"] if w in ("ENTRYPOINT", "CMD"))
    if "riff" not in command or '"up"' not in command or "0.0.0.0" not in command:
        fail(f"{path}: ENTRYPOINT/CMD must run `riff up` listening on 0.0.0.0")
    copied = " ".join(r for w, r in final["ins"] if w == "COPY")
    if "/app" not in copied:
        fail(f"{path}: the final stage does not copy the app (spin.toml and the .wasm files) to /app")
    if "spin.toml" not in build:
        fail(f"{path}: the builder does not take spin.toml (and its sources) into the image")

mode = sys.argv[1]
if mode == "kustomization":
    check_kustomization(sys.argv[2], sys.argv[3])
    finish(f"{sys.argv[2]}/kustomization.yaml")
elif mode == "app":
    check_app(sys.argv[2], sys.argv[3])
    finish(f"{sys.argv[2]} against the app and the host")
elif mode == "dockerfile":
    check_dockerfile(sys.argv[2], sys.argv[3])
    finish(f"{sys.argv[2]} shape")
else:
    sys.exit(f"unknown mode {mode}")
PY
)

# kubernetes-validate, installed from PyPI when missing. Returns 1 (after noting the skip) when it
# cannot be had outside CI; exits under CI=true.
ensure_validator() {
    if python3 -c 'import kubernetes_validate, yaml' 2>/dev/null; then
        return 0
    fi
    if python3 -m pip install --quiet kubernetes-validate >&2 &&
        python3 -c 'import kubernetes_validate, yaml' 2>/dev/null; then
        return 0
    fi
    if [ "${CI:-}" = true ]; then
        echo "error: kubernetes-validate could not be installed from PyPI (CI=true: not skipping)" >&2
        exit 1
    fi
    skip "Kubernetes manifest validation: kubernetes-validate could not be installed (pip install kubernetes-validate)"
    return 1
}

# Validate the files strictly against $K8S_VERSION, in one run. kubernetes-validate only warns
# (exit 0) about a kind or apiVersion it has no schema for, which is how a typo there shows: that
# fails too, and so does a file in which it found no resource at all.
validate_files() {
    vf_status=0
    if ! vf_out=$(python3 -m kubernetes_validate --strict --kubernetes-version "$K8S_VERSION" "$@" 2>&1); then
        vf_status=1
    fi
    printf '%s\n' "$vf_out"
    case $vf_out in
        *"Couldn't find schema"*) vf_status=1 ;;
    esac
    for vf_file in "$@"; do
        if ! printf '%s\n' "$vf_out" | grep -qF -- "$vf_file"; then
            echo "ERROR $vf_file: no resource in it"
            vf_status=1
        fi
    done
    return $vf_status
}

# Everything about one manifest directory; non-zero when anything fails.
check_manifests() {
    cm_dir=$1
    cm_work=$(mktemp -d)
    cm_status=0
    set --
    for file in "$cm_dir"/*.yaml "$cm_dir"/*.yml; do
        [ -f "$file" ] || continue
        [ "$(basename "$file")" = kustomization.yaml ] && continue
        set -- "$@" "$file"
    done
    if [ $# -eq 0 ]; then
        echo "ERROR $cm_dir: no manifests"
        cm_status=1
    fi
    validate_files "$@" || cm_status=1
    if python3 -c "$CHECKS" kustomization "$cm_dir" "$cm_work/generated.yaml"; then
        validate_files "$cm_work/generated.yaml" || cm_status=1
    else
        cm_status=1
    fi
    python3 -c "$CHECKS" app "$cm_dir" "$ROOT" || cm_status=1
    rm -rf "$cm_work"
    return $cm_status
}

check_dockerfile() {
    python3 -c "$CHECKS" dockerfile "$1" "$ROOT"
}

# The real thing: kustomize's own rendering, when kubectl is installed (it is not on every machine;
# the generator objects are already built and validated above without it).
render_with_kubectl() {
    if ! command -v kubectl >/dev/null 2>&1; then
        skip "kubectl kustomize $DEPLOY_DIR: kubectl is not installed (generated objects were checked without it)"
        return 0
    fi
    rk_work=$(mktemp -d)
    if ! kubectl kustomize "$DEPLOY_DIR" >"$rk_work/rendered.yaml" 2>"$rk_work/err"; then
        cat "$rk_work/err"
        echo "ERROR kubectl kustomize $DEPLOY_DIR failed"
        rm -rf "$rk_work"
        return 1
    fi
    rk_status=0
    validate_files "$rk_work/rendered.yaml" || rk_status=1
    rm -rf "$rk_work"
    return $rk_status
}

docker_build() {
    if ! docker info >/dev/null 2>&1; then
        # Not a failure even under CI=true: no Docker engine runs on these machines.
        skip "docker build: no Docker daemon"
        return 0
    fi
    docker build --tag riff:validate .
}

# Each broken input must be refused; a good copy must pass (so the checks are not always failing).
self_test() {
    st_work=$(mktemp -d)
    trap 'rm -rf "$st_work"' EXIT
    failures=0
    # expect pass DESCRIPTION COMMAND...  /  expect fail DESCRIPTION MESSAGE COMMAND...
    # A failure counts only when the output names the problem (MESSAGE, a fixed string), so a
    # case cannot pass by failing for some other reason.
    expect() {
        want=$1
        what=$2
        shift 2
        message=
        if [ "$want" = fail ]; then
            message=$1
            shift
        fi
        if "$@" >"$st_work/log" 2>&1; then got=pass; else got=fail; fi
        if [ "$got" = "$want" ] && { [ -z "$message" ] || grep -qF -- "$message" "$st_work/log"; }; then
            echo "ok: $what ($got)"
        else
            echo "NOT OK: $what: expected $want${message:+ with \"$message\"}, got $got"
            sed 's/^/    /' "$st_work/log"
            failures=$((failures + 1))
        fi
    }
    fresh() {
        rm -rf "$st_work/k"
        cp -R "$DEPLOY_DIR" "$st_work/k"
    }
    if ensure_validator; then
        K8S_VERSION=$(python3 -c 'import kubernetes_validate.utils as u; print(u.latest_version())')
        fresh
        expect pass "the manifests as they are" check_manifests "$st_work/k"
        fresh
        sed 's/^  replicas: 3$/  replicas: "three"/' "$DEPLOY_DIR/deployment.yaml" >"$st_work/k/deployment.yaml"
        expect fail "a wrong type (replicas: \"three\")" "'three' is not of type" check_manifests "$st_work/k"
        fresh
        printf '  publishNotReadyAdresses: true\n' >>"$st_work/k/service.yaml"
        expect fail "an unknown field (strict)" "'publishNotReadyAdresses' was unexpected" check_manifests "$st_work/k"
        fresh
        sed 's|^apiVersion: autoscaling/v2$|apiVersion: autoscaling/v3|' "$DEPLOY_DIR/hpa.yaml" >"$st_work/k/hpa.yaml"
        expect fail "an apiVersion with no schema (autoscaling/v3)" "Couldn't find schema" check_manifests "$st_work/k"
        fresh
        printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  labels:\n    app.kubernetes.io/name: riff\n' >"$st_work/k/stray.yaml"
        expect fail "a manifest not listed in kustomization.yaml" "stray.yaml is in" check_manifests "$st_work/k"
        fresh
        printf '# nothing here\n' >"$st_work/k/empty.yaml"
        awk '{ print } /^  - pdb.yaml$/ { print "  - empty.yaml" }' "$DEPLOY_DIR/kustomization.yaml" >"$st_work/k/kustomization.yaml"
        expect fail "a listed manifest with no resource in it" "empty.yaml: no resource in it" check_manifests "$st_work/k"
        fresh
        sed '/^\[key_value_store.auth\]$/,/^prefix/d' "$DEPLOY_DIR/runtime-config.toml" >"$st_work/k/runtime-config.toml"
        expect fail "a key-value label of spin.toml missing from runtime-config.toml" "[key_value_store.auth] missing" check_manifests "$st_work/k"
        fresh
        sed '/RIFF_VARIABLE_STRIPE_WEBHOOK_SECRET/d' "$DEPLOY_DIR/secret.yaml" >"$st_work/k/secret.yaml"
        expect fail "a secret variable missing from the Secret" "RIFF_VARIABLE_STRIPE_WEBHOOK_SECRET missing" check_manifests "$st_work/k"
        fresh
        sed 's|path: /.well-known/spin/health|path: /healthz|' "$DEPLOY_DIR/deployment.yaml" >"$st_work/k/deployment.yaml"
        expect fail "probes on a path the host does not answer" "must GET /.well-known/spin/health" check_manifests "$st_work/k"
        fresh
        sed 's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 30/' "$DEPLOY_DIR/deployment.yaml" >"$st_work/k/deployment.yaml"
        expect fail "a grace period shorter than preStop + drain" "must be below terminationGracePeriodSeconds" check_manifests "$st_work/k"
        fresh
        sed 's/--shutdown-timeout=/--shutdown-timeoutz=/' "$DEPLOY_DIR/deployment.yaml" >"$st_work/k/deployment.yaml"
        expect fail "a flag riff up does not have" "has no flag --shutdown-timeoutz" check_manifests "$st_work/k"
        fresh
        printf '# drift\n' >>"$st_work/k/spin.toml"
        expect fail "a spin.toml copy that differs from the repository's" "spin.toml differs from" check_manifests "$st_work/k"
    fi
    expect pass "the Dockerfile as it is" check_dockerfile Dockerfile
    printf 'FROM rust:1.95.0-bookworm\nRUN cargo build --release -p riff\nCMD ["riff", "up"]\n' >"$st_work/Dockerfile.single"
    expect fail "a single-stage Dockerfile" "not multi-stage" check_dockerfile "$st_work/Dockerfile.single"
    sed '/^USER /d' Dockerfile >"$st_work/Dockerfile.root"
    expect fail "a final stage without USER (root)" "has no USER" check_dockerfile "$st_work/Dockerfile.root"
    sed 's/^USER 65532:65532$/USER 0/' Dockerfile >"$st_work/Dockerfile.uid0"
    expect fail "a final stage with USER 0" "runs as root" check_dockerfile "$st_work/Dockerfile.uid0"
    awk '/^WORKDIR \/app$/ { print "COPY --from=builder /usr/local/cargo/bin/cargo /usr/local/bin/cargo" } { print }' \
        Dockerfile >"$st_work/Dockerfile.cargo"
    expect fail "a final stage that copies cargo" "copies a toolchain" check_dockerfile "$st_work/Dockerfile.cargo"
    if [ "$failures" -ne 0 ]; then
        echo "self-test FAILED: $failures check(s) did not behave"
        exit 1
    fi
    echo "self-test passed"
}

case "${1:-}" in
    --self-test)
        self_test
        exit 0
        ;;
    "") ;;
    *)
        echo "usage: $0 [--self-test]" >&2
        exit 2
        ;;
esac

status=0
if ensure_validator; then
    K8S_VERSION=$(python3 -c 'import kubernetes_validate.utils as u; print(u.latest_version())')
    echo "kubernetes-validate $(python3 -m kubernetes_validate --version 2>&1), Kubernetes $K8S_VERSION, --strict"
    check_manifests "$DEPLOY_DIR" || status=1
    render_with_kubectl || status=1
fi
check_dockerfile Dockerfile || status=1
if [ $status -eq 0 ]; then
    docker_build || status=1
fi
if [ $status -ne 0 ]; then
    echo "validate-kubernetes: FAILED"
    exit 1
fi
echo "validate-kubernetes: OK"
