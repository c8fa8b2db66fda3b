"""Image commands: images, import, rmi."""

from __future__ import annotations

import sys

from dockyard import errors
from dockyard.cli.format import human_size, short_id
from dockyard.client import jsonlite as json
from dockyard.client.errors import DaemonNotFound
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.main import Command


IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                  "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                  "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


def _image_rows(r: dict[str, Any], trunc: bool, digests: bool) -> list[Any]:
    """formatter.imageFormat: a row per repository and tag (and digest with --digests); <none> for dangling."""
    import time

    from dockyard.cli.format import go_time, human_duration, human_size
    from dockyard.cli.template import Row

    def row(repo: str, tag: str, digest: str) -> Any:
        size = r.get("Size", 0)
        shared, containers = r.get("SharedSize", -1), r.get("Containers", -1)
        return Row({
            "ID": short_id(r["Id"]) if trunc else r["Id"], "Repository": repo, "Tag": tag, "Digest": digest,
            "CreatedSince": human_duration(time.time() - r.get("Created", 0)) + " ago",
            "CreatedAt": go_time(r.get("Created", 0)), "Size": human_size(size),
            "Containers": "N/A" if containers == -1 else str(containers),
            "VirtualSize": human_size(r.get("VirtualSize", size)),
            "SharedSize": "N/A" if shared == -1 else human_size(shared),
            "UniqueSize": "N/A" if shared == -1 else human_size(size - shared)}, "*formatter.imageContext")

    tags = [t for t in r.get("RepoTags") or [] if t != "<none>:<none>"]
    refs = [d for d in r.get("RepoDigests") or [] if d != "<none>@<none>"]
    if not tags and not refs:
        return [row("<none>", "<none>", "<none>")]
    by_repo: dict[str, list[str]] = {}
    for t in tags:
        repo, _, tag = t.rpartition(":")
        by_repo.setdefault(repo, []).append(tag)
    digest_of: dict[str, list[str]] = {}
    for d in refs:
        repo, _, dg = d.partition("@")
        digest_of.setdefault(repo, []).append(dg)
    out = []
    for repo, repo_tags in by_repo.items():
        dgs = digest_of.pop(repo, []) if digests else (digest_of.pop(repo, None) and [])
        for tag in repo_tags:
            out += [row(repo, tag, dg) for dg in dgs] if dgs else [row(repo, tag, "<none>")]
    for repo, dgs in digest_of.items():
        out += [row(repo, "<none>", dg) for dg in dgs] if digests else [row(repo, "<none>", "")]
    return out


