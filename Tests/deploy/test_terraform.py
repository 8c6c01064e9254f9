"""deploy/terraform: checks that need neither Terraform nor a provider (neither can be fetched here).

1. Every .tf file parses (python-hcl2).
2. The security-relevant facts, read from the parsed files: the network layout, which security group
   may reach which port, that Reel's hosts and the database are private, the Auto Scaling bounds and
   health check, the load balancer's health check and listeners, and that the database URL reaches the
   hosts through SSM Parameter Store, never through user data. The user data templates are rendered
   the way Terraform's templatefile() does and checked with `bash -n`.
3. `terraform fmt` layout (indentation, aligned `=`), by the rules of Terraform's formatter.
4. checkov over the directory: no failed check; every suppression says why.

Without python-hcl2 or checkov these skip, unless REEL_REQUIRE_DEPLOY_TOOLS=1 (scripts/test), when
they fail instead. scripts/install-deps --full installs both (checkov in its own virtualenv,
/opt/reel-tools/checkov).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Another directory can be checked instead (e.g. a copy with one fact broken on purpose).
TF_DIR = Path(os.environ.get("REEL_TERRAFORM_DIR", REPO / "deploy" / "terraform")).resolve()
TF_FILES = sorted(TF_DIR.glob("*.tf"))
TEMPLATES = TF_DIR / "templates"
REQUIRE_TOOLS = os.environ.get("REEL_REQUIRE_DEPLOY_TOOLS") == "1"
CHECKOV_VENV = Path(os.environ.get("REEL_CHECKOV_VENV", "/opt/reel-tools/checkov"))

try:
    import hcl2
except ImportError:  # pragma: no cover - depends on the machine
    hcl2 = None


def missing_tool(message: str) -> None:
    if REQUIRE_TOOLS:
        pytest.fail(f"{message} (REEL_REQUIRE_DEPLOY_TOOLS=1; run scripts/install-deps --full)")
    pytest.skip(f"{message}; scripts/install-deps --full installs it")


# --- parsing ------------------------------------------------------------------------------------------

def _unquote(value):
    """python-hcl2 8 keeps the quotes of strings and block labels unless told not to; older versions
    drop them. Normalise to no quotes and no bookkeeping keys, whatever the version."""
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_file(path: Path) -> dict:
    with path.open() as f:
        try:
            from hcl2.utils import SerializationOptions
        except ImportError:
            return _unquote(hcl2.load(f))
        options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
        return _unquote(hcl2.load(f, serialization_options=options))


class Config:
    """The whole directory: resources[type][name], data[type][name], variables[name], locals."""

    def __init__(self, files: list[Path]):
        self.resources: dict[str, dict[str, dict]] = {}
        self.data: dict[str, dict[str, dict]] = {}
        self.variables: dict[str, dict] = {}
        self.locals: dict[str, object] = {}
        for path in files:
            doc = parse_file(path)
            for item in doc.get("resource", []):
                for rtype, named in item.items():
                    for name, body in named.items():
                        assert name not in self.resources.setdefault(rtype, {}), f"{rtype}.{name} twice"
                        self.resources[rtype][name] = body
            for item in doc.get("data", []):
                for dtype, named in item.items():
                    for name, body in named.items():
                        self.data.setdefault(dtype, {})[name] = body
            for item in doc.get("variable", []):
                for name, body in item.items():
                    self.variables[name] = body
            for item in doc.get("locals", []):
                self.locals.update(item)

    def resource(self, rtype: str, name: str) -> dict:
        assert name in self.resources.get(rtype, {}), f"no resource {rtype}.{name}"
        return self.resources[rtype][name]

    def default(self, variable: str):
        assert variable in self.variables, f"no variable {variable}"
        assert "default" in self.variables[variable], f"variable {variable} has no default"
        return self.variables[variable]["default"]

    def value(self, expr):
        """A literal, or `${var.x}` resolved to the variable's default."""
        m = re.fullmatch(r"\$\{var\.(\w+)\}", expr) if isinstance(expr, str) else None
        return self.default(m.group(1)) if m else expr


def block(body: dict, name: str) -> dict:
    """The single nested block `name` of a parsed body."""
    value = body.get(name)
    assert value is not None, f"no {name} block"
    blocks = value if isinstance(value, list) else [value]
    assert len(blocks) == 1, f"{len(blocks)} {name} blocks, expected one"
    return blocks[0]


def ref(expr: str) -> str:
    """`${aws_security_group.alb.id}` -> `aws_security_group.alb.id`."""
    assert isinstance(expr, str) and expr.startswith("${") and expr.endswith("}"), f"not a reference: {expr!r}"
    return expr[2:-1]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def tf() -> Config:
    if hcl2 is None:
        missing_tool("python-hcl2 is not installed (import hcl2)")
    return Config(TF_FILES)


def test_the_directory_is_split_by_concern():
    names = {p.name for p in TF_FILES}
    for wanted in ["versions.tf", "variables.tf", "outputs.tf", "network.tf", "security.tf", "alb.tf",
                   "compute.tf", "storage.tf", "database.tf", "monitoring.tf", "backup.tf"]:
        assert wanted in names, f"deploy/terraform has no {wanted}"
    assert (TF_DIR / "README.md").is_file()


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: p.name)
def test_every_file_parses(path):
    if hcl2 is None:
        missing_tool("python-hcl2 is not installed (import hcl2)")
    doc = parse_file(path)
    assert doc, f"{path.name} parsed to nothing"


