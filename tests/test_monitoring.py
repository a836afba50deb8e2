"""monitoring=prometheus-operator: ServiceMonitor, alert rules, dashboards, runbooks, routing.

What runs here for real: `kubectl kustomize` renders each overlay; the Prometheus Operator's own
types (npm @kubernetes-models/prometheus-operator, through tests/argocd/validate.mjs) validate the
ServiceMonitor and PrometheusRule; promtool (Debian package `prometheus`) checks the rules
rendered from each overlay and runs unit tests of every alert (fires, stays quiet, `for:`
boundary; the burn-rate cases of the SRE Workbook); amtool (Debian `prometheus-alertmanager`)
checks the example routing; promql-parser parses every dashboard query. No Kubernetes API server
or Prometheus Operator runs here: the apply itself is not tested.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import promql_parser
import pytest
import yaml

from combinations import SUPPORTED
from helpers import bake, run
from test_k8s import OVERLAYS, argocd_validate, documents_of, kustomize, render

MONITORED = ["defaults", "long-names-ssh-custom-cron-argocd"]  # the second has a 34-character slug
PREFIX = "ModelServer"
SEVERITIES = {"critical", "warning"}
EVERY_ALERT = {
    "ModelServerAvailabilityBudgetBurn",
    "ModelServerLatencyBudgetBurn",
    "ModelServerDown",
    "ModelServerPredictedClassShift",
    "ModelServerPredictionMeanShift",
    "ModelServerPredictionLogFailing",
}


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: apt-get install {package} (scripts/system-deps.sh installs it)")
    return found


@pytest.fixture(scope="module", params=MONITORED)
def monitored(request, tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp(f"monitoring-{request.param}"), **SUPPORTED[request.param])


@pytest.fixture(scope="module")
def default_project(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("monitoring-default"))


def rendered_docs(project: Path, overlay: str) -> dict[str, dict]:
    return documents_of(render(project, overlay))


def rule_groups(project: Path, overlay: str) -> list[dict]:
    return rendered_docs(project, overlay)["PrometheusRule"]["spec"]["groups"]


def alerts_of(groups: list[dict]) -> list[dict]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def generate(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "monitoring/generate.py", *args], cwd=project, check=check)


# --- the objects, as each overlay renders them ---------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servicemonitor_selects_the_service_by_its_labels_and_port_name(monitored, overlay):
    docs = rendered_docs(monitored, overlay)
    service, monitor = docs["Service"], docs["ServiceMonitor"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {port["name"] for port in service["spec"]["ports"]}
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["http"]
    assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= ports
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # Same namespace, so the ServiceMonitor's default namespaceSelector finds the Service.
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert "namespaceSelector" not in monitor["spec"]
    # The label kube-prometheus-stack's Prometheus selects on, set once per overlay.
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert docs[kind]["metadata"]["labels"]["release"] == "kube-prometheus-stack", kind
    assert "release" not in docs["Deployment"]["metadata"]["labels"]


def test_each_overlay_has_its_own_rules_and_dashboard(monitored):
    """Staging and production in one cluster, one Prometheus and one Grafana: nothing overlaps."""
    uids, namespaces, services = set(), set(), set()
    for overlay in OVERLAYS:
        docs = rendered_docs(monitored, overlay)
        namespace = docs["Namespace"]["metadata"]["name"]
        for rule in [rule for group in docs["PrometheusRule"]["spec"]["groups"] for rule in group["rules"]]:
            found = set(re.findall(r'namespace="([^"]*)"', rule["expr"]))
            assert found <= {namespace}, rule
            services.update(re.findall(r'sloth_service="([^"]*)"', rule["expr"]))
        configmap = docs["ConfigMap"]
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        (board,) = [json.loads(text) for text in configmap["data"].values()]
        assert 0 < len(board["uid"]) <= 40  # Grafana's limit
        uids.add(board["uid"])
        namespaces.add(namespace)
        queries = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
        assert all(set(re.findall(r'namespace="([^"]*)"', q)) <= {namespace} for q in queries)
    assert len(uids) == len(namespaces) == len(OVERLAYS)
    assert len(services) == len(OVERLAYS)


def test_monitoring_objects_validate_against_the_operator_types(monitored):
    docs = [
        rendered_docs(monitored, overlay)[kind]
        for overlay in OVERLAYS
        for kind in ("ServiceMonitor", "PrometheusRule")
    ]
    code, reports = argocd_validate(docs)
    assert code == 0, reports
    assert [report["kind"] for report in reports] == ["ServiceMonitor", "PrometheusRule"] * 2

    monitor, rules = docs[0], docs[1]
    port_number = json.loads(json.dumps(monitor))
    port_number["spec"]["endpoints"][0]["port"] = 8000  # must be the port's name
    typo = json.loads(json.dumps(monitor))
    typo["spec"]["endpoint"] = typo["spec"].pop("endpoints")
    no_expr = json.loads(json.dumps(rules))
    del no_expr["spec"]["groups"][0]["rules"][0]["expr"]
    code, reports = argocd_validate([port_number, typo, no_expr])
    assert code == 1
    assert "port must be string" in " ".join(reports[0]["errors"])
    assert "'\"endpoint\"' does not exist in type 'IServiceMonitorSpec'" in " ".join(reports[1]["errors"])
    assert "rules/0 must have required property expr" in " ".join(reports[2]["errors"]), reports[2]


# --- generated from code, and checked in --------------------------------------------------------


def test_checked_in_rules_and_dashboards_are_the_generator_output(monitored, tmp_path):
    assert generate(monitored, "--check").returncode == 0
    copy = tmp_path / "project"
    shutil.copytree(monitored, copy)
    settings = copy / "monitoring/settings.yaml"
    settings.write_text(
        settings.read_text().replace("availability_objective: 0.995", "availability_objective: 0.999")
    )
    stale = generate(copy, "--check", check=False)
    assert stale.returncode == 1
    assert (
        "k8s/overlays/production/monitoring/prometheusrule.yaml is out of date: run `make monitoring`"
        in stale.stderr
    )
    assert "dashboard.json" not in stale.stderr  # the objective is not on the dashboard
    made = run(["make", "monitoring"], cwd=copy)
    assert "SUCCESS" in made.stdout + made.stderr  # promtool checked both environments' rules
    assert generate(copy, "--check").returncode == 0
    assert "(1 * 0.001)" in (copy / "k8s/overlays/production/monitoring/prometheusrule.yaml").read_text()


def test_generator_refuses_a_latency_threshold_without_a_bucket(default_project, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(default_project, copy)
    settings = copy / "monitoring/settings.yaml"
    settings.write_text(
        settings.read_text().replace("latency_threshold_seconds: 0.05", "latency_threshold_seconds: 0.03", 1)
    )
    result = generate(copy, check=False)
    assert result.returncode == 1
    assert (
        "staging.latency_threshold_seconds is 0.03, not a bucket of the server's latency histogram"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


# --- the alerts: style, runbooks, promtool --------------------------------------------------------


def lint_alerts(groups: list[dict], project: Path) -> list[str]:
    """What an alert lacks, kube-prometheus style: CamelCase name with the prefix, severity,
    summary, description, a runbook_url whose page exists in the project, a `for:`."""
    problems = []
    for rule in alerts_of(groups):
        name = rule["alert"]
        if not re.fullmatch(rf"{PREFIX}([A-Z][a-z0-9]+)+", name):
            problems.append(f"{name}: not CamelCase with prefix {PREFIX}")
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity is not one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: no {key}")
        page = annotations.get("runbook_url", "").rpartition("/blob/main/")[2]
        if page != f"docs/runbooks/{name}.md" or not (project / page).is_file():
            problems.append(f"{name}: no runbook page docs/runbooks/{name}.md")
        if "for" not in rule:
            problems.append(f"{name}: no for:")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_alert_has_severity_annotations_and_a_runbook(monitored, overlay):
    groups = rule_groups(monitored, overlay)
    assert {rule["alert"] for rule in alerts_of(groups)} == EVERY_ALERT
    assert lint_alerts(groups, monitored) == []
    pages = {path.stem for path in (monitored / "docs/runbooks").glob("*.md")}
    assert pages == EVERY_ALERT | {"rollback"}
    for name in EVERY_ALERT:
        text = (monitored / f"docs/runbooks/{name}.md").read_text()
        assert text.startswith(f"# {name}\n") and "## Roll back" in text and "rollback.md" in text
        assert "{{" not in text and "{%" not in text
    # The lint can disagree: a rule missing each part is reported.
    broken = json.loads(json.dumps(groups))
    alert = alerts_of(broken)[0]
    del alert["labels"]["severity"], alert["annotations"]["summary"]
    alert["annotations"]["runbook_url"] = alert["annotations"]["runbook_url"].replace(
        alert["alert"], "Nowhere"
    )
    alert["alert"] = "model_server_broken"
    del alert["for"]
    assert lint_alerts(broken, monitored) == [
        f"model_server_broken: not CamelCase with prefix {PREFIX}",
        "model_server_broken: severity is not one of ['critical', 'warning']",
        "model_server_broken: no summary",
        "model_server_broken: no runbook page docs/runbooks/model_server_broken.md",
        "model_server_broken: no for:",
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rules_rendered_from_each_overlay_pass_promtool_check(monitored, overlay, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(monitored, overlay)}))
    result = subprocess.run(
        [tool("promtool", "prometheus"), "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: \d+ rules found", result.stdout)


# promtool unit tests of every alert (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/).
# The rules are production's of the default bake (availability 99.5%, latency 99% within 50 ms),
# annotations left out: promtool compares them too, and their text is not what is tested here.
NS = "mlops-project"
JOB = f'job="model-server", namespace="{NS}"'
PREDICT = f'{JOB}, handler="/predict", method="POST"'
SLOTH = "mlops-project-production-{}"


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def firing(name: str, at: str, *labels: dict[str, str]) -> dict:
    return {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": label} for label in labels]}


def burn(slo: str, severity: str) -> dict[str, str]:
    return {
        "severity": severity,
        "sloth_id": SLOTH.format(slo),
        "sloth_service": "mlops-project-production",
        "sloth_slo": slo,
    }


def regression_series(reference_mean: float, sign: int = 1) -> list[dict[str, str]]:
    """60 predictions a minute, mean 10 (or -10 with ``sign`` -1: the server counts values below
    0 in model_prediction_negative_value, sign inverted); the test split's mean given, its
    stddev 2."""
    positive, negative = ("0+600x30", "0x30") if sign > 0 else ("0x30", "0+600x30")
    positive_count, negative_count = ("0+60x30", "0x30") if sign > 0 else ("0x30", "0+60x30")
    return [
        series("model_predictions_total", JOB, "0+60x30"),
        series("model_prediction_value_count", JOB, positive_count),
        series("model_prediction_value_sum", JOB, positive),
        series("model_prediction_negative_value_count", JOB, negative_count),
        series("model_prediction_negative_value_sum", JOB, negative),
        series("model_reference_prediction_mean", JOB, f"{reference_mean}x30"),
        series("model_reference_prediction_stddev", JOB, "2x30"),
    ]


def alerts_first(groups: list[dict]) -> list[str]:
    """The groups' names, the one holding alerts first and the recording groups after it.

    promtool evaluates groups in no set order unless `group_eval_order` names them (Prometheus
    docs, "Unit testing for rules"), and Prometheus runs each group on its own timer, so an alert
    can see a recording made one interval earlier. Evaluating the alerts first pins that worst
    case: the tests below expect the page one interval after the recording exists.
    """
    holding_alerts = [group["name"] for group in groups if any("alert" in rule for rule in group["rules"])]
    recording_only = [group["name"] for group in groups if group["name"] not in holding_alerts]
    return holding_alerts + recording_only


def promtool_test(
    folder: Path, groups: list[dict], unit_tests: list[dict]
) -> subprocess.CompletedProcess[str]:
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": alerts_first(groups),
        "tests": unit_tests,
    }
    (folder / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return subprocess.run(
        [tool("promtool", "prometheus"), "test", "rules", "tests.yaml"],
        cwd=folder, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


AVAILABILITY, LATENCY = "ModelServerAvailabilityBudgetBurn", "ModelServerLatencyBudgetBurn"
# 1000 requests a minute, 7 hours before anything happens: every window up to 6h is full.
QUIET = "0+1000x420"
UNIT_TESTS = [
    {  # 100% errors: pages within 5 minutes. The 5m rate is recorded at 1m; the alert group,
        # evaluated first (see ALERTS_FIRST), sees it at 2m: pending, firing `for: 2m` later.
        "interval": "1m",
        "input_series": [
            series("http_requests_total", f'{PREDICT}, status="200"', "0x20"),
            series("http_requests_total", f'{PREDICT}, status="500"', "0+1000x20"),
        ],
        "alert_rule_test": [
            firing(AVAILABILITY, "3m"),  # the `for: 2m` boundary: still pending
            firing(
                AVAILABILITY,
                "4m",
                burn("requests-availability", "critical"),
                burn("requests-availability", "warning"),
            ),
            firing(
                AVAILABILITY,
                "5m",
                burn("requests-availability", "critical"),
                burn("requests-availability", "warning"),
            ),
        ],
    },
    {  # A 10-minute blip of 10% errors (short windows above 14.4x and 6x, long ones not): nothing.
        "interval": "1m",
        "input_series": [
            series("http_requests_total", f'{PREDICT}, status="200"', "0+900x480"),
            series("http_requests_total", f'{PREDICT}, status="500"', "0x420 100+100x9 1000x50"),
        ],
        "alert_rule_test": [firing(AVAILABILITY, at) for at in ("425m", "430m", "435m", "445m", "470m")],
    },
    {  # 2% errors (4x the budget's rate) for 3 days: the ticket only, never the page.
        "interval": "2m",
        "input_series": [
            series("http_requests_total", f'{PREDICT}, status="200"', "0+980x2160"),
            series("http_requests_total", f'{PREDICT}, status="500"', "0+20x2160"),
        ],
        "alert_rule_test": [
            firing(AVAILABILITY, at, burn("requests-availability", "warning")) for at in ("1h", "1d", "3d")
        ],
    },
    {  # Latency: every request slower than 50 ms pages; none slower, nothing.
        "interval": "1m",
        "input_series": [
            series(
                "http_request_duration_seconds_count", f'{JOB}, handler="/predict", method="POST"', "0+100x20"
            ),
            series(
                "http_request_duration_seconds_bucket",
                f'{JOB}, handler="/predict", method="POST", le="0.05"',
                "0x20",
            ),
            series(
                "http_request_duration_seconds_count", f'{JOB}, handler="/health", method="GET"', "0+100x20"
            ),
            series(
                "http_request_duration_seconds_bucket",
                f'{JOB}, handler="/health", method="GET", le="0.05"',
                "0+100x20",
            ),
        ],
        "alert_rule_test": [
            firing(LATENCY, "3m"),
            firing(LATENCY, "4m", burn("requests-latency", "critical"), burn("requests-latency", "warning")),
        ],
    },
    {  # Healthy: fast answers, no errors, every server up, a steady class mix: no alert at all.
        "interval": "1m",
        "input_series": [
            series("http_requests_total", f'{PREDICT}, status="200"', QUIET),
            series("http_request_duration_seconds_count", f'{JOB}, handler="/predict", method="POST"', QUIET),
            series(
                "http_request_duration_seconds_bucket",
                f'{JOB}, handler="/predict", method="POST", le="0.05"',
                QUIET,
            ),
            series("up", f'{JOB}, instance="10.0.0.1:8000"', "1x420"),
            series("model_predictions_total", f'{JOB}, label="yes"', "0+300x420"),
            series("model_predictions_total", f'{JOB}, label="no"', "0+700x420"),
            series("model_reference_class_share", f'{JOB}, label="yes"', "0.28x420"),
            series("model_reference_class_share", f'{JOB}, label="no"', "0.72x420"),
            series("model_prediction_log_errors_total", JOB, "0x420"),
        ],
        "alert_rule_test": [firing(name, at) for name in sorted(EVERY_ALERT) for at in ("30m", "7h")],
    },
    {  # The only server stops answering the scrape at 6m.
        "interval": "1m",
        "input_series": [series("up", f'{JOB}, instance="10.0.0.1:8000"', "1x5 0x10")],
        "alert_rule_test": [
            firing("ModelServerDown", "5m"),
            firing("ModelServerDown", "7m"),  # pending since 6m
            firing("ModelServerDown", "8m", {"severity": "critical", "job": "model-server", "namespace": NS}),
        ],
    },
    {  # No target at all (no ready pod, or the ServiceMonitor not picked up): absent.
        "interval": "1m",
        "input_series": [series("up", 'job="other", namespace="elsewhere"', "1x10")],
        "alert_rule_test": [
            firing("ModelServerDown", "1m"),
            firing("ModelServerDown", "2m", {"severity": "critical", "job": "model-server", "namespace": NS}),
        ],
    },
    {  # Classes predicted 50/50 against a 90/10 reference.
        "interval": "1m",
        "input_series": [
            series("model_predictions_total", f'{JOB}, label="yes"', "0+60x30"),
            series("model_predictions_total", f'{JOB}, label="no"', "0+60x30"),
            series("model_reference_class_share", f'{JOB}, label="yes"', "0.1x30"),
            series("model_reference_class_share", f'{JOB}, label="no"', "0.9x30"),
        ],
        # The rate over the last hour (increase / 3600 s) passes prediction_shift_min_rate (0.1/s)
        # at 4m: pending from then, firing `for: 15m` later.
        "alert_rule_test": [
            firing("ModelServerPredictedClassShift", "18m"),
            firing(
                "ModelServerPredictedClassShift",
                "19m",
                {"severity": "warning", "namespace": NS, "label": "no"},
                {"severity": "warning", "namespace": NS, "label": "yes"},
            ),
        ],
    },
    {  # The same shift at 3 predictions a minute (below prediction_shift_min_rate): not judged.
        "interval": "1m",
        "input_series": [
            series("model_predictions_total", f'{JOB}, label="yes"', "0+3x30"),
            series("model_reference_class_share", f'{JOB}, label="yes"', "0.1x30"),
            series("model_reference_class_share", f'{JOB}, label="no"', "0.9x30"),
        ],
        "alert_rule_test": [firing("ModelServerPredictedClassShift", "20m")],
    },
    {  # Regression: mean prediction 10 against a reference of 5 (stddev 2): shifted.
        "interval": "1m",
        "input_series": regression_series(reference_mean=5),
        # 60 predictions a minute pass 0.1/s over the hour at 7m: firing 15m later.
        "alert_rule_test": [
            firing("ModelServerPredictionMeanShift", "21m"),
            firing("ModelServerPredictionMeanShift", "22m", {"severity": "warning", "namespace": NS}),
        ],
    },
    {  # Regression: mean 10 against a reference of 9.9 (stddev 2): within the tolerance.
        "interval": "1m",
        "input_series": regression_series(reference_mean=9.9),
        "alert_rule_test": [firing("ModelServerPredictionMeanShift", "20m")],
    },
    {  # Negative predictions, mean -10, against a reference of -10: no shift.
        "interval": "1m",
        "input_series": regression_series(reference_mean=-10, sign=-1),
        "alert_rule_test": [firing("ModelServerPredictionMeanShift", at) for at in ("22m", "30m")],
    },
    {  # Negative predictions, mean -10, against a reference of -5 (stddev 2): shifted.
        "interval": "1m",
        "input_series": regression_series(reference_mean=-5, sign=-1),
        "alert_rule_test": [
            firing("ModelServerPredictionMeanShift", "21m"),
            firing("ModelServerPredictionMeanShift", "22m", {"severity": "warning", "namespace": NS}),
        ],
    },
    {  # One failed prediction log write at 2m.
        "interval": "1m",
        "input_series": [series("model_prediction_log_errors_total", JOB, "0 0 1x20")],
        "alert_rule_test": [
            firing("ModelServerPredictionLogFailing", "1m"),
            firing("ModelServerPredictionLogFailing", "2m"),  # pending: `for: 1m`
            firing("ModelServerPredictionLogFailing", "3m", {"severity": "warning", "namespace": NS}),
            firing("ModelServerPredictionLogFailing", "14m"),  # out of the 10-minute window
        ],
    },
]


def test_every_alert_fires_stays_quiet_and_waits_its_for_in_promtool(default_project, tmp_path):
    groups = rule_groups(default_project, "production")
    for rule in alerts_of(groups):
        rule.pop("annotations")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    tested = {case["alertname"] for test in UNIT_TESTS for case in test["alert_rule_test"]}
    assert tested == EVERY_ALERT
    for name in EVERY_ALERT:  # a case where it fires, and one where it does not
        cases = [case for test in UNIT_TESTS for case in test["alert_rule_test"] if case["alertname"] == name]
        assert any(case["exp_alerts"] for case in cases) and any(not case["exp_alerts"] for case in cases), (
            name
        )
    result = promtool_test(tmp_path, groups, UNIT_TESTS)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_can_fail(default_project, tmp_path):
    """Expecting the page of the 10-minute blip is reported as a failure: the tests can disagree."""
    groups = rule_groups(default_project, "production")
    for rule in alerts_of(groups):
        rule.pop("annotations")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    blip = json.loads(json.dumps(UNIT_TESTS[1]))
    blip["alert_rule_test"] = [firing(AVAILABILITY, "430m", burn("requests-availability", "critical"))]
    result = promtool_test(tmp_path, groups, [blip])
    assert result.returncode == 1
    assert "FAILED" in result.stdout + result.stderr


# --- Alertmanager example, dashboards, monitoring=none --------------------------------------------


def test_alertmanager_example_routes_pages_and_tickets(default_project):
    config = str(default_project / "monitoring/alertmanager.yml")
    amtool = tool("amtool", "prometheus-alertmanager")
    checked = subprocess.run([amtool, "check-config", config], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
    routes_test = [amtool, "config", "routes", "test", f"--config.file={config}"]
    for labels, receiver in (
        (["severity=critical", "alertname=ModelServerDown"], "page"),
        (["severity=warning", "alertname=ModelServerPredictedClassShift"], "ticket"),
        (["alertname=SomethingElse"], "ticket"),
    ):
        routed = subprocess.run(
            [*routes_test, f"--verify.receivers={receiver}", *labels], capture_output=True, text=True
        )
        assert routed.returncode == 0 and routed.stdout.strip() == receiver, (
            labels,
            routed.stdout,
            routed.stderr,
        )
    wrong = subprocess.run(
        [*routes_test, "--verify.receivers=ticket", "severity=critical"], capture_output=True, text=True
    )
    assert wrong.returncode == 1


def test_every_dashboard_query_parses(monitored):
    for overlay in OVERLAYS:
        (board,) = [
            json.loads(text) for text in rendered_docs(monitored, overlay)["ConfigMap"]["data"].values()
        ]
        assert board["schemaVersion"] >= 39  # a Grafana 11 dashboard
        queries = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
        assert len(queries) >= len(board["panels"]) >= 6
        for query in queries:
            promql_parser.parse(query)  # raises on a query Prometheus would reject
    with pytest.raises(ValueError):
        promql_parser.parse('sum(rate(http_requests_total{job="x"}[5m])')


def test_no_monitoring_objects_with_monitoring_none(tmp_path):
    path = bake(tmp_path, **SUPPORTED["regression-random-forest"])
    for overlay in OVERLAYS:
        kinds = {doc["kind"] for doc in yaml.safe_load_all(kustomize(path / "k8s/overlays" / overlay)) if doc}
        assert not kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap"}
        assert not (path / "k8s/overlays" / overlay / "monitoring").exists()
    for gone in ("monitoring", "docs/runbooks", "k8s/components/monitoring"):
        assert not (path / gone).exists(), gone
    assert "monitoring:" not in (path / "Makefile").read_text()


# --- k8s/check-kinds.sh: a cluster without the operator's CRDs ----------------------------------

# Stands in for `kubectl explain KIND --api-version=V`, which exits 1 with "couldn't find resource"
# for a kind the API server does not serve (kubectl reference, kubectl explain). The stand-in's
# cluster serves the built-in kinds only.
FAKE_KUBECTL = """#!/bin/sh
case "$*" in
  *monitoring.coreos.com*) echo "error: couldn't find resource for \\"$4\\"" >&2; exit 1 ;;
  explain*) exit 0 ;;
esac
exit 2
"""


def test_check_kinds_names_the_fix_when_the_operator_is_missing(monitored, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    manifests = tmp_path / "staging.yaml"
    manifests.write_text(render(monitored, "staging"))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    script = str(monitored / "k8s/check-kinds.sh")
    result = subprocess.run([script, str(manifests)], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    missing = "monitoring.coreos.com/v1 PrometheusRule, monitoring.coreos.com/v1 ServiceMonitor."
    assert f"the cluster does not serve {missing}" in result.stderr
    assert "install it" in result.stderr and "components:" in result.stderr
    # Built-in kinds only (the monitoring objects left out): it passes.
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        yaml.safe_dump_all(
            [
                doc
                for doc in yaml.safe_load_all(manifests.read_text())
                if "monitoring" not in doc["apiVersion"]
            ]
        )
    )
    assert subprocess.run([script, str(plain)], capture_output=True, text=True, env=env).returncode == 0
    assert subprocess.run([script], capture_output=True, text=True, env=env).returncode == 2