def cmd_images(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import filters
    from dockyard.cli.template import print_rows

    flt = filters(a.filter)
    if a.reference:
        flt.setdefault("reference", []).append(a.reference)
    params: dict[str, Any] = {"all": a.all or None}
    if flt:
        params["filters"] = json.dumps(flt)
    rows = c.json("GET", "/images/json", params)
    fmt = a.format
    if not fmt and not a.quiet:
        from dockyard.cli.config import load_config

        fmt = load_config(getattr(a, "config", None)).get("imagesFormat") or ""
    if a.quiet:
        fmt = "{{.ID}}"
    elif not fmt or fmt == "table":
        fmt = IMAGES_DIGESTS_TABLE if a.digests else IMAGES_TABLE
    objs = [o for r in rows for o in _image_rows(r, not a.no_trunc, a.digests or "{{.Digest}}" in fmt)]
    if a.quiet:  # one line per image, as docker
        seen: set[str] = set()
        objs = [o for o in objs if not (o["ID"] in seen or seen.add(o["ID"]))]  # type: ignore[func-returns-value]
    print_rows(fmt, objs, IMAGES_HEADERS)
    return 0


def cmd_import(c: Client, a: argparse.Namespace) -> int:
    f = sys.stdin.buffer if a.file == "-" else open(a.file, "rb")
    with f:
        body = iter(lambda: f.read(1 << 20), b"")
        params: dict[str, Any] = {"fromSrc": "-", "repo": a.reference or None, "changes": a.change or None,
                                  "message": a.message or None}
        for msg in c.json_stream("POST", "/images/create", params, body, {"Content-Type": "application/x-tar"}):
            if "error" in msg:
                raise errors.Internal(msg["error"])
            if "status" in msg:
                print(msg["status"])
    return 0


def cmd_rmi(c: Client, a: argparse.Namespace) -> int:
    rc = 0
    for ref in a.images:
        try:
            for item in c.json("DELETE", f"/images/{ref}", {"force": a.force}):
                for k, v in item.items():
                    print(f"{k}: {v}")
        except DaemonNotFound:
            print(f"Error: No such image: {ref}", file=sys.stderr)
            rc = 1
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            rc = 1
    return rc


# -- registries: credentials as the docker CLI keeps them (~/.docker/config.json) -----------------

def registry_domain(ref: str) -> str:
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def auth_header(domain: str) -> dict[str, str]:
    """``X-Registry-Auth`` for ``domain`` from the stored credentials (config.json or a helper)."""
    from dockyard.cli.credentials import registry_auth

    return {"X-Registry-Auth": registry_auth(domain)}


def tagged(ref: str) -> str:
    """``busybox`` -> ``busybox:latest`` (a digest or a tag is kept), as docker names what it pulls."""
    if "@" in ref or ":" in ref.rsplit("/", 1)[-1]:
        return ref
    return f"{ref}:latest"


def pull(c: Client, ref: str, platform: str = "", out: Any = None, quiet: bool = False) -> None:
    """``POST /images/create`` with the stored credentials, its progress shown on ``out``."""
    from dockyard.cli.progress import show
    from dockyard.cli.trust import content_trust, trusted_pull

    if content_trust() and "@" not in ref:  # signatures checked here, the signed digest pulled
        return trusted_pull(c, ref, lambda pinned: pull(c, pinned, platform, out, quiet))

    name, tag = ref, ""
    if "@" in name:
        name, tag = name.split("@", 1)
    elif ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    params = {"fromImage": name, "tag": tag or "latest", "platform": platform or None}
    show(c.json_stream("POST", "/images/create", params, None, auth_header(registry_domain(name))),
         out or sys.stdout, quiet)


def cmd_pull(c: Client, a: argparse.Namespace) -> int:
    if not a.quiet and tagged(a.name) != a.name and "@" not in a.name:
        print("Using default tag: latest")
    pull(c, a.name, a.platform, sys.stdout, a.quiet)
    print(normalized(a.name))
    return 0


def normalized(ref: str) -> str:
    """reference.ParseNormalizedNamed(ref).String() with docker's default tag: what ``docker pull``
    prints last (``busybox`` -> ``docker.io/library/busybox:latest``)."""
    ref = tagged(ref)
    first, slash, _ = ref.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        ref = "docker.io/" + ("library/" if not slash else "") + ref
    return ref


def cmd_push(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.progress import show

    name, tag = a.name, ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    if not tag and not a.quiet:
        print("Using default tag: latest")
    show(c.json_stream("POST", f"/images/{name}/push", {"tag": tag or None}, None, auth_header(registry_domain(name))),
         sys.stdout, a.quiet)
    if a.quiet:
        print(tagged(a.name))
    return 0


def cmd_tag(c: Client, a: argparse.Namespace) -> int:
    repo, tag = a.target, ""
    if ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
    c.request("POST", f"/images/{a.source}/tag", {"repo": repo, "tag": tag or None}).read()
    return 0


HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"}


def cmd_history(c: Client, a: argparse.Namespace) -> int:
    import time

    from dockyard.cli.format import ellipsis, human_duration, human_size
    from dockyard.cli.template import Row, print_rows

    rows = c.json("GET", f"/images/{a.image}/history")
    trunc = not a.no_trunc
    objs = []
    for r in rows:
        created = r.get("Created", 0)
        by = (r.get("CreatedBy") or "").replace("\t", " ")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(created)) + _rfc3339_zone(created)
        objs.append(Row({
            "ID": short_id(r["Id"]) if trunc else r["Id"],
            "CreatedSince": human_duration(time.time() - created) + " ago" if a.human else stamp,
            "CreatedAt": stamp, "CreatedBy": ellipsis(by, 45) if trunc else by,
            "Size": human_size(r.get("Size", 0)) if a.human else str(r.get("Size", 0)),
            "Comment": r.get("Comment") or ""}, "*image.historyContext"))
    table = HISTORY_TABLE if a.human else HISTORY_TABLE.replace("{{.CreatedSince}}", "{{.CreatedAt}}")
    fmt = "{{.ID}}" if a.quiet else (a.format if a.format and a.format != "table" else table)
    print_rows(fmt, objs, HISTORY_HEADERS)
    return 0


def _rfc3339_zone(epoch: float) -> str:
    import time

    offset = time.localtime(epoch).tm_gmtoff
    if offset == 0:
        return "Z"
    sign = "+" if offset > 0 else "-"
    return f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


def cmd_save(c: Client, a: argparse.Namespace) -> int:
    if not a.output and sys.stdout.isatty():
        raise errors.InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = c.request("GET", "/images/get", {"names": a.images})
    out = open(a.output, "wb") if a.output else sys.stdout.buffer
    try:
        while chunk := resp.read1(1 << 20):  # binary: never split into lines
            out.write(chunk)
    finally:
        if a.output:
            out.close()
        else:
            out.flush()
    return 0


def cmd_load(c: Client, a: argparse.Namespace) -> int:
    f = open(a.input, "rb") if a.input else sys.stdin.buffer
    with f:
        body = iter(lambda: f.read(1 << 20), b"")
        for msg in c.json_stream("POST", "/images/load", {"quiet": a.quiet or None}, body,
                                 {"Content-Type": "application/x-tar"}):
            if "error" in msg:
                print(msg["error"], file=sys.stderr)
                return 1
            if "stream" in msg:
                print(msg["stream"], end="")
    return 0


def cmd_login(c: Client, a: argparse.Namespace) -> int:
    import getpass

    from dockyard.cli import credentials

    if a.password and a.password_stdin:
        raise errors.InvalidArgument("--password and --password-stdin are mutually exclusive")
    user = a.username or input("Username: ")
    password = sys.stdin.readline().rstrip("\n") if a.password_stdin else (a.password or getpass.getpass())
    resp = c.json("POST", "/auth", body={"username": user, "password": password, "serveraddress": a.server or ""})
    credentials.store(a.server or "", user, password, resp.get("IdentityToken") or "")
    print(resp.get("Status") or "Login Succeeded")
    return 0


def cmd_logout(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli import credentials

    key = credentials.server_key(a.server or "")
    if credentials.erase(a.server or ""):
        print(f"Removing login credentials for {key}")
    else:
        print(f"Not logged in to {key}")
    return 0


def cmd_commit(c: Client, a: argparse.Namespace) -> int:
    repo, tag = a.repository or "", ""
    if repo and ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
    resp = c.json("POST", "/commit", {"container": a.container, "repo": repo or None, "tag": tag or None,
                                      "comment": a.message or None, "author": a.author or None,
                                      "changes": a.change or None, "pause": not a.no_pause}, body={})
    print(resp["Id"])
    return 0


def cmd_image_prune(c: Client, a: argparse.Namespace) -> int:
    if not a.force:
        answer = input("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    filters = {"dangling": ["false" if a.all else "true"]}
    resp = c.json("POST", "/images/prune", {"filters": json.dumps(filters)})
    deleted = resp.get("ImagesDeleted") or []
    if deleted:
        print("Deleted Images:")
        for item in deleted:
            for k, v in item.items():
                print(f"{k.lower()}: {v}")
        print()
    print(f"Total reclaimed space: {human_size(resp.get('SpaceReclaimed') or 0)}")
    return 0


def cmd_image_inspect(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import inspect_all

    return inspect_all(c, a.images, "/images/{}/json", "image", getattr(a, "format", ""))


def _add_pull(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("--platform", default="")
    sp.add_argument("-a", "--all-tags", action="store_true")
    sp.add_argument("name")


def _add_push(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("name")


def _add_history(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("--no-trunc", action="store_true")
    sp.add_argument("-H", "--human", action="store_true", default=True,
                    help="Print sizes and dates in human readable format (default true)")
    sp.add_argument("--format", default="")
    sp.add_argument("image")


def _add_save(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-o", "--output", default="")
    sp.add_argument("images", nargs="+")


def _add_load(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-i", "--input", default="")
    sp.add_argument("-q", "--quiet", action="store_true")


def _add_tag(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("source")
    sp.add_argument("target")


def _add_prune(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("--filter", action="append", default=[])


def _add_images(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("--no-trunc", action="store_true")
    sp.add_argument("--digests", action="store_true")
    sp.add_argument("-f", "--filter", action="append", default=[])
    sp.add_argument("--format", default="")
    sp.add_argument("reference", nargs="?", default="")


def _add_rmi(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("images", nargs="+")


def _add_import(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-c", "--change", action="append", default=[])
    sp.add_argument("-m", "--message", default="")
    sp.add_argument("file")
    sp.add_argument("reference", nargs="?", default="")


SEARCH_TABLE = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}"
SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL",
                  "IsAutomated": "AUTOMATED"}


def cmd_search(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import ellipsis, filters
    from dockyard.cli.template import Row, print_rows

    flt = filters(a.filter)
    params: dict[str, Any] = {"term": a.term, "limit": a.limit}
    if flt:
        params["filters"] = json.dumps(flt)
    results = c.json("GET", "/images/search", params, None) or []
    rows = [Row({"Name": r.get("name", ""),
                 "Description": (r.get("description") or "") if a.no_trunc else ellipsis(
                     (r.get("description") or "").replace("\n", " "), 45),
                 "StarCount": str(r.get("star_count", 0)), "IsOfficial": "[OK]" if r.get("is_official") else "",
                 "IsAutomated": "[OK]" if r.get("is_automated") else ""}, "*formatter.searchContext")
            for r in results]
    print_rows(a.format if a.format and a.format != "table" else SEARCH_TABLE, rows, SEARCH_HEADERS)
    return 0


def register(cmd: Command) -> None:
    _add_images(cmd("images", cmd_images, "List images"))
    _add_import(cmd("import", cmd_import, "Import the contents from a tarball to create a filesystem image"))
    _add_rmi(cmd("rmi", cmd_rmi, "Remove one or more images"))
    _add_pull(cmd("pull", cmd_pull, "Download an image from a registry"))
    _add_push(cmd("push", cmd_push, "Upload an image to a registry"))
    _add_tag(cmd("tag", cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"))
    _add_history(cmd("history", cmd_history, "Show the history of an image"))
    _add_save(cmd("save", cmd_save, "Save one or more images to a tar archive (streamed to STDOUT by default)"))
    _add_load(cmd("load", cmd_load, "Load an image from a tar archive or STDIN"))
    sp = cmd("search", cmd_search, "Search the Docker Hub for images", usage="[OPTIONS] TERM")
    sp.add_argument("-f", "--filter", action="append", default=[], metavar="filter",
                    help="Filter output based on conditions provided")
    sp.add_argument("--format", default="", help="Pretty-print search using a Go template")
    sp.add_argument("--limit", type=int, default=25, metavar="int", help="Max number of search results (default 25)")
    sp.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    sp.add_argument("term")
    sp = cmd("login", cmd_login, "Log in to a registry")
    sp.add_argument("-u", "--username", default="")
    sp.add_argument("-p", "--password", default="")
    sp.add_argument("--password-stdin", action="store_true")
    sp.add_argument("server", nargs="?", default="")
    sp = cmd("logout", cmd_logout, "Log out from a registry")
    sp.add_argument("server", nargs="?", default="")
    sp = cmd("commit", cmd_commit, "Create a new image from a container's changes")
    sp.add_argument("-a", "--author", default="")
    sp.add_argument("-c", "--change", action="append", default=[])
    sp.add_argument("-m", "--message", default="")
    sp.add_argument("-p", "--pause", action="store_true", default=True)
    sp.add_argument("--no-pause", action="store_true")
    sp.add_argument("container")
    sp.add_argument("repository", nargs="?", default="")

    # ``dockyard image <verb>``: Docker's management-command forms of the same commands.
    image = cmd("image", lambda c, a: (a.image_parser.print_help(), 0)[1], "Manage images")
    image.set_defaults(image_parser=image)
    sub = image.add_subparsers(dest="image_command", metavar="COMMAND")
    for name, fn, add, aliases in (
            ("ls", cmd_images, _add_images, ["list"]), ("pull", cmd_pull, _add_pull, []),
            ("push", cmd_push, _add_push, []), ("rm", cmd_rmi, _add_rmi, ["remove"]),
            ("tag", cmd_tag, _add_tag, []), ("history", cmd_history, _add_history, []),
            ("save", cmd_save, _add_save, []), ("load", cmd_load, _add_load, []),
            ("import", cmd_import, _add_import, []), ("prune", cmd_image_prune, _add_prune, []),
            ("inspect", cmd_image_inspect, lambda sp: (sp.add_argument("-f", "--format", default=""),
                                                        sp.add_argument("images", nargs="+")), [])):
        sp = sub.add_parser(name, aliases=aliases)
        add(sp)
        sp.set_defaults(fn=fn)
