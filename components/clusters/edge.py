"""k3s on edge hosts over SSH, behind the strata cluster contract.

What it creates, and why each choice was made:

- one ``remote.Command`` per host that writes ``/etc/rancher/k3s/config.yaml`` and runs the k3s installer.
  The k3s settings live in that file rather than on a long command line: the file is the same YAML on every
  run (deterministic keys, fixed order), it is what an operator finds when they log in to a box, and the
  join token it carries never appears in a process list because the file arrives on the command's standard
  input. The installer is idempotent, so the *same* script is the ``update`` command: a new k3s version or a
  changed setting changes the command's inputs and re-runs the installer in place, which upgrades or
  reconfigures k3s without touching its data.
- no ``triggers`` on the install commands, on purpose: the Command provider *replaces* a resource whose
  triggers change, and a replacement runs the old resource's ``delete`` (the k3s uninstall script) after the
  new install, wiping the node. Input changes already re-run the installer, so triggers add nothing but risk.
- the join token is created by k3s itself on the first server and read back from
  ``/var/lib/rancher/k3s/server/node-token`` as a secret output (no random provider is needed, nothing has to
  be put in config beforehand, and the value is stable: k3s keeps its token for the life of the cluster). The
  full ``K10<ca-hash>::server:<secret>`` form also pins the cluster CA, so joining nodes verify the server.
- the kubeconfig read back from ``/etc/rancher/k3s/k3s.yaml`` (secret, never logged), with the server address
  rewritten from 127.0.0.1 to the first host; the read-back commands *do* carry triggers (version and first
  server config) so they are re-read after a reinstall -- they have no delete command, so replacing them is
  harmless.
- a Kubernetes provider with ``delete_unreachable``: a decommissioned site must not block ``pulumi destroy``.

Every command builder here is a pure function of the spec; every value from the environment file that
reaches a shell is ``shlex``-quoted, and host addresses and users are validated before anything runs.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pulumi
from pulumi_command import remote

from components.clusters.checks.edge import host_ip, host_key, validate
from components.clusters.contract import ClusterComponent, ClusterContract, make_provider
from components.clusters.secrets import read_secret
from components.clusters.spec import EdgeAirgap, EdgeClusterSpec, EdgeHost, EdgeK3s, EdgeSettings
from components.lifecycle import aliases, fixed_name
from packs import yamlio
from packs.model import Target

TYPE = "strata:clusters:EdgeCluster"
INSTALL_URL = "https://get.k3s.io"
CONFIG_PATH = "/etc/rancher/k3s/config.yaml"
KUBECONFIG_PATH = "/etc/rancher/k3s/k3s.yaml"
NODE_TOKEN_PATH = "/var/lib/rancher/k3s/server/node-token"
IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
BINARY_PATH = "/usr/local/bin/k3s"
#: The installer writes its uninstall scripts to /usr/local/bin, or /opt/bin where /usr/local/bin is read-only.
BIN_DIRS = ("/usr/local/bin", "/opt/bin")
API_PORT = 6443
STORAGE_CLASS = "local-path"
#: Server addresses a k3s kubeconfig may name; all mean "this host" and must become the first host's address.
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")

Role = Literal["server", "agent"]


# ----------------------------------------------------------------------------------- pure command builders


def disabled_components(settings: EdgeSettings) -> tuple[str, ...]:
    """What k3s must not deploy: the profile's list, plus local-storage when the profile opts out of it."""
    disabled = list(settings.kubernetes.disable)
    if not settings.storage.local_path and "local-storage" not in disabled:
        disabled.append("local-storage")
    return tuple(disabled)


def api_url(address: str) -> str:
    """The API server URL of a host (IPv6 literals in brackets)."""
    ip = host_ip(address)
    host = f"[{address}]" if ip is not None and ip.version == 6 else address
    return f"https://{host}:{API_PORT}"


