"""``dockyard kube`` without a daemon: containers (as the engine inspects them) to Kubernetes objects,
and Kubernetes YAML to Engine API bodies, round trip included."""

from __future__ import annotations

import base64

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
    body, host = c.body, c.body["HostConfig"]
    assert c.name == "web-pod-web" and body["Cmd"] == ["httpd", "-f", "-p", "80"] and "Entrypoint" not in body
    assert body["Env"] == ["GREETING=hi"] and body["User"] == "1000:1000" and body["Hostname"] == "web-pod"
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert host["Memory"] == 64 << 20 and host["NanoCpus"] == 500_000_000 and host["ReadonlyRootfs"]
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"kube": {"Aliases": ["web-pod", "web"]}}}
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


def test_pod_of_two_containers_shares_the_first_ones_network() -> None:
    [p] = play.plan(play.load(POD), "net")
    a, b = p.containers
    assert a.body["Entrypoint"] == ["sh", "-c"] and a.body["Cmd"] == ["echo hello two $(literal)"]
    assert a.body["HostConfig"]["RestartPolicy"] == {"Name": "no"}
    assert b.body["HostConfig"]["NetworkMode"] == "container:two-a" and "PortBindings" not in b.body["HostConfig"]
    assert (a.body["HostConfig"]["IpcMode"], b.body["HostConfig"]["IpcMode"]) == ("shareable", "container:two-a")
    assert a.body["HostConfig"]["PortBindings"] == {"5432/tcp": [{"HostIp": "", "HostPort": "15432"}],
                                                    "8080/tcp": [{"HostIp": "", "HostPort": "30080"}]}
    assert a.body["NetworkingConfig"]["EndpointsConfig"]["net"]["Aliases"] == ["two", "db"]
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
