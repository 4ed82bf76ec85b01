#!/usr/bin/env bash
# Checks the deployment files without a Docker engine or a cluster: every YAML and JSON file
# parses; the Dockerfile installs exactly ops/lib/common.sh's NB_BUILD_PACKAGES and the
# runtime packages that own the binary's shared libraries; compose and Kubernetes refer to
# real subcommands, ports, Secrets and ConfigMaps; the Kubernetes configuration passes
# 'notbrought run --check-config' with the policy from its ConfigMap, which equals
# config/policy/; the image, compose and Kubernetes set ops.http_bind to every interface (the
# default is loopback, which probes and Prometheus could not reach); every metric the alerts,
# the dashboard and docs/operability.md name exists.
#
# usage: deploy_files.sh SOURCE_DIR [NOTBROUGHT]      check (label unit)
#        deploy_files.sh SOURCE_DIR --update          rewrite ops/kubernetes/policy-configmap.yaml
set -euo pipefail

SRC=$(cd "$1" && pwd)
ARG2=${2:-}

# A Python with PyYAML: NB_PYTHON (the test peers' environment), python3, or Debian's.
PY=
for p in ${NB_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then
        PY=$p
        break
    fi
done
[ -n "$PY" ] || { echo "FAIL: no Python with PyYAML (Debian: python3-yaml)" >&2; exit 1; }

# NB_BUILD_PACKAGES as ops/lib/common.sh says (sourcing it only defines things).
BUILD_PACKAGES=$(bash -c "source '$SRC/ops/lib/common.sh' && echo \"\${NB_BUILD_PACKAGES[*]}\"")

exec "$PY" - "$SRC" "$ARG2" "$BUILD_PACKAGES" <<'EOF'
import glob, json, os, re, shutil, subprocess, sys, tempfile
import yaml

src, arg2, build_packages = sys.argv[1], sys.argv[2], sys.argv[3].split()
nb = os.path.abspath(arg2) if arg2 and arg2 != "--update" else None
errors = []

def err(msg):
    errors.append(msg)

def rel(p):
    return os.path.relpath(p, src)

POLICY_CM = os.path.join(src, "ops/kubernetes/policy-configmap.yaml")

def policy_configmap_text():
    class Literal(str):
        pass
    yaml.SafeDumper.add_representer(
        Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|"))
    data = {}
    for f in sorted(glob.glob(os.path.join(src, "config/policy/*.yaml"))):
        data[os.path.basename(f)] = Literal(open(f).read())
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "notbrought-policy"},
           "data": data}
    return ("# Generated from config/policy/*.yaml by tests/cli/deploy_files.sh SOURCE_DIR --update;\n"
            "# do not edit. Roll out a policy change as docs/runbook.md describes.\n"
            + yaml.safe_dump(doc, sort_keys=False, width=1000))

if arg2 == "--update":
    open(POLICY_CM, "w").write(policy_configmap_text())
    print(f"wrote {rel(POLICY_CM)}")
    sys.exit(0)

# ---- every file parses ------------------------------------------------------------------------
docs = {}
for pattern in ("docker/*.yaml", "ops/kubernetes/*.yaml", "ops/prometheus/*.yaml", "config/*.yaml"):
    for f in sorted(glob.glob(os.path.join(src, pattern))):
        try:
            docs[rel(f)] = [d for d in yaml.safe_load_all(open(f)) if d is not None]
        except yaml.YAMLError as e:
            err(f"{rel(f)}: not valid YAML: {e}")
for f in sorted(glob.glob(os.path.join(src, "ops/grafana/*.json"))):
    try:
        docs[rel(f)] = [json.load(open(f))]
    except ValueError as e:
        err(f"{rel(f)}: not valid JSON: {e}")
for need in ("docker/compose.yaml", "ops/prometheus/alerts.yaml", "ops/grafana/notbrought.json",
             "ops/kubernetes/deployment.yaml"):
    if need not in docs:
        err(f"{need}: missing")

# ---- the metric names the daemon exports (include/notbrought/ops.h) --------------------------
ops_h = open(os.path.join(src, "include/notbrought/ops.h")).read()
families = dict(re.findall(r'X\(NB_M_\w+,\s*"(\w+)",\s*NB_METRIC_(\w+)', ops_h))
if len(families) < 10:
    err("include/notbrought/ops.h: could not read NB_METRICS_MAP")