def node_config(
    host: EdgeHost,
    settings: EdgeSettings,
    *,
    tls_sans: Sequence[str] = (),
    server_url: str | None = None,
    token: str | None = None,
    cluster_init: bool = False,
) -> dict[str, Any]:
    """The k3s ``config.yaml`` of one host, as an ordered mapping.

    Servers carry every cluster-wide setting (k3s refuses a joining server whose critical settings differ
    from the cluster's); agents carry only their name and how to join.
    """
    config: dict[str, Any] = {"node-name": host.name}
    if server_url is not None:
        config["server"] = server_url
    if host.role == "agent":
        if token is not None:
            config["token"] = token
        return config
    k3s: EdgeK3s = settings.kubernetes
    if cluster_init:
        # Embedded etcd instead of SQLite, so that more servers can join later.
        config["cluster-init"] = True
    config["write-kubeconfig-mode"] = "0600"
    config["tls-san"] = list(tls_sans)
    config["cluster-cidr"] = k3s.cluster_cidr
    config["service-cidr"] = k3s.service_cidr
    config["flannel-backend"] = k3s.flannel_backend
    if k3s.flannel_backend == "none":
        # The CNI the profile brings (Cilium, Calico) enforces NetworkPolicy; k3s's own controller would fight it.
        config["disable-network-policy"] = True
    disabled = disabled_components(settings)
    if disabled:
        config["disable"] = list(disabled)
    if token is not None:
        config["token"] = token
    return config


def render_config(config: Mapping[str, Any]) -> str:
    """Deterministic YAML: the same settings give byte-identical text, so a plan never shows a spurious diff."""
    return yamlio.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def as_root(script: str, user: str) -> str:
    """Run ``script`` with POSIX sh as root: directly for root, through non-interactive sudo otherwise.

    Wrapping in ``sh -c`` also makes the script independent of the login shell of the SSH user.
    """
    wrapped = f"sh -c {shlex.quote(script)}"
    return wrapped if user == "root" else f"sudo -n {wrapped}"


def _require_file(path: str) -> str:
    message = shlex.quote(f"strata: {path} is missing on this host")
    return f"[ -f {shlex.quote(path)} ] || {{ echo {message} >&2; exit 1; }}"


def install_script(role: Role, version: str, airgap: EdgeAirgap | None = None) -> str:
    """The shell script that writes config.yaml from standard input and runs the k3s installer.

    Online, the installer is fetched from get.k3s.io and pinned to ``version``. Air-gapped, the binary,
    script and images already on the host are used, and the binary's own version is checked against
    ``version`` so a stale artifact fails loudly instead of installing the wrong Kubernetes.
    """
    q = shlex.quote
    lines = [
        "set -eu",
        f"mkdir -p {q(str(PurePosixPath(CONFIG_PATH).parent))}",
        # The file may hold the join token: it is created readable by root only.
        f"(umask 077 && cat > {q(CONFIG_PATH + '.strata')})",
        f"mv -f {q(CONFIG_PATH + '.strata')} {q(CONFIG_PATH)}",
    ]
    if airgap is None:
        lines.append(f"curl -sfL {q(INSTALL_URL)} | INSTALL_K3S_VERSION={q(version)} sh -s - {role}")
        return "\n".join(lines) + "\n"
    lines += [_require_file(airgap.binary), _require_file(airgap.install_script), _require_file(airgap.images)]
    lines.append(f"mkdir -p {q(IMAGES_DIR)}")
    if str(PurePosixPath(airgap.images).parent) != IMAGES_DIR:
        lines.append(f"cp -f {q(airgap.images)} {q(IMAGES_DIR + '/')}")
    if airgap.binary != BINARY_PATH:
        lines.append(f"install -m 0755 {q(airgap.binary)} {q(BINARY_PATH)}")
    mismatch = q(f"strata: {airgap.binary} is not k3s {version}")
    lines.append(
        f"{q(BINARY_PATH)} --version | grep -qF {q(f'k3s version {version} ')} || {{ echo {mismatch} >&2; exit 1; }}"
    )
    lines.append(
        f"INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_VERSION={q(version)} sh {q(airgap.install_script)} {role}"
    )
    return "\n".join(lines) + "\n"


