"""Write each environment's alert rules and Grafana dashboard from monitoring/settings.yaml.

    python monitoring/generate.py                # rewrite k8s/overlays/<env>/monitoring/*
    python monitoring/generate.py --check        # exit 1 when a checked-in file is out of date
    python monitoring/generate.py --rules ENV    # ENV's rules as a Prometheus rule file (promtool)

The rules follow the SRE Workbook (chapter 5, "Alerting on SLOs"): multiwindow, multi-burn-rate
alerts on availability and latency, with recording rules named as sloth names them
(`slo:sli_error:ratio_rate5m`, ...). Every query selects the environment's own namespace (read
from its kustomization.yaml) and the Service's job, so staging and production rules evaluated by
one Prometheus never overlap. `make monitoring` runs this, then checks the rules with promtool.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import GridPos

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "monitoring/settings.yaml"
OVERLAYS = ROOT / "k8s/overlays"
SERVICE = ROOT / "k8s/base/service.yaml"
PREFIX = "ModelServer"
# (severity, burn rate, long window, short window): SRE Workbook, chapter 5, table 5-8.
BURN_ALERTS = [
    ("critical", 14.4, "1h", "5m"),
    ("critical", 6, "6h", "30m"),
    ("warning", 3, "1d", "2h"),
    ("warning", 1, "3d", "6h"),
]
WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
PERIOD_DAYS = 30
HEADER = "# Written by monitoring/generate.py from monitoring/settings.yaml (`make monitoring`).\n"


def latency_buckets() -> tuple[float, ...]:
    """The server's latency histogram buckets (the package's monitoring.py holds them)."""
    (module,) = ROOT.glob("src/*/monitoring.py")
    sys.path.insert(0, str(module.parents[1]))
    return importlib.import_module(f"{module.parent.name}.monitoring").LATENCY_BUCKETS


class Literal(str):
    """A string written as a YAML block (PromQL over several lines stays readable)."""


def _literal(dumper: yaml.SafeDumper, text: Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")


yaml.SafeDumper.add_representer(Literal, _literal)


def selector(labels: dict[str, str]) -> str:
    """A PromQL selector matching these label values exactly."""
    return "{" + ", ".join(f'{name}="{value}"' for name, value in labels.items()) + "}"


@dataclass
class Environment:
    """What the rules and the dashboard of one environment are made from."""

    name: str
    namespace: str  # the overlay's `namespace:`
    job: str  # the Service's name: the job label a ServiceMonitor gives its targets
    service: str  # settings.yaml `service`
    runbooks: str  # settings.yaml `runbooks`
    values: dict[str, Any]  # settings.yaml `environments.<name>`

    def select(self, *extra: str) -> str:
        """A PromQL label selector of this environment's server, with `extra` matchers."""
        return "{" + ", ".join([f'job="{self.job}"', f'namespace="{self.namespace}"', *extra]) + "}"

    @property
    def sloth_service(self) -> str:
        return f"{self.service}-{self.name}"


def load_environments() -> list[Environment]:
    settings = yaml.safe_load(SETTINGS.read_text())
    job = yaml.safe_load(SERVICE.read_text())["metadata"]["name"]
    buckets = latency_buckets()
    environments = []
    for name, values in settings["environments"].items():
        threshold = values["latency_threshold_seconds"]
        if threshold not in buckets:
            sys.exit(
                f"{SETTINGS.name}: {name}.latency_threshold_seconds is {threshold}, not a "
                "bucket of the "
                f"server's latency histogram {buckets}: choose one of them, or add it to "
                "LATENCY_BUCKETS in the package's monitoring.py"
            )
        kustomization = OVERLAYS / name / "kustomization.yaml"
        if not kustomization.is_file():
            sys.exit(
                f"{SETTINGS.name}: environment {name!r} has no "
                f"k8s/overlays/{name}/kustomization.yaml"
            )
        namespace = yaml.safe_load(kustomization.read_text())["namespace"]
        environments.append(
            Environment(name, namespace, job, settings["service"], settings["runbooks"], values)
        )
    return environments