exported = set()
for name, kind in families.items():
    exported.add(name)
    if kind == "HISTOGRAM":
        exported |= {name + "_bucket", name + "_sum", name + "_count"}

# And those `notbrought ingest csv --metrics-file` writes for node_exporter's textfile
# collector (src/cli/csv_state.c): a batch job has no /metrics of its own.
csv_metrics = set(re.findall(r"# TYPE (notbrought_csv_\w+) gauge",
                             open(os.path.join(src, "src/cli/csv_state.c")).read()))
if len(csv_metrics) < 3:
    err("src/cli/csv_state.c: could not read the --metrics-file metric names")
exported |= csv_metrics

def check_metric_names(where, expr):
    for m in re.findall(r"\b((?:notbrought|process)_[a-z_]+)\b", expr):
        if m not in exported:
            err(f"{where}: unknown metric {m}")

# ---- Dockerfile --------------------------------------------------------------------------------
dockerfile = open(os.path.join(src, "docker/Dockerfile")).read()
joined = re.sub(r"\\\n", " ", dockerfile)
stages = re.split(r"^FROM ", joined, flags=re.M)[1:]
if len(stages) != 2:
    err(f"docker/Dockerfile: expected 2 stages, found {len(stages)}")
else:
    def apt_packages(stage):
        m = re.search(r"apt-get install -y --no-install-recommends\s+(.*?)(?:&&|$)", stage, re.S)
        return m.group(1).split() if m else []
    build, run = stages
    if not build.startswith("debian:${DEBIAN_RELEASE} AS build") or \
            not run.startswith("debian:${DEBIAN_RELEASE}-slim"):
        err("docker/Dockerfile: expected a debian build stage and a debian-slim run stage")
    if "ARG DEBIAN_RELEASE=bookworm" not in dockerfile:
        err("docker/Dockerfile: DEBIAN_RELEASE must default to bookworm")
    got = apt_packages(build)
    if sorted(got) != sorted(build_packages):
        err(f"docker/Dockerfile: build packages {sorted(got)} != NB_BUILD_PACKAGES "
            f"{sorted(build_packages)} (ops/lib/common.sh)")
    runtime = apt_packages(run)
    if any(p.endswith("-dev") for p in runtime):
        err(f"docker/Dockerfile: development packages in the run stage: {runtime}")
    if not re.search(r"^USER (\d+)", run, re.M) or re.search(r"^USER (0|root)\b", run, re.M):
        err("docker/Dockerfile: the run stage must switch to a numeric non-root USER")
    if "HEALTHCHECK" not in run or "/healthz" not in run:
        err("docker/Dockerfile: HEALTHCHECK on /healthz missing")
    # ops.http_bind defaults to 127.0.0.1: a published port needs every interface.
    if not re.search(r"^ENV .*\bNB_OPS_HTTP_BIND=(0\.0\.0\.0|::)(\s|$)", run, re.M):
        err("docker/Dockerfile: the run stage must set ENV NB_OPS_HTTP_BIND=0.0.0.0 (the "
            "default, loopback, is unreachable through a published port)")
    for d in re.findall(r"^COPY (?!--from)(\S+)", joined, re.M):
        if not os.path.exists(os.path.join(src, d)):
            err(f"docker/Dockerfile: COPY {d}: no such file in the project")
    # The run stage's packages own every shared library the binary needs (Debian hosts).
    if nb and shutil.which("dpkg") and shutil.which("readelf"):
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                            subprocess.run(["readelf", "-d", nb], capture_output=True,
                                           text=True).stdout)
        for lib in needed:
            # libc, and the sanitizer runtimes of a Sanitize build (not what the image builds).
            if re.match(r"lib(c|m|pthread|dl|rt|asan|ubsan|tsan|lsan)\.so", lib) or \
                    lib.startswith("ld-linux"):
                continue
            r = subprocess.run(["dpkg", "-S", f"*/{lib}"], capture_output=True, text=True)
            owners = {l.split(":")[0] for l in r.stdout.splitlines() if ":" in l}
            if not owners & set(runtime):
                err(f"docker/Dockerfile: {lib} (owned by {sorted(owners) or '?'}) is not "
                    f"installed by the run stage {runtime}")

# ---- subcommands named by compose and Kubernetes exist -----------------------------------------
def check_subcommand(where, argv):
    if not argv:
        return
    cmd = argv[0]
    if cmd.startswith("-"):
        return
    if nb:
        r = subprocess.run([nb, cmd, "--help"], capture_output=True, text=True)
        if r.returncode != 0:
            err(f"{where}: 'notbrought {cmd}' is not a subcommand (exit {r.returncode})")