def install_command(host: EdgeHost, version: str, airgap: EdgeAirgap | None = None) -> str:
    """The remote command installing (or upgrading, or reconfiguring) k3s on ``host``."""
    return as_root(install_script(host.role, version, airgap), host.user)


def uninstall_command(host: EdgeHost) -> str:
    """The remote command removing k3s from ``host``; succeeds when k3s is already gone."""
    script_name = "k3s-uninstall.sh" if host.role == "server" else "k3s-agent-uninstall.sh"
    candidates = " ".join(shlex.quote(f"{d}/{script_name}") for d in BIN_DIRS)
    script = f'for f in {candidates}; do if [ -x "$f" ]; then exec "$f"; fi; done\n'
    return as_root(script, host.user)


def read_file_command(path: str, user: str) -> str:
    """The remote command printing a root-only file (the kubeconfig, the node token)."""
    return as_root(f"cat {shlex.quote(path)}", user)


def rewrite_kubeconfig(text: str, address: str, name: str) -> str:
    """The k3s kubeconfig pointed at ``address`` instead of the host itself, with ``default`` renamed to ``name``.

    k3s writes ``server: https://127.0.0.1:6443`` and names everything ``default``; the first is useless off the
    host and the second collides as soon as two sites are merged into one kubeconfig.
    """
    doc = yamlio.safe_load(text) if text else None
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ValueError(f"{KUBECONFIG_PATH} on {address} is not a kubeconfig with a cluster")
    for entry in doc["clusters"]:
        cluster = entry.get("cluster") or {}
        server = cluster.get("server")
        if server:
            parts = urlsplit(server)
            if parts.hostname in _LOCAL_HOSTS:
                ip = host_ip(address)
                host = f"[{address}]" if ip is not None and ip.version == 6 else address
                cluster["server"] = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or API_PORT}"))

    def rename(value: Any) -> Any:
        return name if value == "default" else value

    for section in ("clusters", "contexts", "users"):
        for entry in doc.get(section) or []:
            entry["name"] = rename(entry.get("name"))
    for entry in doc.get("contexts") or []:
        context = entry.get("context") or {}
        for key in ("cluster", "user"):
            if key in context:
                context[key] = rename(context[key])
    if "current-context" in doc:
        doc["current-context"] = rename(doc["current-context"])
    return yamlio.safe_dump(doc, sort_keys=False)


def parse_token(stdout: str | None, address: str) -> str:
    """The join token from the node-token read-back; an empty file means k3s did not start on the first server."""
    token = (stdout or "").strip()
    if not token:
        raise ValueError(f"{NODE_TOKEN_PATH} on {address} is empty: k3s did not finish starting there")
    return token


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------- component