def test_providers_are_pinned(tf):
    doc = parse_file(TF_DIR / "versions.tf")
    terraform = doc["terraform"][0]
    assert "required_version" in terraform
    providers = terraform["required_providers"][0] if isinstance(terraform["required_providers"], list) \
        else terraform["required_providers"]
    for name, spec in providers.items():
        assert "/" in spec["source"], f"provider {name} has no source address"
        assert re.match(r"^~>\s*\d+\.\d+", spec["version"]), \
            f"provider {name} is not pinned to a minor series: {spec['version']!r}"


# --- network ------------------------------------------------------------------------------------------

def test_vpc_and_four_26_subnets_in_two_zones(tf):
    vpc = ipaddress.ip_network(tf.default("vpc_cidr"))
    assert vpc == ipaddress.ip_network("192.168.1.0/24")
    assert tf.resource("aws_vpc", "main")["cidr_block"] == "${var.vpc_cidr}"

    public = [ipaddress.ip_network(c) for c in tf.default("public_subnet_cidrs")]
    private = [ipaddress.ip_network(c) for c in tf.default("private_subnet_cidrs")]
    assert len(public) == 2 and len(private) == 2
    subnets = public + private
    assert all(s.prefixlen == 26 and s.subnet_of(vpc) for s in subnets), subnets
    assert all(not a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:]), "subnets overlap"

    for tier in ["public", "private"]:
        subnet = tf.resource("aws_subnet", tier)
        assert subnet["count"] == 2
        assert subnet["cidr_block"] == f"${{var.{tier}_subnet_cidrs[count.index]}}"
        assert subnet["availability_zone"] == "${local.azs[count.index]}", "subnet i must be in zone i"
    # The two zones: the variable's two, or two distinct pinned defaults.
    azs = tf.locals["azs"]
    assert "var.availability_zones" in azs
    defaults = re.findall(r'\$\{var\.region\}([a-z])', azs)
    assert len(defaults) == 2 and defaults[0] != defaults[1], azs
    assert "== 2" in block(tf.variables["availability_zones"], "validation")["condition"]


def _routes(tf, table: str) -> list[dict]:
    return as_list(tf.resource("aws_route_table", table)["route"])


def _association_table(tf, tier: str) -> str:
    assoc = tf.resource("aws_route_table_association", tier)
    assert assoc["subnet_id"] == f"${{aws_subnet.{tier}[count.index].id}}"
    assert assoc.get("count") == 2
    return ref(assoc["route_table_id"]).split(".")[1]


def test_public_subnets_route_to_the_internet_gateway(tf):
    table = _association_table(tf, "public")
    (route,) = _routes(tf, table)
    assert route["cidr_block"] == "0.0.0.0/0"
    assert ref(route["gateway_id"]) == "aws_internet_gateway.main.id"
    nat = tf.resource("aws_nat_gateway", "main")
    assert ref(nat["subnet_id"]).startswith("aws_subnet.public["), "the NAT gateway must sit in a public subnet"


def test_app_subnets_are_private(tf):
    private = tf.resource("aws_subnet", "private")
    assert private["map_public_ip_on_launch"] is False
    # Nothing here is launched into a public subnet, so those hand out no addresses either.
    assert tf.resource("aws_subnet", "public")["map_public_ip_on_launch"] is False
    table = _association_table(tf, "private")
    (route,) = _routes(tf, table)
    assert route["cidr_block"] == "0.0.0.0/0"
    assert ref(route["nat_gateway_id"]) == "aws_nat_gateway.main.id"
    assert not route.get("gateway_id"), "a private subnet must not route to the internet gateway"
    # Every route table that sends 0.0.0.0/0 to the internet gateway is associated with public subnets only.
    for name in tf.resources["aws_route_table"]:
        if any(r.get("gateway_id") for r in _routes(tf, name)):
            for assoc_name, assoc in tf.resources["aws_route_table_association"].items():
                if ref(assoc["route_table_id"]).split(".")[1] == name:
                    assert "aws_subnet.public" in assoc["subnet_id"], f"{assoc_name} makes a subnet public"

    asg = tf.resource("aws_autoscaling_group", "app")
    assert asg["vpc_zone_identifier"] == "${aws_subnet.private[*].id}"
    assert ref(tf.resource("aws_instance", "nfs")["subnet_id"]).startswith("aws_subnet.private[")
    assert tf.resource("aws_efs_mount_target", "shared")["subnet_id"] == "${aws_subnet.private[count.index].id}"
    assert tf.resource("aws_db_subnet_group", "main")["subnet_ids"] == "${aws_subnet.private[*].id}"
    lt = tf.resource("aws_launch_template", "app")
    assert "network_interfaces" not in lt, "the launch template must not ask for a public address"
    alb = tf.resource("aws_lb", "main")
    assert alb["subnets"] == "${aws_subnet.public[*].id}" and alb["internal"] is False


# --- security groups ----------------------------------------------------------------------------------

SOURCES = ["cidr_ipv4", "cidr_ipv6", "referenced_security_group_id", "prefix_list_id"]


def rules(tf, direction: str, group: str) -> list[tuple[int, int, str, str]]:
    """(from, to, kind, source) of every ingress or egress rule of aws_security_group.<group>."""
    out = []
    for name, rule in tf.resources.get(f"aws_vpc_security_group_{direction}_rule", {}).items():
        if ref(rule["security_group_id"]) != f"aws_security_group.{group}.id":
            continue
        sources = [k for k in SOURCES if rule.get(k)]
        assert len(sources) == 1, f"{name}: one source per rule, found {sources}"
        assert rule["ip_protocol"] == "tcp", f"{name}: only TCP rules are expected, not {rule['ip_protocol']}"
        source = rule[sources[0]]
        if sources[0] == "referenced_security_group_id":
            source = ref(source).removeprefix("aws_security_group.").removesuffix(".id")
        out.append((rule["from_port"], rule["to_port"], sources[0], source))
    return sorted(out)