compose = (docs.get("docker/compose.yaml") or [{}])[0]
services = compose.get("services", {})
for want in ("kafka", "topics", "notbrought", "sample-producer"):
    if want not in services:
        err(f"docker/compose.yaml: service {want} missing")
kafka = services.get("kafka", {})
if not str(kafka.get("image", "")).startswith("apache/kafka:"):
    err("docker/compose.yaml: kafka must use the apache/kafka image")
if "controller" not in str(kafka.get("environment", {}).get("KAFKA_PROCESS_ROLES", "")):
    err("docker/compose.yaml: kafka must run in KRaft mode (KAFKA_PROCESS_ROLES)")
for name, svc in services.items():
    if name == "kafka":
        continue
    cmd = svc.get("command")
    if svc.get("entrypoint") == ["bash", "-c"]:
        for sub in re.findall(r"notbrought (\w+)", " ".join(cmd)):
            check_subcommand(f"docker/compose.yaml: {name}", [sub])
    elif isinstance(cmd, list):
        check_subcommand(f"docker/compose.yaml: {name}", cmd)
nb_env = services.get("notbrought", {}).get("environment", {})
if str(nb_env.get("NB_OPS_HTTP_BIND", "")) not in ("0.0.0.0", "::"):
    err("docker/compose.yaml: the notbrought service must set NB_OPS_HTTP_BIND: \"0.0.0.0\" "
        "(the default, loopback, is unreachable through the published port)")
if services.get("topics", {}).get("command", [None])[0] != "topics":
    err("docker/compose.yaml: the topics service must run 'notbrought topics'")
prod = " ".join(services.get("sample-producer", {}).get("command", []))
if "generate" not in prod or "produce" not in prod:
    err("docker/compose.yaml: the sample producer must run generate and produce")

# ---- Kubernetes --------------------------------------------------------------------------------
k8s = {}
for f, ds in docs.items():
    if f.startswith("ops/kubernetes/") and not f.endswith("kustomization.yaml"):
        for d in ds:
            k8s[(d.get("kind"), d.get("metadata", {}).get("name"))] = (f, d)
kust = (docs.get("ops/kubernetes/kustomization.yaml") or [{}])[0]
listed = set(kust.get("resources", []))
present = {os.path.basename(f) for f in docs if f.startswith("ops/kubernetes/")} - {"kustomization.yaml"}
if listed != present:
    err(f"ops/kubernetes/kustomization.yaml: resources {sorted(listed)} != files {sorted(present)}")
kinds = {k for k, _ in k8s}
for want in ("Deployment", "ConfigMap", "Secret", "Service", "PodDisruptionBudget"):
    if want not in kinds:
        err(f"ops/kubernetes: no {want}")

dep = next((d for (k, _), (f, d) in k8s.items() if k == "Deployment"), {})
pod = dep.get("spec", {}).get("template", {})
pod_labels = pod.get("metadata", {}).get("labels", {})
def selects(sel):
    return sel and all(pod_labels.get(k) == v for k, v in sel.items())
if not selects(dep.get("spec", {}).get("selector", {}).get("matchLabels")):
    err("ops/kubernetes/deployment.yaml: selector does not match the pod labels")
for (k, n), (f, d) in k8s.items():
    if k == "Service" and not selects(d["spec"].get("selector")):
        err(f"{f}: Service {n} selects no notbrought pod")
    if k == "PodDisruptionBudget" and not selects(d["spec"].get("selector", {}).get("matchLabels")):
        err(f"{f}: PodDisruptionBudget {n} selects no notbrought pod")
containers = pod.get("spec", {}).get("containers", [])
c = containers[0] if containers else {}
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                    ("startupProbe", "/healthz")):
    g = c.get(probe, {}).get("httpGet", {})
    if g.get("path") != path or g.get("port") not in ports:
        err(f"ops/kubernetes/deployment.yaml: {probe} must GET {path} on a declared port")
sc = pod.get("spec", {}).get("securityContext", {})
if not sc.get("runAsNonRoot"):
    err("ops/kubernetes/deployment.yaml: runAsNonRoot must be set")
if not c.get("resources", {}).get("requests") or not c.get("resources", {}).get("limits"):
    err("ops/kubernetes/deployment.yaml: resources need requests and limits")
