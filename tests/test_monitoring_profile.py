"""docker-compose's monitoring profile, checked without a Docker engine: Prometheus scrapes the web's
/metrics with a metrics-scoped token, its alert rules and the provisioned Grafana dashboard use only
metrics the project exposes (jobs/selectors/metrics.py)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobs.selectors.metrics import COUNTERS, GAUGES, HISTOGRAMS

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "monitoring"
EXPOSED = {*COUNTERS, *GAUGES, *(f"{name}_{part}" for name in HISTOGRAMS for part in ("bucket", "sum", "count"))}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "deriv", "absent", "histogram_quantile", "and", "or", "on", "le",
                "clamp_min", "max", "min", "avg", "without", "offset", "bool", "unless", "ignoring"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers left once label matchers, groupings, ranges and
    strings are taken out."""
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    expr = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", " ", expr)
    return {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if word not in PROMQL_WORDS}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_prometheus_and_grafana_run_only_in_the_monitoring_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        assert all(str(port).startswith("127.0.0.1:") for port in services[name]["ports"]), "loopback only"
    assert all("profiles" not in service for name, service in services.items() if name not in ("prometheus", "grafana"))
    mounted = {volume.split(":")[1] for volume in services["prometheus"]["volumes"] if volume.startswith("./")}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml"} <= mounted
    assert services["prometheus"]["configs"] == [{"source": "metrics-token", "target": "/etc/prometheus/metrics-token"}]
    assert "METRICS_TOKEN" in compose["configs"]["metrics-token"]["content"]
    for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        source = volume.split(":")[0]
        assert not source.startswith("./") or (ROOT / source).exists(), source


def test_prometheus_scrapes_the_web_services_metrics_with_the_token(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/metrics-token"}
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    web = compose["services"][host]
    assert port == "8000" and "--port" in web["command"] and web["command"][web["command"].index("--port") + 1] == port
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_alert_rules_cover_backlog_scheduler_and_failures_with_exposed_metrics() -> None:
    rules = yaml.safe_load((MONITORING / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {"JobBacklogGrowing", "SchedulerStale", "FailureRateSpike"} <= names
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used and used <= EXPOSED, (rule["alert"], used - EXPOSED)
        assert re.fullmatch(r"\d+[smh]", rule["for"]) and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_the_grafana_dashboard_is_provisioned_and_reads_exposed_metrics(compose: dict[str, Any]) -> None:
    provisioning = MONITORING / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "jobqueue.yml").read_text())["providers"]
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"] if volume.startswith("./"))
    assert mounts["./monitoring/grafana/dashboards"] == provider["options"]["path"]
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "jobqueue.json").read_text())
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("queue depth", "throughput", "failures", "duration", "workers"):
        assert topic in titles, topic
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"]
        for target in panel["targets"]:
            used = metric_names(target["expr"])
            assert used and used <= EXPOSED, (panel["title"], used - EXPOSED)


def test_the_expression_reader_finds_the_metrics() -> None:
    assert metric_names('sum by (queue) (rate(jobs_processed_total{outcome=~"error|lost"}[5m]))') == {
        "jobs_processed_total"}
    assert metric_names("workers == 0 and on(queue) queue_jobs{state=\"pending\"} > 0") == {"workers", "queue_jobs"}