def test_no_rule_escapes_these_checks(tf):
    """Rules only as aws_vpc_security_group_*_rule resources: no inline ingress/egress, no
    aws_security_group_rule, and the default group of the VPC allows nothing."""
    assert "aws_security_group_rule" not in tf.resources
    for name, group in tf.resources["aws_security_group"].items():
        assert "ingress" not in group and "egress" not in group, f"aws_security_group.{name} has inline rules"
    default = tf.resource("aws_default_security_group", "default")
    assert "ingress" not in default and "egress" not in default
    assert set(tf.resources["aws_security_group"]) == {"alb", "app", "storage", "db"}


def test_balancer_takes_80_and_443_from_anywhere_only(tf):
    assert rules(tf, "ingress", "alb") == [(80, 80, "cidr_ipv4", "0.0.0.0/0"),
                                           (443, 443, "cidr_ipv4", "0.0.0.0/0")]
    assert rules(tf, "egress", "alb") == [(5000, 5000, "referenced_security_group_id", "app")]
    assert tf.resource("aws_lb", "main")["security_groups"] == ["${aws_security_group.alb.id}"]


def test_app_takes_5000_from_the_balancer_only_and_no_ssh(tf):
    assert rules(tf, "ingress", "app") == [(5000, 5000, "referenced_security_group_id", "alb")]
    for direction in ["ingress", "egress"]:
        for group in tf.resources["aws_security_group"]:
            for low, high, _, _ in rules(tf, direction, group):
                if direction == "ingress":
                    assert not low <= 22 <= high, f"port 22 open to {group}: use SSM Session Manager"
    assert tf.resource("aws_launch_template", "app")["vpc_security_group_ids"] == ["${aws_security_group.app.id}"]
    # Session Manager instead of SSH: the hosts' role has the SSM core policy, and no key pair is set.
    assert "AmazonSSMManagedInstanceCore" in tf.resource("aws_iam_role_policy_attachment", "app_ssm")["policy_arn"]
    assert "key_name" not in tf.resource("aws_launch_template", "app")
    assert "key_name" not in tf.resource("aws_instance", "nfs")


def test_app_reaches_out_only_where_it_must(tf):
    egress = rules(tf, "egress", "app")
    assert (2049, 2049, "referenced_security_group_id", "storage") in egress
    assert (5432, 5432, "referenced_security_group_id", "db") in egress
    for low, high, kind, source in egress:
        if kind == "cidr_ipv4":
            assert (low, high) in [(80, 80), (443, 443)], f"app egress {low}-{high} to {source}"


def test_nfs_takes_2049_from_the_app_only(tf):
    assert rules(tf, "ingress", "storage") == [(2049, 2049, "referenced_security_group_id", "app")]
    assert tf.resource("aws_instance", "nfs")["vpc_security_group_ids"] == ["${aws_security_group.storage.id}"]
    assert tf.resource("aws_efs_mount_target", "shared")["security_groups"] == ["${aws_security_group.storage.id}"]


def test_database_takes_5432_from_the_app_only(tf):
    assert rules(tf, "ingress", "db") == [(5432, 5432, "referenced_security_group_id", "app")]
    assert rules(tf, "egress", "db") == []
    assert tf.resource("aws_db_instance", "main")["vpc_security_group_ids"] == ["${aws_security_group.db.id}"]


# --- database -----------------------------------------------------------------------------------------

def test_database_is_private_encrypted_and_backed_up(tf):
    db = tf.resource("aws_db_instance", "main")
    assert db["engine"] == "postgres"
    assert int(tf.value(db["engine_version"])) >= 15, "Reel needs PostgreSQL 15 or later"
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    assert tf.value(db["backup_retention_period"]) > 0
    condition = block(tf.variables["db_backup_retention_days"], "validation")["condition"]
    assert ">= 1" in condition, "a retention of 0 (no automated backups) must be refused"
    assert db["skip_final_snapshot"] is False
    assert isinstance(tf.value(db["multi_az"]), bool), "Multi-AZ is an option (a bool variable)"
    params = {p["name"]: p["value"] for p in as_list(tf.resource("aws_db_parameter_group", "main")["parameter"])}
    assert params.get("rds.force_ssl") == "1", "the database must refuse connections without TLS"


def test_database_url_is_a_secure_string_parameter(tf):
    param = tf.resource("aws_ssm_parameter", "database_url")
    assert param["type"] == "SecureString"
    assert ref(param["key_id"]).startswith("aws_kms_key.")
    assert param["name"] == "${local.database_url_param}"
    assert "sslmode=verify-full" in param["value"]


# --- user data: no secret in it -----------------------------------------------------------------------

def templatefile_calls(tf) -> dict[str, tuple[str, dict[str, str]]]:
    """owner -> (template file name, {argument: expression}) for every templatefile() in user data."""
    calls = {}
    for owner in [("aws_launch_template", "app"), ("aws_instance", "nfs")]:
        expr = tf.resource(*owner)["user_data"]
        m = re.search(r'templatefile\("\$\{path\.module\}/templates/([^"]+)", \{(.*)\}\)', expr, re.S)
        assert m, f"{owner}: user data is not a templatefile() of templates/: {expr[:120]}"
        args, depth, current = {}, 0, ""
        for ch in m.group(2) + ",":
            if ch == "," and depth == 0:
                if current.strip():
                    key, _, value = current.partition("=")
                    args[key.strip()] = value.strip()
                current = ""
                continue
            depth += ch in "([{"
            depth -= ch in ")]}"
            current += ch
        calls[".".join(owner)] = (m.group(1), args)
    return calls


