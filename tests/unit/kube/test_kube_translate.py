"""``dockyard kube`` without a daemon: containers (as the engine inspects them) to Kubernetes objects,
and Kubernetes YAML to Engine API bodies, round trip included."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from dockyard import errors
from dockyard.kube import generate, names, play
from dockyard.kube.cli import dump

IMAGE = {"Config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": ""}}


def _web() -> generate.Source:
    inspect = {
        "Name": "/proj-web-1", "Image": "sha256:abc",
        "Config": {"Image": "busybox", "Env": ["PATH=/bin", "GREETING=hi"], "Cmd": ["httpd", "-f", "-p", "80"],
                   "Entrypoint": None, "ExposedPorts": {"80/tcp": {}, "9000/udp": {}}, "User": "1000:1000",
                   "WorkingDir": "/www", "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5 * 10**9,
                                                         "Retries": 3}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                       "RestartPolicy": {"Name": "unless-stopped"}, "Memory": 64 << 20, "NanoCpus": 500_000_000,
                       "CapAdd": ["NET_ADMIN"], "ReadonlyRootfs": True, "Tmpfs": {"/run": ""}},
        "Mounts": [{"Type": "volume", "Name": "proj_data", "Destination": "/data", "RW": True},
                   {"Type": "bind", "Source": "/srv/site", "Destination": "/site", "RW": False},
                   {"Type": "bind", "Source": "/home/u/page.html", "Destination": "/www/index.html", "RW": False}]}
    files = [generate.File("config", "proj-page", "/www/index.html", b"<h1>hi</h1>\n"),
             generate.File("secret", "proj-token", "/run/secrets/token", b"s3cret", 0o400)]
    return generate.Source(inspect, IMAGE, "web", files)


def _by_kind(objects: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    return {o["kind"]: o for o in objects}


def test_container_becomes_pod_service_claim_configmap_secret() -> None:
    objs = _by_kind(generate.workload("web", [_web()]))
    pod = objs["Pod"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == "busybox" and "command" not in c and c["args"] == ["httpd", "-f", "-p", "80"]
    assert c["env"] == [{"name": "GREETING", "value": "hi"}]  # the image's PATH is not repeated
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP", "hostPort": 8080, "hostIP": "127.0.0.1"},
                          {"containerPort": 9000, "protocol": "UDP"}]
    assert c["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": True,
                                    "capabilities": {"add": ["NET_ADMIN"]}}
    assert c["resources"] == {"limits": {"memory": "64Mi", "cpu": "500m"}}
    assert c["livenessProbe"] == {"exec": {"command": ["/bin/sh", "-c", "true"]}, "periodSeconds": 5,
                                  "failureThreshold": 3}
    assert pod["restartPolicy"] == "Always" and c["workingDir"] == "/www"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert set(mounts) == {"/www/index.html", "/run/secrets/token", "/data", "/site", "/run"}  # the config's bind is the ConfigMap
    assert mounts["/www/index.html"]["subPath"] == "index.html"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/data"]["name"]]["persistentVolumeClaim"] == {"claimName": "proj-data"}
    assert volumes[mounts["/site"]["name"]]["hostPath"] == {"path": "/srv/site"} and mounts["/site"]["readOnly"]
    assert volumes[mounts["/run"]["name"]]["emptyDir"] == {"medium": "Memory"}
    assert objs["PersistentVolumeClaim"]["metadata"]["annotations"] == {names.VOLUME_ANNOTATION: "proj_data"}
    assert objs["ConfigMap"]["data"] == {"index.html": "<h1>hi</h1>\n"}
    assert base64.b64decode(objs["Secret"]["data"]["token"]) == b"s3cret"
    assert objs["Service"]["spec"]["ports"] == [
        {"name": "80-tcp", "port": 80, "targetPort": 80, "protocol": "TCP"},
        {"name": "9000-udp", "port": 9000, "targetPort": 9000, "protocol": "UDP"}]


def test_round_trip_to_engine_bodies() -> None:
    text = dump(generate.workload("web", [_web()], "Deployment"))
    docs = play.load(text)
    [p] = play.plan(docs, "kube")
    assert p.name == "web-pod" and p.owner == "Deployment/web"
    [c] = p.containers
    assert p.infra is not None and p.infra.name == "web-pod-infra"
    infra = p.infra.body
    body, host = c.body, c.body["HostConfig"]
    assert c.name == "web-pod-web" and body["Cmd"] == ["httpd", "-f", "-p", "80"] and "Entrypoint" not in body
    assert body["Env"] == ["GREETING=hi"] and body["User"] == "1000:1000" and infra["Hostname"] == "web-pod"
    assert infra["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert "PortBindings" not in host and host["NetworkMode"] == "container:web-pod-infra"
    assert host["Memory"] == 64 << 20 and host["NanoCpus"] == 500_000_000 and host["ReadonlyRootfs"]
    assert infra["NetworkingConfig"] == {"EndpointsConfig": {"kube": {"Aliases": ["web-pod", "web"]}}}
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert mounts["/data"] == {"Type": "volume", "Source": "proj_data", "Target": "/data", "ReadOnly": False}
    assert mounts["/site"]["Source"] == "/srv/site" and mounts["/run"] == {"Type": "tmpfs", "Target": "/run"}
    assert sorted(c.files) == [("/run/secrets/token", b"s3cret", 0o400), ("/www/index.html", b"<h1>hi</h1>\n", 0o444)]
    assert body["Healthcheck"] == {"Test": ["CMD", "/bin/sh", "-c", "true"], "Interval": 5 * 10**9, "Retries": 3}


POD = """
apiVersion: v1
kind: Pod
metadata: {name: two, labels: {app: two}}
spec:
  restartPolicy: Never
  containers:
  - name: a
    image: busybox
    command: ["sh", "-c"]
    args: ["echo $(GREETING) $(POD) $$(literal)"]
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    ports: [{containerPort: 8080}]
    volumeMounts: [{name: conf, mountPath: /etc/app}, {name: scratch, mountPath: /tmp/s}]
  - name: b
    image: busybox
    envFrom: [{secretRef: {name: creds}, prefix: DB_}]
    ports: [{containerPort: 5432, hostPort: 15432}]
  volumes:
  - {name: conf, configMap: {name: cfg, items: [{key: greeting, path: greeting.txt}]}}
  - {name: scratch, emptyDir: {}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {USER: admin}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  type: NodePort
  selector: {app: two}
  ports: [{port: 8080, targetPort: 8080, nodePort: 30080}]
"""


def test_pod_of_two_containers_joins_its_infra_container() -> None:
    [p] = play.plan(play.load(POD), "net", infra_image="pause-image")
    a, b = p.containers
    assert p.infra is not None
    infra = p.infra.body
    assert infra["Image"] == "pause-image" and infra["Labels"][names.ROLE] == "infra"
    assert infra["HostConfig"]["RestartPolicy"] == {"Name": "no"}  # restartPolicy: Never
    assert a.body["Entrypoint"] == ["sh", "-c"] and a.body["Cmd"] == ["echo hello two $(literal)"]
    assert a.body["HostConfig"]["RestartPolicy"] == {"Name": "no"}
    for c in (a, b):
        host = c.body["HostConfig"]
        assert host["NetworkMode"] == host["IpcMode"] == "container:two-infra" and "PortBindings" not in host
        assert "PidMode" not in host  # no shareProcessNamespace
    assert infra["HostConfig"]["IpcMode"] == "shareable" and infra["Hostname"] == "two"
    assert infra["HostConfig"]["PortBindings"] == {"5432/tcp": [{"HostIp": "", "HostPort": "15432"}],
                                                   "8080/tcp": [{"HostIp": "", "HostPort": "30080"}]}
    assert infra["NetworkingConfig"]["EndpointsConfig"]["net"]["Aliases"] == ["two", "db"]
    assert json.loads(b.body["Labels"][names.PORTS]) == [{"containerPort": 5432, "hostPort": 15432}]
    assert a.files == [("/etc/app/greeting.txt", b"hello", 0o644)]
    assert b.body["Env"] == ["DB_USER=admin"]
    assert p.volumes == {"two-scratch": {"Name": "two-scratch",
                                         "Labels": {names.MANAGED: "emptyDir", names.POD: "two"}}}


def test_bad_input_is_refused() -> None:
    with pytest.raises(errors.InvalidArgument):
        play.load("kind: Service\nmetadata: {name: x}\n")  # nothing to run
    with pytest.raises(errors.InvalidArgument):
        play.load("- a\n- b\n")
    with pytest.raises(errors.NotFound):
        play.plan(play.load(POD.split("---")[0]), "net")  # the ConfigMap is not in the YAML
    deployment = yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
        "replicas": 2, "template": {"spec": {"containers": [
            {"name": "c", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}}})
    with pytest.raises(errors.InvalidArgument, match="host port 8080"):
        play.plan(play.load(deployment), "net")
    nfs = POD.replace("emptyDir: {}", "nfs: {server: x, path: /}")
    with pytest.raises(errors.InvalidArgument, match="only persistentVolumeClaim"):
        play.plan(play.load(nfs), "net")


def test_quantities() -> None:
    assert names.quantity("128Mi") == 128 << 20 and names.quantity("1G") == 10**9
    assert names.quantity("500m") == 0.5 and names.quantity(2) == 2
    assert names.memory_quantity(3 << 30) == "3Gi" and names.memory_quantity(1000) == "1000"
    assert names.cpu_quantity(2 * 10**9) == "2" and names.cpu_quantity(250_000_000) == "250m"
    assert names.dns_label("Proj_Data.1") == "proj-data-1"
    with pytest.raises(errors.InvalidArgument):
        names.quantity("lots")


def test_pull_parameters() -> None:
    from dockyard.kube.apply import _pull_params

    assert _pull_params("busybox") == {"fromImage": "busybox", "tag": "latest"}
    assert _pull_params("localhost:5000/a/b:1.2") == {"fromImage": "localhost:5000/a/b", "tag": "1.2"}
    assert _pull_params("localhost:5000/a/b") == {"fromImage": "localhost:5000/a/b", "tag": "latest"}
    assert _pull_params("b@sha256:" + "0" * 64) == {"fromImage": "b@sha256:" + "0" * 64}


INIT_POD = """
apiVersion: v1
kind: Pod
metadata: {name: ip}
spec:
  restartPolicy: OnFailure
  shareProcessNamespace: true
  hostname: box
  hostAliases: [{ip: 10.1.2.3, hostnames: [db.local]}]
  securityContext: {sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]}
  initContainers:
  - {name: one, image: busybox, command: [sh, -c, "echo 1 > /w/one"], volumeMounts: [{name: w, mountPath: /w}]}
  - {name: two, image: busybox, command: [sh, -c, "echo 2 > /w/two"], volumeMounts: [{name: w, mountPath: /w}]}
  containers:
  - {name: app, image: busybox, command: [sleep, "100"], ports: [{containerPort: 80, hostPort: 8081}],
     volumeMounts: [{name: w, mountPath: /w}]}
  volumes: [{name: w, emptyDir: {}}]