def slo_rules(env: Environment, slo: str, objective: float, errors: Callable[[str], str],
              total: Callable[[str], str]) -> list[dict]:  # fmt: skip
    """sloth's recording rules of one SLO: error ratio per window, objective, budget, burn rates."""
    ids = {
        "sloth_id": f"{env.sloth_service}-{slo}",
        "sloth_service": env.sloth_service,
        "sloth_slo": slo,
    }
    match = selector(ids)
    on_slo = "on (sloth_id, sloth_slo, sloth_service) group_left"
    rules = [
        {
            "record": f"slo:sli_error:ratio_rate{window}",
            "expr": Literal(f"(\n  {errors(window)}\n)\n/\n(\n  {total(window)}\n)\n"),
            "labels": {**ids, "sloth_window": window},
        }
        for window in WINDOWS
    ]
    ratio_5m = f"slo:sli_error:ratio_rate5m{match}"
    return [
        *rules,
        {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": ids},
        {"record": "slo:error_budget:ratio", "expr": f"vector({budget(objective)})", "labels": ids},
        {"record": "slo:time_period:days", "expr": f"vector({PERIOD_DAYS})", "labels": ids},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": Literal(f"{ratio_5m}\n/ {on_slo}\nslo:error_budget:ratio{match}\n"),
            "labels": ids,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": Literal(
                f"sum_over_time({ratio_5m}[{PERIOD_DAYS}d])\n/ ignoring (sloth_window)\n"
                f"count_over_time({ratio_5m}[{PERIOD_DAYS}d])\n/ {on_slo}\n"
                f"slo:error_budget:ratio{match}\n"
            ),
            "labels": ids,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{match}",
            "labels": ids,
        },
    ]


def budget(objective: float) -> float:
    return round(1 - objective, 10)


def alert(env: Environment, name: str, expr: str, duration: str, severity: str, summary: str,
          description: str) -> dict:  # fmt: skip
    return {
        "alert": name,
        "expr": Literal(expr.strip() + "\n"),
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": f"{env.name}: {summary}",
            "description": description,
            "runbook_url": f"{env.runbooks}/{name}.md",
        },
    }


def burn_alerts(env: Environment, name: str, slo: str, objective: float, what: str) -> list[dict]:
    """A page (critical) and a ticket (warning), each firing on either of its two window pairs."""
    match = selector({"sloth_id": f"{env.sloth_service}-{slo}"})
    alerts = []
    for severity in ("critical", "warning"):
        pairs = [
            f"(\n  max(slo:sli_error:ratio_rate{short}{match} > ({rate} * {budget(objective)}))"
            f" without (sloth_window)\n  and\n"
            f"  max(slo:sli_error:ratio_rate{long}{match} > ({rate} * {budget(objective)}))"
            f" without (sloth_window)\n)"
            for level, rate, long, short in BURN_ALERTS
            if level == severity
        ]
        speed = (
            "fast (gone within days)"
            if severity == "critical"
            else "steadily (gone within the month)"
        )
        description = (
            f"The {what} SLO ({objective:.2%} over {PERIOD_DAYS} days) of {env.sloth_service}: "
            "{{ $value | humanizePercentage }} of requests fail it over the shorter window, above "
            "the burn-rate threshold over both windows of a pair."
        )
        alerts.append(
            alert(env, name, "\nor\n".join(pairs), "2m", severity,
                  f"the {what} error budget burns {speed}.", description)
        )  # fmt: skip
    return alerts


def mean_prediction(select: str, by: str = "") -> str:
    """The mean prediction over the last hour, from the two Summaries the server keeps (values
    of 0 or more, and values below 0 with their sign inverted: see the server's monitoring.py)."""
    grouped = f"sum by ({by}) " if by else "sum"

    def rate(name: str) -> str:
        return f"{grouped}(rate({name}{select}[1h]))"

    return (
        f"(\n  {rate('model_prediction_value_sum')}\n"
        f"  - {rate('model_prediction_negative_value_sum')}\n)\n"
        f"/ (\n  {rate('model_prediction_value_count')}\n"
        f"  + {rate('model_prediction_negative_value_count')}\n)"
    )