SECRET_SOURCES = re.compile(r"random_password|password|aws_ssm_parameter\.[\w\[\]]+\.value|secret_string"
                            r"|aws_secretsmanager|database_url\b(?!_param)", re.I)


def test_user_data_gets_no_secret(tf):
    calls = templatefile_calls(tf)
    for owner, (template, args) in calls.items():
        for key, expr in args.items():
            assert not SECRET_SOURCES.search(expr), f"{owner} passes {key} = {expr} into user data"
            assert not SECRET_SOURCES.search(key) or key.endswith("_parameter"), f"{owner}: {key}"
    _, app_args = calls["aws_launch_template.app"]
    # The template is told where the URL is, not what it is.
    assert app_args["database_url_parameter"] == "local.database_url_param"
    assert tf.resource("aws_ssm_parameter", "database_url")["name"] == "${local.database_url_param}"
    # Extra settings may not smuggle the URL or the signing key into user data.
    condition = block(tf.variables["reel_settings"], "validation")["condition"]
    assert "REEL_DATABASE_URL" in condition and "REEL_SIGNING_KEY" in condition


def test_app_template_reads_the_database_url_from_ssm(tf):
    text = (TEMPLATES / "app-user-data.sh.tftpl").read_text()
    assert "REEL_DATABASE_URL=postgres" not in text
    assert re.search(r"aws ssm get-parameter [^\n]*--name '\$\{database_url_parameter\}' --with-decryption", text)
    assert re.search(r"chmod 0600 \"\$tmp\"\nmv -f \"\$tmp\" /etc/reel/reel\.env", text), \
        "reel.env must be written 0600 and moved into place whole"
    assert "umask 077" in text
    # Every Reel unit waits for it, so no host ever starts on SQLite by accident.
    for unit in ["reel-server.service", "reel-worker@.service", "reel-autoscaler.service"]:
        assert unit in text
    assert "Requires=reel-config.service\nAfter=reel-config.service" in text
    # The instance role may read exactly these parameters.
    policy = tf.data["aws_iam_policy_document"]["app"]
    statements = {s["sid"]: s for s in as_list(policy["statement"])}
    assert statements["ReadReelSecrets"]["actions"] == ["ssm:GetParameter"]
    resources = statements["ReadReelSecrets"]["resources"]
    assert len(resources) == 2 and all("${local.database_url_param}" in r or "${local.admin_key_param}" in r
                                       for r in resources), resources


# A small templatefile(): ${name}, $${ and %%{ escapes, %{ for a[, b] in x ~} ... %{ endfor ~}.
DIRECTIVE = re.compile(r"%\{(~?)\s*(for\s+(\w+)(?:\s*,\s*(\w+))?\s+in\s+(\w+)|endfor)\s*(~?)\}")


def render_template(text: str, args: dict) -> str:
    # Escapes first, so that a literal "$${" or "%%{" is neither an interpolation nor a directive.
    text = text.replace("$${", "\0DOLLAR").replace("%%{", "\0PERCENT")

    def strip_marks(body: str) -> str:
        def sub(m):
            return "\0STRIPLEFT" * bool(m.group(1)) + m.group(0) + "\0STRIPRIGHT" * bool(m.group(6))
        return DIRECTIVE.sub(sub, body)

    def expand(body: str, scope: dict) -> str:
        out, pos = [], 0
        while (m := DIRECTIVE.search(body, pos)) is not None:
            out.append(body[pos:m.start()])
            assert m.group(2).startswith("for"), "endfor without for"
            depth, end = 1, m.end()
            while depth:
                inner = DIRECTIVE.search(body, end)
                assert inner, "for without endfor"
                depth += 1 if inner.group(2).startswith("for") else -1
                end = inner.end()
                close = inner
            loop_body = body[m.end():close.start()]
            a, b, collection = m.group(3), m.group(4), scope[m.group(5)]
            items = collection.items() if isinstance(collection, dict) else enumerate(collection)
            for k, v in items:
                out.append(expand(loop_body, {**scope, **({a: k, b: v} if b else {a: v})}))
            pos = end
        out.append(body[pos:])
        return interpolate("".join(out), scope)

    def interpolate(body: str, scope: dict) -> str:
        def sub(m):
            name = m.group(1)
            assert re.fullmatch(r"\w+", name), f"template expression ${{{name}}} is not a plain name"
            assert name in scope, f"template uses ${{{name}}}, which templatefile() is not given"
            return str(scope[name])
        return re.sub(r"\$\{([^}]*)\}", sub, body)

    marked = strip_marks(text)
    marked = re.sub(r"\s*\0STRIPLEFT", "", marked)
    rendered = expand(marked, args)
    rendered = re.sub(r"\0STRIPRIGHT[ \t]*\n?", "", rendered)
    return rendered.replace("\0DOLLAR", "${").replace("\0PERCENT", "%{")


SAMPLE_VALUES = {
    "region": "eu-west-1", "release_s3_uri": "s3://releases/reel-1.0.tar.gz", "release_sha256": "",
    "reel_uid": 850, "nfs_what": "192.168.1.150:/export/reel",
    "nfs_options": "rw,hard,noatime,vers=4.1,lookupcache=positive,_netdev",
    "database_url_parameter": "/reel/database-url", "admin_key_parameter": "/reel/admin-key",
    "metrics_namespace": "Reel", "asg_name": "reel-app", "drain_hook_name": "reel-drain",
    "reel_settings": {"REEL_MAX_WORKERS": "4", "REEL_LOG_LEVEL": "info"},
    "trusted_proxies": "192.168.1.0/26,192.168.1.64/26",
    "volume_id": "vol-0123456789abcdef0", "volume_serial": "vol0123456789abcdef0",
    "client_cidrs": ["192.168.1.128/26", "192.168.1.192/26"], "export_path": "/export/reel",
    "export_device": "/dev/sdf",
}