class EdgeCluster(ClusterComponent):
    """k3s on SSH-reachable hosts: the first server bootstraps, other servers and agents join it."""

    validate = staticmethod(validate)

    def __init__(
        self,
        name: str,
        spec: EdgeClusterSpec,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        protect: bool = False,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        adopt_existing: bool = False,
    ) -> None:
        # Everything that can fail (settings, hosts, the SSH key) fails before anything is registered.
        parsed = validate(spec, settings)
        private_key = read_secret(spec.ssh_key, "ssh_key")
        # ``tags`` has nothing to land on: a k3s host is not a cloud resource, so it is accepted and unused.
        super().__init__(TYPE, name, None, opts)

        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect))
        version = parsed.kubernetes.version
        first = spec.hosts[0]
        servers = [h for h in spec.hosts if h.role == "server"]
        tls_sans = [h.address for h in servers]
        server_url = api_url(first.address)

        def connection(host: EdgeHost) -> remote.ConnectionArgs:
            return remote.ConnectionArgs(
                host=host.address, port=host.port, user=host.user, private_key=private_key, host_key=host.host_key
            )

        def install(host: EdgeHost, config: pulumi.Input[str], depends_on: Sequence[pulumi.Resource]) -> remote.Command:
            command = install_command(host, version, spec.airgap)
            resource_name = f"{name}-k3s-{host_key(host)}"
            # Stacks deployed before hosts were keyed by identity named the command after the host name.
            former = [f"{name}-k3s-{host.name}"] if f"{name}-k3s-{host.name}" != resource_name else []
            return remote.Command(
                resource_name,
                connection=connection(host),
                create=command,
                update=command,
                delete=uninstall_command(host),
                stdin=config,
                # The host is the command's identity: were it ever replaced, the uninstall (its delete) must run
                # before the new install on the same machine, never after it.
                opts=pulumi.ResourceOptions.merge(
                    fixed_name(guarded),
                    pulumi.ResourceOptions(depends_on=list(depends_on), aliases=aliases(former)),
                ),
            )

        first_config = render_config(node_config(first, parsed, tls_sans=tls_sans, cluster_init=len(servers) > 1))
        bootstrap = install(first, first_config, ())
        # Re-read what the first server produced whenever it is reinstalled with other settings.
        reread = [version, _digest(first_config)]

        def read_back(suffix: str, path: str) -> remote.Command:
            return remote.Command(
                f"{name}-{suffix}",
                connection=connection(first),
                create=read_file_command(path, first.user),
                logging=remote.Logging.NONE,
                triggers=reread,
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[bootstrap], additional_secret_outputs=["stdout"])
                ),
            )

        joiners = list(spec.hosts[1:])
        token: pulumi.Output[str] | None = None
        if joiners:
            token_read = read_back("node-token", NODE_TOKEN_PATH)
            token = pulumi.Output.secret(token_read.stdout.apply(lambda out: parse_token(out, first.address)))

        def joiner_config(host: EdgeHost, token: pulumi.Output[str]) -> pulumi.Output[str]:
            """A joining host's k3s config; secret, since it carries the cluster's join token."""
            sans = tls_sans if host.role == "server" else ()
            return pulumi.Output.secret(
                token.apply(
                    lambda t: render_config(node_config(host, parsed, tls_sans=sans, server_url=server_url, token=t))
                )
            )

        server_installs: list[remote.Command] = []
        for host in (h for h in joiners if h.role == "server"):
            assert token is not None
            server_installs.append(install(host, joiner_config(host, token), [bootstrap]))
        agent_installs: list[remote.Command] = []
        for host in (h for h in joiners if h.role == "agent"):
            assert token is not None
            # Agents after every server: an upgrade then goes servers first, as k3s requires.
            agent_installs.append(install(host, joiner_config(host, token), [bootstrap, *server_installs]))
        installs = [bootstrap, *server_installs, *agent_installs]

        kubeconfig_read = read_back("kubeconfig", KUBECONFIG_PATH)
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            kubeconfig_read.stdout.apply(lambda text: rewrite_kubeconfig(text or "", first.address, spec.name))
        )
        provider = make_provider(
            name,
            Target.EDGE,
            kubeconfig,
            parent=self,
            depends_on=[*installs, kubeconfig_read],
            delete_unreachable=True,
            cloud_name=spec.cloud_name,
            adopt_existing=adopt_existing,
        )
        disabled = disabled_components(parsed)
        self._finish(
            ClusterContract(
                name=spec.name,
                target=Target.EDGE,
                facts=spec.facts_for_plan(),
                kubernetes_version=pulumi.Output.from_input(spec.kubernetes_version),
                endpoint=pulumi.Output.from_input(server_url),
                kubeconfig=kubeconfig,
                provider=provider,
                storage_class=STORAGE_CLASS if parsed.storage.local_path else None,
                load_balancer="servicelb" not in disabled,
                ready=installs,
                cloud_name=spec.cloud_name,
            )
        )


__all__ = [
    "EdgeCluster",
    "api_url",
    "as_root",
    "disabled_components",
    "host_key",
    "install_command",
    "install_script",
    "node_config",
    "parse_token",
    "read_file_command",
    "render_config",
    "rewrite_kubeconfig",
    "uninstall_command",
    "validate",
]
