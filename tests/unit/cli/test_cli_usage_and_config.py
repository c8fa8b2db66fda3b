"""The CLI's own errors (docker's words and exit codes), templates' errors, contexts, credential
helpers and completion scripts: no daemon needed."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dockyard.cli import credentials
from dockyard.cli import main as cli
from dockyard.cli.template import Row, TemplateError, format_rows, render

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("argv", "err", "code"), [
    (["run", "--x", "busybox"], "unknown flag: --x\nSee 'dockyard run --help'.\n", 125),
    (["run", "-m", "12qb", "busybox"],
     "invalid argument \"12qb\" for \"-m, --memory\" flag: invalid size: '12qb'\nSee 'dockyard run --help'.\n", 125),
    (["run", "--cpus", "abc", "busybox"], "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a "
                                          "rational number\nSee 'dockyard run --help'.\n", 125),
    (["stop", "-t", "abc", "x"], "invalid argument \"abc\" for \"-t, --time\" flag: strconv.ParseInt: parsing "
                                 "\"abc\": invalid syntax\nSee 'dockyard stop --help'.\n", 125),
    (["run", "--ulimit", "nofile=abc", "busybox"], "invalid argument \"nofile=abc\" for \"--ulimit\" flag: "
                                                   "strconv.ParseInt: parsing \"abc\": invalid syntax\n"
                                                   "See 'dockyard run --help'.\n", 125),
    (["run", "--restart", "bogus", "busybox"], "invalid argument \"bogus\" for \"--restart\" flag: invalid restart "
                                               "policy 'bogus'\nSee 'dockyard run --help'.\n", 125),
    (["ps", "--x"], "unknown flag: --x\nSee 'dockyard ps --help'.\n", 125),
    (["network", "ls", "--x"], "unknown flag: --x\nSee 'dockyard network ls --help'.\n", 125),
    (["ps", "extra"], "\"dockyard ps\" accepts no arguments.\nSee 'dockyard ps --help'.\n\nUsage:  dockyard ps "
                      "[OPTIONS]\n\nList containers\n", 1),
    (["rm"], "\"dockyard rm\" requires at least 1 argument.\nSee 'dockyard rm --help'.\n\nUsage:  dockyard rm "
             "[OPTIONS] CONTAINER [CONTAINER...]\n\nRemove one or more containers\n", 1),
    (["nosuchcommand"], "dockyard: 'nosuchcommand' is not a dockyard command.\nSee 'dockyard --help'\n", 1),
])
def test_usage_errors_are_dockers_words_and_exit_codes(argv: list[str], err: str, code: int,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # No daemon is asked: -H points nowhere, and a parse error is never "Error response from daemon".
    assert cli.main(["-H", "unix:///nonexistent.sock", *argv]) == code
    out = capsys.readouterr()
    assert out.err == err
    assert "Traceback" not in out.err and "Error response from daemon" not in out.err


def test_an_unexpected_failure_is_one_line_and_a_traceback_only_with_debug(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom(argv: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_main", boom)
    monkeypatch.delenv("DOCKYARD_DEBUG", raising=False)
    assert cli.main(["ps"]) == 1
    assert capsys.readouterr().err == "dockyard: RuntimeError: boom\n"
    monkeypatch.setenv("DOCKYARD_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["ps"])


def test_help_is_dockers_tree_without_internal_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "Management Commands:\n  builder     Manage builds\n  container   Manage containers\n" in text
    for internal in ("system-df", "system-prune", "container-prune", "system-dial-stdio", "builder-prune"):
        assert internal not in text
    assert cli.main(["system", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage:  dockyard system COMMAND" in text and "  df          Show dockyard disk usage" in text


def test_run_help_lists_the_flags_with_their_help_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("\nUsage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun a command in a new container")
    for flag in ("--env-file list", "--privileged", "--init", "--device list", "--shm-size bytes", "--ulimit ulimit",
                 "--stop-signal string", "--platform string", "--security-opt list", "-m, --memory bytes"):
        line = next((ln for ln in text.splitlines() if flag in ln), "")
        assert line and len(line.split("   ")[-1].strip()) > 3, f"{flag} has no help line"


def test_run_flags_reach_the_api_fields(tmp_path: Path) -> None:
    from dockyard.cli import containers

    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=1\n\nB=two words\n")
    args = cli.build_parser().parse_args([
        "run", "--env-file", str(env_file), "--privileged", "--init", "--device", "/dev/null:/dev/xnull:rw",
        "--shm-size", "64m", "--ulimit", "nofile=1024:2048", "--stop-signal", "SIGINT", "--security-opt",
        "no-new-privileges", "--restart", "on-failure:3", "--stop-timeout", "5", "busybox"])
    config, host = containers._container_body(args)
    assert config["Env"] == ["A=1", "B=two words"]
    assert config["StopSignal"] == "SIGINT" and config["StopTimeout"] == 5
    assert host["Privileged"] is True and host["Init"] is True and host["ShmSize"] == 64 << 20
    assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "rw"}]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}


# -- templates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "message"), [
    ("{{.Foo}}", 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
    ("{{.State.Foo}}", 'template: :1:8: executing "" at <.State.Foo>: map has no entry for key "Foo"'),
    ("{{foo .Name}}", 'template: :1: function "foo" not defined'),
    ("{{.Name", "template: :1: unclosed action"),
    ("{{if .Name}}", "template: :1: unexpected EOF"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{index .Cmd 5}}", 'template: :1:2: executing "" at <index .Cmd 5>: error calling index: index out of range: 5'),
])
def test_template_errors_carry_gos_messages(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, {"Name": "/web", "State": {"Status": "running"}, "Cmd": ["sh"]})
    assert str(info.value) == message


@pytest.mark.parametrize(("template", "text"), [
    ("{{if eq .State.Status \"running\"}}up{{else if .Name}}named{{else}}no{{end}}", "up"),
    ("{{range $i, $c := .Cmd}}{{$i}}={{$c}} {{end}}", "0=sh 1=-c "),
    ("{{join .Cmd \",\"}}|{{upper .Name}}|{{len .Cmd}}|{{index .Cmd 1}}", "sh,-c|/WEB|2|-c"),
    ("{{printf \"%-6s|\" .State.Status}}{{pad \"x\" 1 2}}|{{truncate .Name 2}}|{{title \"a b\"}}", "running| x  |/w|A B"),
    ("{{- .Name -}}  \n", "/web"),
    ("{{$n := .Name}}{{with .State}}{{.Status}} of {{$n}}{{end}}", "running of /web"),
    ("{{json .State}} {{split .Name \"e\"}} {{slice .Name 1 3}}", '{"Status":"running"} [/w b] we'),
])
def test_templates_render_as_go_does(template: str, text: str) -> None:
    assert render(template, {"Name": "/web", "State": {"Status": "running"}, "Cmd": ["sh", "-c"]}) == text


def test_a_table_format_gets_headers_and_tabwriter_and_rows_are_structs() -> None:
    rows = [Row({"ID": "abc", "Names": "web"}, "*formatter.ContainerContext")]
    headers = {"ID": "CONTAINER ID", "Names": "NAMES"}
    assert format_rows("table {{.ID}}\\t{{.Names}}", rows, headers) == "CONTAINER ID   NAMES\nabc            web\n"
    assert format_rows("{{.ID}}", rows, headers) == "abc\n"
    with pytest.raises(TemplateError, match=r"can't evaluate field Nope in type \*formatter.ContainerContext"):
        format_rows("{{.Nope}}", rows, headers)


# -- credential helpers -----------------------------------------------------------------------------

FAKE_HELPER = """#!/usr/bin/env python3
# A docker-credential helper keeping its secrets in $FAKE_STORE (one JSON file), logging each call.
import json, os, sys
action, path = sys.argv[1], os.environ["FAKE_STORE"]
with open(path + ".log", "a") as log:
    log.write(action + "\\n")