def test_template_renderer_is_faithful():
    """The renderer the next test relies on: escapes, loops with whitespace stripping, unknown names."""
    text = 'a=${x} b=$${y} c=%%{z}\n%{ for k, v in m ~}\n${k}=${v}\n%{ endfor ~}\nend %{ for c in l }[${c}]%{ endfor }\n'
    assert render_template(text, {"x": 1, "m": {"K": "V", "L": "W"}, "l": ["p", "q"]}) == \
        "a=1 b=${y} c=%{z}\nK=V\nL=W\nend [p][q]\n"
    with pytest.raises(AssertionError, match="not given"):
        render_template("${missing}", {})
    with pytest.raises(AssertionError, match="not a plain name"):
        render_template("${var:-x}", {})


EMBEDDED_SCRIPT = re.compile(r"^cat > (/usr/local/sbin/[\w-]+) <<'SCRIPT'\n(.*?)^SCRIPT$", re.M | re.S)


def rendered_scripts(tf, directory: Path) -> list[Path]:
    """Each user data template rendered as templatefile() would, and each script it writes with
    `cat > /usr/local/sbin/... <<'SCRIPT'`, as files in directory."""
    out = []
    for _, (template, args) in templatefile_calls(tf).items():
        rendered = render_template((TEMPLATES / template).read_text(), {k: SAMPLE_VALUES[k] for k in args})
        script = directory / template.removesuffix(".tftpl")
        script.write_text(rendered)
        out.append(script)
        for m in EMBEDDED_SCRIPT.finditer(rendered):
            embedded = directory / Path(m.group(1)).name
            embedded.write_text(m.group(2))
            out.append(embedded)
    return out