def rule_groups(env: Environment) -> list[dict]:
    values, select = env.values, env.select()
    predict = env.select('handler="/predict"')
    within = env.select('handler="/predict"', f'le="{values["latency_threshold_seconds"]}"')
    errors = env.select('handler="/predict"', 'status=~"5.."')

    def requests(window: str) -> str:
        return f"sum(rate(http_requests_total{predict}[{window}]))"

    def failed(window: str) -> str:  # none at all: a ratio of 0, not an empty result
        return f"sum(rate(http_requests_total{errors}[{window}])) or vector(0)"

    def timed(window: str) -> str:
        return f"sum(rate(http_request_duration_seconds_count{predict}[{window}]))"

    def too_slow(window: str) -> str:
        return (
            f"{timed(window)}\n  -\n  "
            f"sum(rate(http_request_duration_seconds_bucket{within}[{window}]))"
        )

    tolerance, min_rate = values["prediction_shift_tolerance"], values["prediction_shift_min_rate"]
    total = f"sum by (namespace) (rate(model_predictions_total{select}[1h]))"
    share = (
        f"sum by (namespace, label) (rate(model_predictions_total{select}[1h]))\n"
        f"  / ignoring (label) group_left\n  {total}"
    )
    mean = mean_prediction(select, by="namespace")
    enough = f"and on (namespace)\n{total} > {min_rate}"
    reference = "Compared over the last hour with the model's own predictions on its test split."
    availability, latency = values["availability_objective"], values["latency_objective"]
    threshold = values["latency_threshold_seconds"]
    alerts = [
        *burn_alerts(env, f"{PREFIX}AvailabilityBudgetBurn", "requests-availability", availability,
                     "availability"),
        *burn_alerts(env, f"{PREFIX}LatencyBudgetBurn", "requests-latency", latency,
                     f"latency (within {threshold} s)"),
        alert(
            env, f"{PREFIX}Down",
            f"sum by (namespace, job) (up{select}) == 0\nor\nabsent(up{select})",
            "2m", "critical", "no model server answers Prometheus' scrape.",
            f"Every {env.job} target in namespace {env.namespace} is down, or Prometheus has none: "
            "the model server does not serve.",
        ),
        alert(
            env, f"{PREFIX}PredictedClassShift",
            f"abs(\n  {share}\n  - on (namespace, label)\n"
            f"  max by (namespace, label) (model_reference_class_share{select})\n) > {tolerance}\n"
            f"{enough}",
            "15m", "warning", "the share of a predicted class moved away from the test split.",
            "Class {{ $labels.label }}: its share of predictions differs by "
            "{{ $value | humanizePercentage }} from its share on the test split. " + reference,
        ),
        alert(
            env, f"{PREFIX}PredictionMeanShift",
            f"abs(\n  {mean}\n  - on (namespace)\n"
            f"  max by (namespace) (model_reference_prediction_mean{select})\n)\n> on (namespace)\n"
            f"{tolerance} * max by (namespace) "
            f"(model_reference_prediction_stddev{select})\n{enough}",
            "15m", "warning", "the mean prediction moved away from the test split.",
            "The mean prediction differs by {{ $value | humanize }} from its mean on the test "
            "split, "
            f"more than {tolerance} of its standard deviation there. " + reference,
        ),
        alert(
            env, f"{PREFIX}PredictionLogFailing",
            f"sum by (namespace) (increase(model_prediction_log_errors_total{select}[10m])) > 0",
            "1m", "warning", "prediction log lines are being lost.",
            "{{ $value | humanize }} prediction log writes failed in the last 10 minutes. Requests "
            "were answered, but drift reports and audits miss these predictions.",
        ),
    ]  # fmt: skip
    return [
        {
            "name": f"{env.service}-slo-availability",
            "rules": slo_rules(env, "requests-availability", availability, failed, requests),
        },
        {
            "name": f"{env.service}-slo-latency",
            "rules": slo_rules(env, "requests-latency", latency, too_slow, timed),
        },
        {"name": f"{env.service}-alerts", "rules": alerts},
    ]


def prometheus_rule(env: Environment) -> str:
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "model-server",
            "labels": {
                "app.kubernetes.io/name": env.service,
                "app.kubernetes.io/component": "model-server",
            },
        },
        "spec": {"groups": rule_groups(env)},
    }
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=float("inf"))  # no folding