try:
    store = json.load(open(path))
except OSError:
    store = {}
data = sys.stdin.read()
if action == "store":
    item = json.loads(data)
    store[item["ServerURL"]] = item
elif action == "get":
    if data.strip() not in store:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps(store[data.strip()]))
elif action == "erase":
    if store.pop(data.strip(), None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
elif action == "list":
    print(json.dumps({k: v["Username"] for k, v in store.items()}))
json.dump(store, open(path, "w"))
"""


@pytest.fixture
def helper_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-fake"
    helper.write_text(FAKE_HELPER)
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_STORE", str(tmp_path / "store.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    return tmp_path


def _config(tmp: Path) -> dict[str, Any]:
    return json.loads((tmp / "cfg" / "config.json").read_text())  # type: ignore[no-any-return]


def test_creds_store_keeps_the_secret_in_the_helper_and_an_empty_auths_entry(helper_env: Path) -> None:
    (helper_env / "cfg").mkdir()
    (helper_env / "cfg" / "config.json").write_text('{"credsStore": "fake"}')
    credentials.store("reg.example:5000", "dy", "s3cret")
    assert _config(helper_env)["auths"] == {"reg.example:5000": {}}
    assert "s3cret" not in (helper_env / "cfg" / "config.json").read_text()
    assert json.loads((helper_env / "store.json").read_text())["reg.example:5000"]["Secret"] == "s3cret"
    assert credentials.get("reg.example:5000") == {"username": "dy", "password": "s3cret"}
    header = json.loads(__import__("base64").urlsafe_b64decode(credentials.registry_auth("reg.example:5000")))
    assert header == {"serveraddress": "reg.example:5000", "username": "dy", "password": "s3cret"}
    assert credentials.erase("reg.example:5000") is True
    assert credentials.get("reg.example:5000") == {}
    assert "reg.example:5000" not in _config(helper_env)["auths"]
    assert (helper_env / "store.json.log").read_text().split() == ["store", "get", "get", "erase", "get"]


def test_cred_helpers_pick_a_helper_per_registry_and_config_auths_stay_for_others(helper_env: Path) -> None:
    (helper_env / "cfg").mkdir()
    (helper_env / "cfg" / "config.json").write_text('{"credHelpers": {"private.example": "fake"}}')
    credentials.store("private.example", "a", "pw1")
    credentials.store("other.example", "b", "pw2")
    auths = _config(helper_env)["auths"]
    assert auths["private.example"] == {}
    assert auths["other.example"]["auth"] == __import__("base64").b64encode(b"b:pw2").decode()
    assert credentials.get("private.example") == {"username": "a", "password": "pw1"}
    assert credentials.get("other.example") == {"username": "b", "password": "pw2"}


def test_a_missing_helper_is_one_clear_error(helper_env: Path) -> None:
    from dockyard.cli.errors import CLIError

    (helper_env / "cfg").mkdir()
    (helper_env / "cfg" / "config.json").write_text('{"credsStore": "nosuchhelper"}')
    with pytest.raises(CLIError, match='"docker-credential-nosuchhelper": executable file not found'):
        credentials.get("reg.example")


def test_debians_pass_helper_keeps_the_secret(helper_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real helper (Debian's golang-docker-credential-helpers, over `pass` and gpg in
    temporary homes): store, get, list and erase through credsStore, the secret never in config.json."""
    helpers = os.environ.get("CREDHELPERS_BIN") or str(REPO / ".venv" / "libexec" / "credhelpers" / "usr" / "bin")
    assert os.access(f"{helpers}/docker-credential-pass", os.X_OK), "make deps unpacks Debian's credential helpers"
    monkeypatch.setenv("PATH", f"{helpers}:{os.environ['PATH']}")
    gnupg, store = helper_env / "gnupg", helper_env / "password-store"
    gnupg.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(gnupg))
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(store))
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "dockyard-test@localhost",
                        "default", "default", "never"], check=True, capture_output=True, timeout=120)
        subprocess.run(["pass", "init", "dockyard-test@localhost"], check=True, capture_output=True, timeout=60)
        (helper_env / "cfg").mkdir()
        (helper_env / "cfg" / "config.json").write_text('{"credsStore": "pass"}')
        credentials.store("reg.example:5000", "dy", "s3cret-pass")
        assert "s3cret-pass" not in (helper_env / "cfg" / "config.json").read_text()
        assert credentials.get("reg.example:5000") == {"username": "dy", "password": "s3cret-pass"}
        listed = subprocess.run(["docker-credential-pass", "list"], capture_output=True, check=True, timeout=30)
        assert json.loads(listed.stdout) == {"reg.example:5000": "dy"}
        assert credentials.erase("reg.example:5000") is True
        assert credentials.get("reg.example:5000") == {}
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], capture_output=True, timeout=30, check=False)


