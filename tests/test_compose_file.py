"""docker/compose.yaml, checked without a Docker engine (CI has none).

The file is validated against the Compose Specification's JSON schema (vendored in
tests/schemas/, see its README), then the course's own rules are checked.
"""

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers.ops.broker import COMPOSE_FILE, CONFIG_FILE, PLUGINS_FILE

SCHEMA_FILE = Path(__file__).parent / "schemas" / "compose-spec.json"
MONITORING = ["prometheus", "grafana"]  # the services of the "monitoring" profile (lesson 10)


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_FILE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def service(compose):
    assert list(compose["services"]) == ["rabbitmq", *MONITORING]
    assert "profiles" not in compose["services"]["rabbitmq"], "the broker starts without a profile"
    return compose["services"]["rabbitmq"]


def test_schema_is_the_compose_spec():
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["title"] == "Compose Specification"
    assert schema["$schema"].startswith("https://json-schema.org/draft/2019-09/")


def test_compose_file_follows_the_compose_spec(validator, compose):
    errors = [error.message for error in validator.iter_errors(compose)]
    assert errors == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda data: data["services"]["rabbitmq"].update(ports=5672),
        lambda data: data.update(servces=data["services"]),
        lambda data: data["services"]["rabbitmq"].update(helthcheck={}),
        lambda data: data["services"]["rabbitmq"]["volumes"][0].update(readonly=True),
    ],
    ids=["ports-as-int", "unknown-top-level-key", "misspelt-service-key", "misspelt-volume-key"],
)
def test_schema_rejects_a_broken_compose_file(validator, compose, break_it):
    broken = copy.deepcopy(compose)
    break_it(broken)
    assert not validator.is_valid(broken)


def test_image_is_official_rabbitmq_4_management(service):
    assert re.fullmatch(r"rabbitmq:4\.\d+-management", service["image"]), service["image"]


def host_ip(port):
    if isinstance(port, dict):
        return port.get("host_ip")
    text = re.sub(r"\$\{BROKER_LISTEN:-([^}]*)\}", r"\1", str(port))  # as Compose reads it with BROKER_LISTEN unset
    parts = text.split(":")
    return parts[0] if len(parts) == 3 else None  # "HOST_IP:HOST_PORT:CONTAINER_PORT"


def test_ports_are_published_on_localhost_only(service):
    assert len(service["ports"]) == 3
    for port in service["ports"]:
        assert host_ip(port) == "127.0.0.1", port
    published = {int(str(port).rsplit(":", 1)[-1]) for port in service["ports"]}
    assert published == {5672, 15672, 15692}


def test_mounts_the_same_files_as_the_local_node(service):
    binds = {v["target"]: v for v in service["volumes"] if v["type"] == "bind"}
    sources = {target: (COMPOSE_FILE.parent / v["source"]).resolve() for target, v in binds.items()}
    assert sources == {
        "/etc/rabbitmq/conf.d/10-course.conf": CONFIG_FILE.resolve(),
        "/etc/rabbitmq/enabled_plugins": PLUGINS_FILE.resolve(),
    }
    for target, source in sources.items():
        assert source.is_file(), source
        assert binds[target].get("read_only") is True, target


def test_data_lives_in_a_named_volume(compose, service):
    data = [v for v in service["volumes"] if v["target"] == "/var/lib/rabbitmq"]
    assert len(data) == 1 and data[0]["type"] == "volume"
    assert data[0]["source"] in compose["volumes"]
    assert service.get("hostname"), "a fixed hostname keeps the node name (and its data) stable"


def test_has_a_healthcheck(service):
    check = service["healthcheck"]
    assert "rabbitmq-diagnostics" in check["test"]
    assert not check.get("disable", False)
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in check, key


def test_credentials_default_to_the_course_user(service):
    environment = service["environment"]
    assert environment["RABBITMQ_DEFAULT_USER"] == "${RABBITMQ_USER:-devuser}"
    assert environment["RABBITMQ_DEFAULT_PASS"] == "${RABBITMQ_PASSWORD:-devpassword}"


# -- the "monitoring" profile (lesson 10) -------------------------------------------------------
def binds(service):
    return {v["target"]: (COMPOSE_FILE.parent / v["source"]).resolve() for v in service["volumes"] if v["type"] == "bind"}


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_services_are_in_the_monitoring_profile(compose, name):
    assert compose["services"][name]["profiles"] == ["monitoring"]


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_images_are_official_and_pinned(compose, name):
    image = compose["services"][name]["image"]
    assert re.fullmatch(r"(prom/prometheus:v|grafana/grafana:)\d+\.\d+\.\d+", image), image


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_ports_are_on_localhost_only(compose, name):
    ports = compose["services"][name]["ports"]
    assert ports and all(host_ip(port) == "127.0.0.1" for port in ports), ports


@pytest.mark.parametrize("name", MONITORING)
def test_monitoring_mounts_exist_read_only(compose, name):
    service = compose["services"][name]
    for target, source in binds(service).items():
        assert source.exists(), source
    assert all(v.get("read_only") is True for v in service["volumes"] if v["type"] == "bind")


def test_prometheus_mounts_the_config_helpers_prometheus_runs(compose):
    from helpers.ops.prometheus import COMPOSE_CONFIG, COMPOSE_TARGET, compose_config

    service = compose["services"]["prometheus"]
    assert binds(service)["/etc/prometheus/prometheus.yml"] == COMPOSE_CONFIG.resolve()
    assert COMPOSE_CONFIG == COMPOSE_FILE.parent / "prometheus" / "prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in service["command"]
    targets = [t for job in compose_config()["scrape_configs"] for s in job["static_configs"] for t in s["targets"]]
    assert targets == [COMPOSE_TARGET] and COMPOSE_TARGET.split(":")[0] in compose["services"]


def test_grafana_is_provisioned_with_the_course_datasource_and_dashboard(compose):
    mounted = binds(compose["services"]["grafana"])
    provisioning, dashboards = mounted["/etc/grafana/provisioning"], mounted["/var/lib/grafana/dashboards"]
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards" / "course.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((dashboards / "rabbitmq-course.json").read_text())
    uids = {target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel["targets"]}
    assert uids == {datasource["uid"]}
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("queue depth", "rates", "consumers", "memory"):
        assert topic in titles, topic