def dashboard_json(env: Environment) -> str:
    """The environment's dashboard: traffic, latency, SLO budgets, predictions, servers up."""
    select, predict = env.select(), env.select('handler="/predict"')
    slos = selector({"sloth_service": env.sloth_service})
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    latency = f"sum by (le) (rate(http_request_duration_seconds_bucket{predict}[5m]))"
    panels = [
        (
            timeseries.Panel().title("Requests per second to /predict, by status").unit("reqps"),
            [(f"sum by (status) (rate(http_requests_total{predict}[5m]))", "{{status}}")],
        ),
        (
            timeseries.Panel().title("Latency of /predict").unit("s"),
            [
                (f"histogram_quantile({q}, {latency})", f"p{round(q * 100)}")
                for q in (0.5, 0.95, 0.99)
            ]
            + [(f"vector({env.values['latency_threshold_seconds']})", "SLO threshold")],
        ),
        (
            stat.Panel().title(f"Error budget left ({PERIOD_DAYS} days)").unit("percentunit"),
            [(f"slo:period_error_budget_remaining:ratio{slos}", "{{sloth_slo}}")],
        ),
        (
            timeseries.Panel().title("Error budget burn rate (5 minutes)"),
            [(f"slo:current_burn_rate:ratio{slos}", "{{sloth_slo}}")],
        ),
        (
            timeseries.Panel().title("Share of each predicted class, and on the test split"),
            [
                (
                    f"sum by (label) (rate(model_predictions_total{select}[1h]))\n/ ignoring "
                    "(label) "
                    f"group_left\nsum(rate(model_predictions_total{select}[1h]))",
                    "{{label}}",
                ),
                (f"max by (label) (model_reference_class_share{select})", "{{label}} (test split)"),
            ],
        ),
        (
            timeseries.Panel().title("Mean prediction (regression), and on the test split"),
            [
                (mean_prediction(select), "mean prediction"),
                (f"max(model_reference_prediction_mean{select})", "test split"),
            ],
        ),
        (
            timeseries.Panel().title("Servers up"),
            [(f"sum(up{select})", "servers up")],
        ),
        (
            timeseries.Panel().title("Prediction log write failures (10 minutes)"),
            [(f"sum(increase(model_prediction_log_errors_total{select}[10m]))", "failed writes")],
        ),
    ]
    board = (
        dashboard.Dashboard(f"{env.service} model server ({env.name})")
        .uid(env.values["dashboard_uid"])
        .tags(["model-server", env.service, env.name])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("utc")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
    )
    for index, (panel, queries) in enumerate(panels):
        position = GridPos(h=8, w=12, x=12 * (index % 2), y=8 * (index // 2))
        panel = panel.datasource(datasource).grid_pos(position)
        for ref, (expr, legend) in zip("ABCDEFGH", queries, strict=False):
            query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)
            panel = panel.with_target(query.datasource(datasource))
        board = board.with_panel(panel)
    return JSONEncoder(sort_keys=True, indent=2).encode(board.build()) + "\n"


def outputs() -> dict[Path, str]:
    """Every generated file and its content, for each environment of settings.yaml."""
    files = {}
    for env in load_environments():
        folder = OVERLAYS / env.name / "monitoring"
        files[folder / "prometheusrule.yaml"] = prometheus_rule(env)
        files[folder / "dashboard.json"] = dashboard_json(env)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail when a checked-in file is out of date"
    )
    parser.add_argument(
        "--rules", metavar="ENV", help="print ENV's rules as a Prometheus rule file"
    )
    args = parser.parse_args()
    files = outputs()
    if args.rules:
        path = OVERLAYS / args.rules / "monitoring/prometheusrule.yaml"
        if path not in files:
            sys.exit(f"no environment {args.rules!r} in {SETTINGS.name}")
        print(
            yaml.safe_dump(
                {"groups": yaml.safe_load(files[path])["spec"]["groups"]}, sort_keys=False
            )
        )
        return 0
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(
                f"{path.relative_to(ROOT)} is out of date: run `make monitoring`", file=sys.stderr
            )
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