# -- contexts ---------------------------------------------------------------------------------------


def test_contexts_use_dockers_layout_and_a_missing_one_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from dockyard.cli import context

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKYARD_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    assert cli.main(["context", "create", "t1", "--docker", "host=unix:///tmp/t1.sock", "--description", "d"]) == 0
    meta = tmp_path / "contexts" / "meta" / context._hash("t1") / "meta.json"
    assert json.loads(meta.read_text())["Endpoints"]["docker"]["Host"] == "unix:///tmp/t1.sock"
    assert cli.main(["context", "use", "t1"]) == 0
    assert json.loads((tmp_path / "config.json").read_text())["currentContext"] == "t1"
    capsys.readouterr()
    assert cli.main(["context", "ls", "--format", "{{.Name}}{{if .Current}} *{{end}} {{.DockerEndpoint}}"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "t1 * unix:///tmp/t1.sock"
    assert context.endpoint(None)[0] == "unix:///tmp/t1.sock"
    monkeypatch.setenv("DOCKER_CONTEXT", "nosuch")
    assert cli.main(["ps"]) == 1  # never the default socket
    assert capsys.readouterr().err == 'unable to resolve docker endpoint: context "nosuch" does not exist\n'
    monkeypatch.delenv("DOCKER_CONTEXT")
    assert cli.main(["context", "rm", "t1"]) == 1
    assert "is in use, set -f flag to force remove" in capsys.readouterr().err
    assert cli.main(["context", "rm", "-f", "t1"]) == 0
    assert not meta.exists() and "currentContext" not in json.loads((tmp_path / "config.json").read_text())


# -- completion -------------------------------------------------------------------------------------


def test_bash_completion_loads_and_completes_management_verbs(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    assert cli.main(["completion", "bash"]) == 0
    script = tmp_path / "dockyard.bash"
    script.write_text(capsys.readouterr().out)
    r = subprocess.run(["bash", "-c", f'source {script} && complete -p dockyard && COMP_WORDS=(dockyard system d) '
                                      '&& COMP_CWORD=2 && _dockyard && echo "${COMPREPLY[@]}"'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["complete -F _dockyard dockyard", "df"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_loads(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["completion", "zsh"]) == 0
    script = tmp_path / "_dockyard"
    script.write_text(capsys.readouterr().out)
    r = subprocess.run(["zsh", "-f", "-c", f"autoload -U compinit && compinit -u -d {tmp_path}/zcd && "
                                           f"source {script} && print ${{_comps[dockyard]}}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "_dockyard"


def test_fish_completion_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["completion", "fish"]) == 0
    text = capsys.readouterr().out
    assert "-a run -d 'Run a command in a new container'" in text and "-a context -d 'Manage contexts'" in text