env_names = {e["name"] for e in c.get("env", [])}
if "NB_KAFKA_INSTANCE_ID" not in env_names:
    err("ops/kubernetes/deployment.yaml: NB_KAFKA_INSTANCE_ID must be unique per pod")
for ef in c.get("envFrom", []):
    name = ef.get("secretRef", {}).get("name")
    if name and ("Secret", name) not in k8s:
        err(f"ops/kubernetes/deployment.yaml: envFrom Secret {name} is not defined")
    elif name:
        keys = set(k8s[("Secret", name)][1].get("stringData", {}))
        for want in ("NB_HMAC_KEY", "NB_RDKAFKA_SASL_PASSWORD"):
            if want not in keys:
                err(f"ops/kubernetes: Secret {name} lacks {want}")
mounts = {}
for v in pod.get("spec", {}).get("volumes", []):
    cm = v.get("configMap", {}).get("name")
    if cm and ("ConfigMap", cm) not in k8s:
        err(f"ops/kubernetes/deployment.yaml: volume {v['name']}: ConfigMap {cm} is not defined")
    for m in c.get("volumeMounts", []):
        if m["name"] == v["name"] and cm:
            mounts[m["mountPath"]] = k8s.get(("ConfigMap", cm), (None, {}))[1].get("data", {})
check_subcommand("ops/kubernetes/deployment.yaml", c.get("args", []))

# The configuration the pods read, and the policy files it names, from the ConfigMaps.
args = c.get("args", [])
conf_path = args[args.index("--config") + 1] if "--config" in args else None
conf_dir, conf_file = os.path.split(conf_path or "/x/missing")
conf_text = mounts.get(conf_dir, {}).get(conf_file)
if conf_text is None:
    err(f"ops/kubernetes/deployment.yaml: --config {conf_path} is in no mounted ConfigMap")
else:
    conf = yaml.safe_load(conf_text)
    port = conf.get("ops", {}).get("http_port")
    if port not in ports.values():
        err(f"ops/kubernetes: ops.http_port {port} is not a container port {ports}")
    # The kubelet's probes and Prometheus come from outside the pod: not the loopback default.
    bind = {e["name"]: e.get("value") for e in c.get("env", [])}.get(
        "NB_OPS_HTTP_BIND", conf.get("ops", {}).get("http_bind"))
    if bind not in ("0.0.0.0", "::"):
        err(f"ops/kubernetes: ops.http_bind is {bind!r}; set 0.0.0.0 (or ::) so that the "
            "probes and Prometheus reach the port (the default is 127.0.0.1)")
    for p in conf.get("policy", {}).get("files", []):
        d, b = os.path.split(p)
        if b not in mounts.get(d, {}):
            err(f"ops/kubernetes: policy file {p} is in no mounted ConfigMap")
    if conf.get("identity", {}).get("allow_test_nhs_numbers") is not False:
        err("ops/kubernetes: production must set identity.allow_test_nhs_numbers: false")
    if nb:
        # Materialise the mounts in a temporary root and run the real configuration check.
        with tempfile.TemporaryDirectory() as root:
            for mdir, data in mounts.items():
                os.makedirs(root + mdir, exist_ok=True)
                for name, text in data.items():
                    open(os.path.join(root + mdir, name), "w").write(text)
            text = conf_text.replace("/etc/notbrought/", root + "/etc/notbrought/")
            open(root + conf_path, "w").write(text)
            env = {k: v for k, v in os.environ.items() if not k.startswith("NB_")}
            env["NB_HMAC_KEY"] = "deploy-files-test-key-0123456789"
            env["NB_RDKAFKA_SASL_PASSWORD"] = "not-a-real-password"
            r = subprocess.run([nb, "run", "--config", root + conf_path, "--check-config"],
                               capture_output=True, text=True, env=env, cwd=root)
            if r.returncode != 0:
                err("ops/kubernetes: 'notbrought run --check-config' rejects the configuration:\n"
                    + r.stdout + r.stderr)

# The policy ConfigMap is config/policy/ as it is in the project.
pcm = k8s.get(("ConfigMap", "notbrought-policy"), (None, {}))[1].get("data", {})
files = {os.path.basename(f): open(f).read()
         for f in glob.glob(os.path.join(src, "config/policy/*.yaml"))}