def test_user_data_scripts_pass_shellcheck(tf, tmp_path):
    if shutil.which("shellcheck") is None:
        missing_tool("shellcheck is not installed")
    scripts = rendered_scripts(tf, tmp_path)
    assert {p.name for p in scripts} >= {"app-user-data.sh", "nfs-user-data.sh", "reel-config", "reel-drain",
                                         "reel-publish-metrics"}
    result = subprocess.run(["shellcheck", "--shell=bash", "--severity=style", *map(str, scripts)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_user_data_templates_render_to_valid_bash(tf, tmp_path):
    for path in rendered_scripts(tf, tmp_path):
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path.name} is not valid bash:\n{result.stderr}"
        assert path.read_text().startswith("#!/bin/bash\n"), path.name
    for owner, (template, args) in templatefile_calls(tf).items():
        text = (TEMPLATES / template).read_text()
        used = {m.group(1) for m in re.finditer(r"(?<!\$)\$\{(\w+)\}", text)}
        used |= {m.group(5) for m in DIRECTIVE.finditer(text) if m.group(5)}
        loop_names = {n for m in DIRECTIVE.finditer(text) for n in (m.group(3), m.group(4)) if n}
        assert used - loop_names == set(args), \
            f"{owner}: template names {sorted(used - loop_names)} but templatefile() gives {sorted(args)}"
        rendered = render_template(text, {k: SAMPLE_VALUES[k] for k in args})
        # EC2 refuses user data above 16 KiB (before base64): leave room for reel_settings.
        assert len(rendered.encode()) <= 14 * 1024, f"{template} renders to {len(rendered.encode())} bytes"
        if template.startswith("app"):
            assert "REEL_MAX_WORKERS=4\nREEL_LOG_LEVEL=info\nSETTINGS\n" in rendered
        else:
            assert "$EXPORT 192.168.1.128/26(rw,sync,root_squash,no_subtree_check) " \
                   "192.168.1.192/26(rw,sync,root_squash,no_subtree_check)" in rendered


AWS_STANDIN = """#!/bin/bash
# Stands in for the AWS CLI, which cannot reach AWS here: SSM answers with the admin key the test
# made (or fails like a missing parameter), CloudWatch calls are written down for the test to read.
case "$1 $2" in
    "ssm get-parameter") [ -f "$STANDIN/key" ] && cat "$STANDIN/key" || { echo "ParameterNotFound" >&2; exit 254; } ;;
    "cloudwatch put-metric-data") printf '%s\\n' "$@" > "$STANDIN/put-metric-data" ;;
    *) echo "unexpected aws $*" >&2; exit 2 ;;
esac
"""


def test_queue_metric_publisher_reads_real_reel_metrics(tf, tmp_path):
    """The publisher the hosts run every minute, against a real `reel serve` with one video queued:
    it finds reel_jobs{state="queued"} in /metrics with the admin key and publishes that number."""
    reel_bin = os.environ.get("REEL_BIN")
    if not reel_bin or not Path(reel_bin).is_file():
        missing_tool("REEL_BIN (a built reel binary) is not set")
    import socket
    import time
    import urllib.request

    data = tmp_path / "data"
    env = {**os.environ, "REEL_PROFILES_DIR": str(REPO / "profiles"), "REEL_DATABASE_URL": ""}
    made = subprocess.run([reel_bin, "keys", "create", "--name", "cloudwatch", "--scope", "admin",
                           "--data", str(data)], capture_output=True, text=True, env=env, check=True)
    key = made.stdout.strip().split()[-1]
    subprocess.run([reel_bin, "ingest", str(REPO / "Fixtures" / "landscape.mp4"), "--data", str(data)],
                   capture_output=True, text=True, env=env, check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([reel_bin, "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            metrics = r.read().decode()
        queued = re.search(r'^reel_jobs\{state="queued"\} (\S+)$', metrics, re.M)
        assert queued and float(queued.group(1)) >= 1, "the ingested video's job is not counted as queued"

        scripts = {p.name: p for p in rendered_scripts(tf, tmp_path)}
        standin = tmp_path / "standin"
        standin.mkdir()
        (standin / "aws").write_text(AWS_STANDIN)
        (standin / "aws").chmod(0o755)
        run_env = {**os.environ, "PATH": f"{standin}:{os.environ['PATH']}", "STANDIN": str(standin),
                   "REEL_PORT": str(port)}
        publisher = ["bash", str(scripts["reel-publish-metrics"])]

        # No admin key in SSM yet: it says so and publishes nothing, without failing the unit.
        first = subprocess.run(publisher, capture_output=True, text=True, env=run_env, timeout=60)
        assert first.returncode == 0 and "no admin key" in first.stdout, first
        assert not (standin / "put-metric-data").exists()

        (standin / "key").write_text(key + "\n")
        second = subprocess.run(publisher, capture_output=True, text=True, env=run_env, timeout=60)
        assert second.returncode == 0, second
        args = (standin / "put-metric-data").read_text().split("\n")
        value = args[args.index("--value") + 1]
        assert float(value) == float(queued.group(1))
        assert args[args.index("--namespace") + 1] == SAMPLE_VALUES["metrics_namespace"]
        assert args[args.index("--metric-name") + 1] == "QueuedJobs"
        assert args[args.index("--dimensions") + 1] == f"AutoScalingGroupName={SAMPLE_VALUES['asg_name']}"

        # A wrong key: /metrics refuses it, and the publisher fails rather than publish a guess.
        (standin / "key").write_text("reel_not-a-key\n")
        (standin / "put-metric-data").unlink()
        third = subprocess.run(publisher, capture_output=True, text=True, env=run_env, timeout=60)
        assert third.returncode != 0 and not (standin / "put-metric-data").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_user_data_installs_the_shipped_units_and_the_mount(tf):
    text = (TEMPLATES / "app-user-data.sh.tftpl").read_text()
    shipped = {p.name for p in (REPO / "systemd").iterdir()} - {"reel.env.example"}
    for name in shipped:
        assert f'"$src/systemd/{name}"' in text, f"user data does not install systemd/{name}"
    assert "systemctl enable --now reel.target" in text
    assert "systemctl enable mnt-nfs_share.mount" in text
    # The units expect the storage root under /mnt/nfs_share, from the shipped mount unit.
    assert "RequiresMountsFor=/mnt/nfs_share/reel" in (REPO / "systemd" / "reel-server.service").read_text()
    assert "s|^What=.*|What=$SHARE_WHAT|" in text and "mountpoint -q /mnt/nfs_share" in text
    assert "REEL_DATA_DIR=/mnt/nfs_share/reel" in text


def test_user_data_trusts_only_the_balancer_subnets(tf):
    """The ALB terminates HTTPS: Reel believes X-Forwarded-Proto from the public subnets it lives in, and
    from nobody else (the app subnets hold the hosts themselves)."""
    text = (TEMPLATES / "app-user-data.sh.tftpl").read_text()
    assert "REEL_TRUSTED_PROXIES=${trusted_proxies}" in text
    user_data = str(tf.resource("aws_launch_template", "app")["user_data"])
    assert re.search(r"trusted_proxies\W+[^,]*join\(\W*,\W*,\s*var\.public_subnet_cidrs\)", user_data), user_data


# --- load balancer ------------------------------------------------------------------------------------

def test_target_group_health_check(tf):
    tg = tf.resource("aws_lb_target_group", "app")
    assert tg["port"] == 5000 and tg["protocol"] == "HTTP"
    hc = block(tg, "health_check")
    assert hc.get("enabled", True) is True
    assert hc["path"] == "/"
    assert hc.get("port", "traffic-port") in ("traffic-port", "5000", 5000)
    assert hc.get("protocol", "HTTP") == "HTTP"
    assert (hc["healthy_threshold"], hc["unhealthy_threshold"], hc["timeout"], hc["interval"]) == (2, 2, 5, 30)


MODERN_TLS_POLICIES = {"ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                       "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
                       "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09"}


def test_listeners_redirect_http_and_serve_https_with_acm(tf):
    listeners = tf.resources["aws_lb_listener"]
    assert set(listeners) == {"http", "https"}, "only these two listeners may face the internet"
    http = listeners["http"]
    assert http["port"] == 80 and http["protocol"] == "HTTP"
    action = block(http, "default_action")
    assert action["type"] == "redirect", "plain HTTP must only redirect, never forward"
    redirect = block(action, "redirect")
    assert redirect["protocol"] == "HTTPS" and str(redirect["port"]) == "443"
    assert redirect["status_code"] in ("HTTP_301", "HTTP_308")

    https = listeners["https"]
    assert https["port"] == 443 and https["protocol"] == "HTTPS"
    assert https["certificate_arn"] == "${var.certificate_arn}"
    assert "acm" in block(tf.variables["certificate_arn"], "validation")["condition"]
    assert tf.value(https["ssl_policy"]) in MODERN_TLS_POLICIES
    forward = block(https, "default_action")
    assert forward["type"] == "forward" and forward["target_group_arn"] == "${aws_lb_target_group.app.arn}"
    assert tf.resource("aws_lb", "main")["drop_invalid_header_fields"] is True


# --- Auto Scaling -------------------------------------------------------------------------------------

def _unit_seconds(unit: str, key: str) -> int:
    m = re.search(rf"^{key}=(\d+)$", (REPO / "systemd" / unit).read_text(), re.M)
    assert m, f"{key}= not in systemd/{unit}"
    return int(m.group(1))


def test_autoscaling_group_bounds_and_health_check(tf):
    asg = tf.resource("aws_autoscaling_group", "app")
    bounds = [tf.value(asg[k]) for k in ("min_size", "desired_capacity", "max_size")]
    assert bounds == [1, 1, 4]
    assert asg["health_check_type"] == "ELB"
    assert tf.value(asg["health_check_grace_period"]) > 0
    assert asg["target_group_arns"] == ["${aws_lb_target_group.app.arn}"]
    lt = block(asg, "launch_template")
    assert lt["id"] == "${aws_launch_template.app.id}"
    policy = tf.resource("aws_autoscaling_policy", "cpu")
    assert policy["autoscaling_group_name"] == "${aws_autoscaling_group.app.name}"
    assert policy["policy_type"] == "TargetTrackingScaling"
    tracking = block(policy, "target_tracking_configuration")
    assert block(tracking, "predefined_metric_specification")["predefined_metric_type"] == "ASGAverageCPUUtilization"
    assert 0 < tf.value(tracking["target_value"]) < 100


def test_terminating_hosts_drain_first(tf):
    (hook,) = [h for h in tf.resources["aws_autoscaling_lifecycle_hook"].values()
               if h["autoscaling_group_name"] == "${aws_autoscaling_group.app.name}"]
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["name"] == "${local.drain_hook_name}"
    # Long enough for the load balancer to let go and every worker to drain (systemd's stop timeout).
    worker_stop = _unit_seconds("reel-worker@.service", "TimeoutStopSec")
    deregistration = tf.resource("aws_lb_target_group", "app")["deregistration_delay"]
    assert tf.value(hook["heartbeat_timeout"]) > worker_stop + deregistration
    # The host completes the action itself, after stopping Reel, with a role allowed to.
    text = (TEMPLATES / "app-user-data.sh.tftpl").read_text()
    drain = text[text.index("cat > /usr/local/sbin/reel-drain"):]
    stop = drain.index("systemctl stop 'reel-worker@*.service'")
    complete = drain.index("aws autoscaling complete-lifecycle-action")
    assert stop < complete, "the lifecycle action must be completed after the workers are stopped"
    assert "--lifecycle-hook-name '${drain_hook_name}'" in drain
    assert "autoscaling/target-lifecycle-state" in drain
    assert "systemctl enable --now reel-drain.service" in text
    statements = {s["sid"]: s for s in as_list(tf.data["aws_iam_policy_document"]["app"]["statement"])}
    assert "autoscaling:CompleteLifecycleAction" in statements["CompleteOwnDrain"]["actions"]
    assert statements["CompleteOwnDrain"]["resources"][0].endswith("autoScalingGroupName/${local.asg_name}")
    assert tf.resource("aws_autoscaling_group", "app")["name"] == "${local.asg_name}"


def test_hosts_use_imdsv2_and_encrypted_disks(tf):
    for owner in [tf.resource("aws_launch_template", "app"), tf.resource("aws_instance", "nfs")]:
        assert block(owner, "metadata_options")["http_tokens"] == "required"
    ebs = block(block(tf.resource("aws_launch_template", "app"), "block_device_mappings"), "ebs")
    assert ebs["encrypted"] is True
    assert tf.resource("aws_ebs_volume", "nfs")["encrypted"] is True
    assert tf.resource("aws_efs_file_system", "shared")["encrypted"] is True


# --- monitoring and backups ---------------------------------------------------------------------------

def test_alarms_cover_hosts_errors_cpu_and_backlog(tf):
    alarms = tf.resources["aws_cloudwatch_metric_alarm"]
    metrics = {(a["namespace"], a["metric_name"]) for a in alarms.values()}
    for wanted in [("AWS/ApplicationELB", "UnHealthyHostCount"), ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
                   ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"), ("AWS/EC2", "CPUUtilization"),
                   ("${var.metrics_namespace}", "QueuedJobs")]:
        assert wanted in metrics, f"no alarm on {wanted}"
    for name, alarm in alarms.items():
        assert alarm.get("alarm_actions"), f"alarm {name} notifies nobody"
    # The backlog alarm watches what the hosts publish, under the same name and dimension.
    text = (TEMPLATES / "app-user-data.sh.tftpl").read_text()
    assert "--namespace '${metrics_namespace}'" in text and "--metric-name QueuedJobs" in text
    assert "--dimensions AutoScalingGroupName='${asg_name}'" in text
    assert alarms["queue_backlog"]["dimensions"] == {"AutoScalingGroupName": "${local.asg_name}"}
    assert 'reel_jobs{state=\\"queued\\"}' in text


def test_shared_storage_is_backed_up(tf):
    # Whichever storage is chosen, a selection with the same condition backs it up.
    for selection, storage in [("nfs", ("aws_ebs_volume", "nfs")), ("efs", ("aws_efs_file_system", "shared"))]:
        body = tf.resource("aws_backup_selection", selection)
        assert body["resources"] == [f"${{{storage[0]}.{storage[1]}[0].arn}}"]
        assert body["count"] == tf.resource(*storage)["count"] == f'${{var.shared_storage == "{selection}" ? 1 : 0}}'
        assert body["plan_id"] == "${aws_backup_plan.shared_storage.id}"
    rule = block(tf.resource("aws_backup_plan", "shared_storage"), "rule")
    assert tf.value(block(rule, "lifecycle")["delete_after"]) > 0


def test_readme_documents_every_variable_and_output(tf):
    readme = (TF_DIR / "README.md").read_text()
    table = readme.split("## Variables", 1)[1].split("\n## ", 1)[0]
    undocumented = [name for name in tf.variables if f"`{name}`" not in table]
    assert not undocumented, f"deploy/terraform/README.md's Variables table lacks {undocumented}"
    outputs = [name for item in parse_file(TF_DIR / "outputs.tf")["output"] for name in item]
    assert outputs and all(f"`{name}`" in table for name in outputs), "README lists not every output"
    for name, body in tf.variables.items():
        assert body.get("description"), f"variable {name} has no description"


# --- terraform fmt layout -----------------------------------------------------------------------------

def _bracket_change(text: str) -> int:
    # Quoted strings may hold brackets ("${var.x}", regexes); they balance within the string.
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    code = code if not code.lstrip().startswith("#") else ""
    code = re.sub(r"\s#.*$", "", code)
    return sum(code.count(c) for c in "{[(") - sum(code.count(c) for c in "}])")


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: p.name)
def test_terraform_fmt_layout(path):
    """Layout as Terraform's formatter (hclwrite) makes it: each line that opens brackets indents the
    following lines one level (however many it opens), the line closing them returns to its level;
    and `=` is aligned, one space after the longest name, within each run of one-line attributes (a
    multi-line value, a blank line, a comment or a block ends a run)."""
    text = path.read_text()
    assert "\t" not in text, f"{path.name} has tabs"
    lines = text.split("\n")
    indents: list[int] = []
    run: list[tuple[int, int, int]] = []

    def close_run():
        if run:
            widest = max(key_end for _, key_end, _ in run)
            for n, _, eq in run:
                assert eq == widest + 1, f"{path.name}:{n}: `=` not aligned (terraform fmt) in:\n" + \
                    "\n".join(lines[m - 1] for m, _, _ in run)
        run.clear()

    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            close_run()
            continue
        assert line == line.rstrip(), f"{path.name}:{n}: trailing whitespace"
        net = _bracket_change(line)
        if net < 0:
            closed = -net
            while closed > 0 and indents:
                if closed >= indents[-1]:
                    closed -= indents.pop()
                else:
                    indents[-1] -= closed
                    closed = 0
        indent = len(line) - len(line.lstrip(" "))
        assert indent == 2 * len(indents), \
            f"{path.name}:{n}: indented {indent}, terraform fmt indents {2 * len(indents)}"
        if net > 0:
            indents.append(net)
        m = re.match(r"^(\s*)([\w\"-]+)(\s*)=(?!=)", line)
        if m and not stripped.startswith("#") and _bracket_change(line[m.end():]) == 0:
            key_end = len(m.group(1)) + len(m.group(2))
            run.append((n, key_end, key_end + len(m.group(3))))
        else:
            close_run()
    close_run()
    assert not indents, f"{path.name}: brackets do not balance"


# --- checkov ------------------------------------------------------------------------------------------

def checkov_binary() -> str | None:
    venv = CHECKOV_VENV / "bin" / "checkov"
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    return shutil.which("checkov")


def test_checkov_finds_nothing_unexplained(tmp_path):
    checkov = checkov_binary()
    if checkov is None:
        missing_tool(f"checkov is not installed (looked in {CHECKOV_VENV}/bin and on PATH)")
    # --skip-download: no network (guidelines and severities are fetched otherwise).
    # Not --quiet: its JSON leaves out the skipped checks, whose reasons are checked below.
    result = subprocess.run([checkov, "-d", str(TF_DIR), "--framework", "terraform", "--compact",
                             "--skip-download", "--output", "json"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}):\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed, passed, skipped, parse_errors = [], 0, [], 0
    for r in reports:
        if not isinstance(r, dict) or "results" not in r:
            continue
        failed += r["results"].get("failed_checks", [])
        skipped += r["results"].get("skipped_checks", [])
        passed += r["summary"]["passed"]
        parse_errors += r["summary"]["parsing_errors"]
    assert parse_errors == 0, "checkov could not parse some files"
    assert not failed, "checkov findings (fix them, or suppress inline with a reason):\n" + "\n".join(
        f"  {c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']}:{c['file_line_range']})"
        for c in failed)
    assert passed > 100, f"checkov passed only {passed} checks: did it read the files?"
    assert result.returncode == 0, result.stderr[-2000:]
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.split()) >= 5, f"{check['check_id']} on {check['resource']} is suppressed without a reason"


def test_every_suppression_is_needed(tmp_path):
    """With the suppressions taken out, checkov fails exactly the checks they suppress: none is left
    over from a finding that was fixed since."""
    checkov = checkov_binary()
    if checkov is None:
        missing_tool(f"checkov is not installed (looked in {CHECKOV_VENV}/bin and on PATH)")
    copy = tmp_path / "terraform"
    shutil.copytree(TF_DIR, copy)
    suppressed = set()
    for path in copy.glob("*.tf"):
        text = path.read_text()
        suppressed |= {(m.group(1), path.name) for m in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+)", text)}
        path.write_text(re.sub(r"#\s*checkov:skip=", "# (suppression removed) ", text))
    result = subprocess.run([checkov, "-d", str(copy), "--framework", "terraform", "--compact", "--quiet",
                             "--skip-download", "--output", "json"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    report = json.loads(result.stdout)
    failed = {(c["check_id"], Path(c["file_path"]).name) for c in report["results"]["failed_checks"]}
    assert suppressed - failed == set(), f"suppressions of checks that pass anyway: {sorted(suppressed - failed)}"
    assert failed - suppressed == set(), f"findings without a suppression: {sorted(failed - suppressed)}"


def test_every_suppression_has_a_reason():
    found = 0
    for path in TF_FILES:
        for n, line in enumerate(path.read_text().split("\n"), 1):
            m = re.search(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$", line)
            if m:
                found += 1
                assert m.group(2) and len(m.group(2).split()) >= 5, \
                    f"{path.name}:{n}: checkov:skip={m.group(1)} needs a written reason after the colon"
    assert found, "no suppressions found at all: the pattern no longer matches how they are written"