"""


def test_init_containers_and_shared_pid_namespace() -> None:
    [p] = play.plan(play.load(INIT_POD), "net")
    assert p.infra is not None
    infra = p.infra.body["HostConfig"]
    assert [c.name for c in p.init] == ["ip-one", "ip-two"] and [c.name for c in p.containers] == ["ip-app"]
    assert [c.body["Labels"][names.INDEX] for c in p.init] == ["0", "1"]
    for c in p.init:
        assert c.body["HostConfig"]["RestartPolicy"] == {"Name": "no"} and c.body["Labels"][names.ROLE] == "init"
        assert c.body["HostConfig"]["Mounts"][0]["Source"] == "ip-w"
    for c in (*p.init, *p.containers):
        assert c.body["HostConfig"]["PidMode"] == "container:ip-infra"
        assert "ExtraHosts" not in c.body["HostConfig"] and "Sysctls" not in c.body["HostConfig"]
    assert p.containers[0].body["HostConfig"]["RestartPolicy"] == {"Name": "on-failure"}
    assert infra["RestartPolicy"] == {"Name": "always"} and p.infra.body["Hostname"] == "box"
    assert infra["ExtraHosts"] == ["db.local:10.1.2.3"]
    assert infra["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "0"}
    bad = INIT_POD.replace("name: two,", "name: infra,")
    with pytest.raises(errors.InvalidArgument, match="infra"):
        play.plan(play.load(bad), "net")


def _played(c: play.ContainerPlan, cid: str, image_cfg: dict) -> generate.Source:  # type: ignore[type-arg]
    """What the engine would inspect of a container made from the plan ``c``."""
    body = c.body
    inspect = {"Id": cid, "Name": "/" + c.name, "Image": "sha256:abc",
               "Config": {"Image": body["Image"], "Env": [*image_cfg["Env"], *body.get("Env", [])],
                          "Cmd": body.get("Cmd", image_cfg["Cmd"]), "Entrypoint": body.get("Entrypoint"),
                          "Labels": body["Labels"], "Hostname": body.get("Hostname", cid[:12])},
               "HostConfig": body["HostConfig"],
               "Mounts": [{"Type": m["Type"], "Name": m["Source"], "Destination": m["Target"], "RW": True}
                          for m in body["HostConfig"].get("Mounts") or []]}
    return generate.Source(inspect, {"Config": image_cfg}, body["Labels"].get(names.CONTAINER, ""))


def test_generate_of_a_played_pod_round_trips() -> None:
    """The spec ``kube generate POD`` writes of a played pod is the one that was played (but the
    emptyDir, which the engine shows as a named volume)."""
    [p] = play.plan(play.load(INIT_POD), "net")
    assert p.infra is not None
    cfg = {"Env": ["PATH=/bin"], "Cmd": ["sh"]}
    infra = _played(p.infra, "i" * 64, cfg).inspect
    objects = generate.workload("ip", [_played(c, "a" * 64, cfg) for c in p.containers],
                                init=[_played(c, "b" * 64, cfg) for c in p.init], infra=infra)
    [pod] = [o for o in objects if o["kind"] == "Pod"]
    spec = pod["spec"]
    original = yaml.safe_load(INIT_POD)["spec"]
    for key in ("restartPolicy", "shareProcessNamespace", "hostname", "hostAliases"):
        assert spec[key] == original[key], key
    assert [c["name"] for c in spec["initContainers"]] == ["one", "two"]
    assert [c["command"] for c in spec["initContainers"]] == [c["command"] for c in original["initContainers"]]
    assert spec["containers"][0]["ports"] == [{"containerPort": 80, "hostPort": 8081, "protocol": "TCP"}]
    [again] = play.plan(play.load(dump(objects)), "net")
    assert again.infra is not None
    assert again.infra.body["HostConfig"]["PortBindings"] == p.infra.body["HostConfig"]["PortBindings"]
    assert [c.body["HostConfig"]["PidMode"] for c in again.all()[1:]] == ["container:ip-infra"] * 3