if pcm != files:
    err("ops/kubernetes/policy-configmap.yaml differs from config/policy/*.yaml: regenerate it "
        "with 'tests/cli/deploy_files.sh . --update' (and roll it out as docs/runbook.md says)")

# ---- alerts and dashboard name real metrics ---------------------------------------------------
alerts = (docs.get("ops/prometheus/alerts.yaml") or [{}])[0]
n_rules = 0
for g in alerts.get("groups", []):
    for r in g.get("rules", []):
        n_rules += 1
        where = f"ops/prometheus/alerts.yaml: {r.get('alert')}"
        if not r.get("alert") or not r.get("expr"):
            err(f"{where}: alert and expr are required")
        if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            err(f"{where}: labels.severity must be critical, warning or info")
        if not r.get("annotations", {}).get("summary"):
            err(f"{where}: annotations.summary is required")
        anchor = r.get("annotations", {}).get("runbook_url", "").partition("#")[2]
        runbook = open(os.path.join(src, "docs/runbook.md")).read().lower()
        heads = {re.sub(r"[^a-z0-9 -]", "", h.strip()).replace(" ", "-")
                 for h in re.findall(r"^#+ (.*)$", runbook, re.M)}
        if anchor and anchor not in heads:
            err(f"{where}: runbook_url anchor #{anchor} is no heading of docs/runbook.md")
        check_metric_names(where, r.get("expr", ""))
# Every feed says when it last delivered, and an alert watches each: a silent feed raises
# nothing downstream (a missed appointment there is never seen).
for fresh in ("notbrought_mllp_last_message_timestamp_seconds",
              "notbrought_fhir_last_request_timestamp_seconds",
              "notbrought_csv_last_import_timestamp_seconds"):
    if not any(re.search(r"time\(\)\s*-\s*" + fresh + r"\b", r.get("expr", ""))
               and r.get("annotations", {}).get("runbook_url")
               for g in alerts.get("groups", []) for r in g.get("rules", [])):
        err(f"ops/prometheus/alerts.yaml: no alert on time() - {fresh} with a runbook_url")
for want in ("lag", "dead", "overdue", "ready"):
    if not any(want in (r.get("expr", "") + r.get("alert", "")).lower()
               for g in alerts.get("groups", []) for r in g.get("rules", [])):
        err(f"ops/prometheus/alerts.yaml: no alert about {want}")

dash = (docs.get("ops/grafana/notbrought.json") or [{}])[0]
n_targets = 0
for p in dash.get("panels", []):
    for t in p.get("targets", []):
        n_targets += 1
        check_metric_names(f"ops/grafana/notbrought.json: panel '{p.get('title')}'", t.get("expr", ""))
if not dash.get("uid") or not dash.get("title") or n_targets == 0:
    err("ops/grafana/notbrought.json: needs a uid, a title and panels with queries")

# ---- docs/operability.md lists every metric ---------------------------------------------------
ops_md = open(os.path.join(src, "docs/operability.md")).read()
for name in list(families) + sorted(csv_metrics):
    if f"`{name}`" not in ops_md:
        err(f"docs/operability.md: metric {name} is not documented")
check_metric_names("docs/operability.md", ops_md)

# ---- docs/cli.md covers every subcommand and option --------------------------------------------
cli_md = open(os.path.join(src, "docs/cli.md")).read()
if nb:
    top = subprocess.run([nb, "--help"], capture_output=True, text=True).stdout
    subs = re.findall(r"^  ([a-z]+)\s{2,}", top.split("commands:", 1)[-1], re.M)
    if not subs:
        err("notbrought --help lists no commands")
    for sub in subs:
        if f"### `notbrought {sub}`" not in cli_md:
            err(f"docs/cli.md: no section for 'notbrought {sub}'")
        helptext = subprocess.run([nb, sub, "--help"], capture_output=True, text=True).stdout
        for opt in sorted(set(re.findall(r"(--[a-z][a-z-]+)", helptext))):
            if opt not in cli_md:
                err(f"docs/cli.md: 'notbrought {sub} {opt}' is not documented "
                    f"(regenerate the help block from 'notbrought {sub} --help')")

print(f"checked {len(docs)} YAML/JSON files, {n_rules} alerts, {n_targets} dashboard queries, "
      f"{len(families)} metric families" + ("" if nb else " (no binary: subcommands and "
      "--check-config not run)"))
if errors:
    print("FAIL:\n  " + "\n  ".join(errors))
    sys.exit(1)
print("ok")
EOF
