#!/usr/bin/env python3
"""What the chart promises, checked on each rendered scenario (helm template output):

  chart_checks.py RENDERED.yaml CONFIG_OUT.yaml

- no service-account token, probes and metrics on the admin port, never behind the ingress;
- the ingress routes only /slack/, /teams/messages (+ its privacy and terms pages) and /api/v1/
  to the public port;
- the PVC exists only with SQLite, is kept on uninstall, and then one replica rolls by Recreate;
- an HPA only with DynamoDB; a PodDisruptionBudget; topology spread for several replicas;
- checksum annotations for the ConfigMap and the chart-created Secret;
- the NetworkPolicy lets in only the public and admin ports and out only DNS and 443 (plus
  the Pod Identity agent when asked);
- the configuration's listeners match the container ports.
Writes the liftgate.yaml the pods would mount to CONFIG_OUT for `liftgate check-config`.
"""

import sys

import yaml

ALLOWED_PATHS = {
    ("/slack/", "Prefix"),
    ("/teams/messages", "Exact"),
    ("/teams/privacy", "Exact"),
    ("/teams/terms", "Exact"),
    ("/api/v1/", "Prefix"),
}


def main(rendered, config_out):
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    problems = []

    def check(condition, message):
        if not condition:
            problems.append(message)

    (deployment,) = by_kind["Deployment"]
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    ports_admin = ports.get("admin")
    check(set(ports) == {"http", "admin"}, f"container ports are {ports}, expected http and admin")
    check(spec.get("automountServiceAccountToken") is False, "the pod mounts a service-account token")
    for account in by_kind.get("ServiceAccount", []):
        check(account.get("automountServiceAccountToken") is False, "the ServiceAccount automounts its token")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        check(get["port"] == "admin" and get["path"] == path, f"{probe} is {get}, expected {path} on admin")
    security = container["securityContext"]
    check(security.get("readOnlyRootFilesystem") is True, "the root filesystem is writable")
    check(security.get("allowPrivilegeEscalation") is False, "privilege escalation is allowed")
    check(spec["securityContext"].get("runAsNonRoot") is True, "the pod may run as root")

    (configmap,) = by_kind["ConfigMap"]
    config = yaml.safe_load(configmap["data"]["liftgate.yaml"])
    server = config.get("server", {})
    check(server.get("listen") == f"0.0.0.0:{ports.get('http')}", f"server.listen {server.get('listen')} is not the http port")
    check(server.get("admin_listen") == f"0.0.0.0:{ports.get('admin')}", f"server.admin_listen {server.get('admin_listen')} is not the admin port")
    annotations = pod["metadata"].get("annotations") or {}
    check("checksum/config" in annotations, "no checksum/config annotation: config changes would not roll the pods")
    chart_secrets = [s for s in by_kind.get("Secret", [])]
    check(bool(chart_secrets) == ("checksum/secret" in annotations), "checksum/secret must be there exactly when the chart creates the Secret")

    backend = (config.get("state") or {}).get("backend", "sqlite")
    volumes = {v["name"]: v for v in spec["volumes"]}
    persistent = "persistentVolumeClaim" in volumes["data"]
    replicas = deployment["spec"].get("replicas")
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    strategy = deployment["spec"]["strategy"]["type"]
    if backend == "sqlite":
        check(persistent, "SQLite without a persistent volume")
        check(replicas == 1 and not hpas, "SQLite with more than one replica")
        check(strategy == "Recreate", f"SQLite rolls by {strategy}, not Recreate")
    else:
        check(not persistent and not by_kind.get("PersistentVolumeClaim"), f"a PVC with the {backend} backend")
        check(strategy == "RollingUpdate", f"{backend} rolls by {strategy}")
    for claim in by_kind.get("PersistentVolumeClaim", []):
        keep = (claim["metadata"].get("annotations") or {}).get("helm.sh/resource-policy")
        check(keep == "keep", "the PVC is deleted by helm uninstall (no helm.sh/resource-policy: keep)")
    several = (replicas or 0) > 1 or bool(hpas)
    check(bool(spec.get("topologySpreadConstraints")) == several, "topology spread must be set exactly when there are several replicas")
    check(len(by_kind.get("PodDisruptionBudget", [])) == 1, "no PodDisruptionBudget")

    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    public = [s for n, s in services.items() if not n.endswith("-admin")]
    admin = [s for n, s in services.items() if n.endswith("-admin")]
    check(len(public) == 1 and [p["targetPort"] for p in public[0]["spec"]["ports"]] == ["http"], "the public Service must expose the http port only")
    check(len(admin) == 1 and [p["targetPort"] for p in admin[0]["spec"]["ports"]] == ["admin"], "the admin Service must expose the admin port only")

    for ingress in by_kind.get("Ingress", []):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                check((path["path"], path["pathType"]) in ALLOWED_PATHS, f"the ingress routes {path['path']} ({path['pathType']})")
                port = path["backend"]["service"]["port"]
                check(port == {"name": "http"}, f"the ingress routes to {port}, not the http port")
                check(path["backend"]["service"]["name"] == public[0]["metadata"]["name"], "the ingress routes to another Service")

    for monitor in by_kind.get("ServiceMonitor", []):
        endpoints = monitor["spec"]["endpoints"]
        check(all(e["port"] == "admin" and e["path"] == "/metrics" for e in endpoints), "the ServiceMonitor must scrape /metrics on the admin port")
        check(monitor["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
        wanted = monitor["spec"]["selector"]["matchLabels"]
        selected = [n for n, s in services.items() if all(s["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
        check(selected == [admin[0]["metadata"]["name"]], f"the ServiceMonitor selects {selected}, not the admin Service")

    policies = by_kind.get("NetworkPolicy", [])
    # The gateway's pods are selected by name and instance (the selector chart 0.1.0 had); the
    # test pod by its component.
    gateway_selector = deployment["spec"]["selector"]["matchLabels"]
    gateway_policies = [p for p in policies if p["spec"]["podSelector"]["matchLabels"] == gateway_selector]
    test_policies = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "test"]
    check(len(gateway_policies) + len(test_policies) == len(policies), "a NetworkPolicy selects neither the gateway nor the test pod")
    for policy in test_policies:
        check(policy["spec"]["ingress"] == [], "the test pod's NetworkPolicy lets traffic in")
        for rule in policy["spec"]["egress"]:
            allowed = {p["port"] for p in rule.get("ports", [])}
            check(allowed == {53} or (allowed == {ports_admin} and rule.get("to")), f"the test pod may reach {allowed}")
    for policy in gateway_policies:
        ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])}
        check(ingress_ports <= {"http", "admin"}, f"the NetworkPolicy lets in {ingress_ports}")
        check(all(rule.get("from") for rule in policy["spec"]["ingress"]), "a NetworkPolicy ingress rule admits everyone")
        for rule in policy["spec"]["egress"]:
            rule_ports = {p["port"] for p in rule.get("ports", [])}
            if rule.get("to") and all("ipBlock" in peer for peer in rule["to"]):
                continue  # an explicit destination (the Pod Identity agent, extraEgress)
            check(rule_ports and rule_ports <= {53, 443}, f"the NetworkPolicy lets out {rule_ports or 'everything'}")

    for test in by_kind.get("Pod", []):
        check(test["metadata"]["annotations"].get("helm.sh/hook") == "test", "a Pod that is not a helm test")
        labels = test["metadata"].get("labels", {})
        check(
            not all(labels.get(k) == v for k, v in gateway_selector.items()),
            "the test pod carries the gateway's selector labels (Services would route to it)",
        )
        command = " ".join(test["spec"]["containers"][0]["command"])
        check(f"-admin:{ports.get('admin')}/readyz" in command, f"the helm test does not call /readyz on the admin Service: {command}")
        check(test["spec"].get("automountServiceAccountToken") is False, "the test pod mounts a token")

    with open(config_out, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    if problems:
        print("\n".join(f"{rendered}: {p}" for p in problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
