"""Run Nextflow process commands without Nextflow: the module file is the one source of truth.

The Nextflow runtime cannot be had here, but its language can: the Nextflow language server
jar (see nflint.py) carries Groovy, the language of process script blocks. So a task is run
the way Nextflow runs it:

  1. the module's `input:` declarations say how each input is staged (name, `stageAs` folder);
  2. the `script:` (or `stub:`) section is evaluated by Groovy with the task's variables bound
     (params, task, meta, staged file names), giving the exact command line;
  3. bash runs it in a fresh task folder with nf/bin (the symlink to bin/) first on PATH and
     the env of nextflow.config;
  4. each `output:` path pattern, itself evaluated by Groovy, is globbed in the task folder
     (one marked `optional: true` may match nothing).

task.ext.args is what conf/modules.config sets for the process (a string, or a closure over
params that Groovy calls), so the options a module gets from the parameters are tested too.
The pipeline's few Groovy helpers (the `def` functions of the utils subworkflow) are called
through the same Groovy, with Nextflow's file() and error() supplied, and params are read from
nextflow.config and the profile configs with Groovy's ConfigSlurper.

read_wiring() reads the workflow files the other way round: which process or subworkflow each
one includes and calls, with how many arguments, and which `.out.NAME` emits it uses, so a test
can hold every call against the callee's declared inputs and emits (the language server checks
names, not arity or emits).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NF = REPO / "nf"


def config_env() -> dict[str, str]:
    """The env { } block of nextflow.config: what every task gets."""
    text = (NF / "nextflow.config").read_text()
    block = re.search(r"^env\s*\{(.*?)^\}", text, re.S | re.M)
    return dict(re.findall(r"^\s*(\w+)\s*=\s*'([^']*)'", block.group(1), re.M)) if block else {}


HARNESS = r"""
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

// Nextflow's BlankSeparatedList: a list of staged files that renders as 'a b c' in a script
class PathList {
    @Delegate(interfaces = false) List target
    PathList(Collection items) { target = new ArrayList(items) }
    String toString() { target.join(' ') }
    boolean asBoolean() { !target.isEmpty() }  // an empty list of files is false, as in Nextflow
}

// Nextflow's Path extensions that the pipeline functions use
ExpandoMetaClass.enableGlobally()
java.nio.file.Path.metaClass.exists = { -> java.nio.file.Files.exists(delegate) }
java.nio.file.Path.metaClass.isDirectory = { -> java.nio.file.Files.isDirectory(delegate) }
java.nio.file.Path.metaClass.getText = { ->
    new String(java.nio.file.Files.readAllBytes(delegate), 'UTF-8')
}
java.nio.file.Path.metaClass.getName = { -> delegate.getFileName().toString() }
java.nio.file.Path.metaClass.getBaseName = { ->
    delegate.getFileName().toString().replaceAll('\\.[^.]*$', '')
}
java.nio.file.Path.metaClass.listFiles = { -> java.nio.file.Files.list(delegate).toList() }

NEXTFLOW = '''
def file(p) { java.nio.file.Paths.get(p.toString()).toAbsolutePath().normalize() }
def error(String message) { throw new IllegalArgumentException(message) }
'''

def plain(v) {
    if (v instanceof java.nio.file.Path || v instanceof GString) return v.toString()
    if (v instanceof Map) return v.collectEntries { k, x -> [k.toString(), plain(x)] }
    if (v instanceof Collection) return v.collect { x -> plain(x) }
    return v
}

def bind(v) {
    if (v instanceof Map && v.containsKey('__paths__')) return new PathList(v['__paths__'])
    if (v instanceof Map && v.containsKey('__path__')) return java.nio.file.Paths.get(v['__path__'])
    if (v instanceof Map) return v.collectEntries { k, x -> [k, bind(x)] }
    if (v instanceof List) return v.collect { x -> bind(x) }
    return v
}

def answer(request, scripts) {
  return request.collect { job ->
    try {
        if (job.op == 'call') {
            def script = scripts.computeIfAbsent(job.source) { src ->
                new GroovyShell().parse(job.functions + '\n' + NEXTFLOW)
            }
            return [value: plain(script.invokeMethod(job.fn, bind(job.args) as Object[]))]
        }
        if (job.op == 'render') {
            def shell = new GroovyShell(new Binding(bind(job.vars)))
            return [value: job.exprs.collect { e -> shell.evaluate(e).toString() }]
        }
        if (job.op == 'params') {
            def merged = [:]
            job.blocks.each { text ->
                def slurper = new ConfigSlurper()
                slurper.setBinding([projectDir: job.projectDir])
                slurper.parse(text).params.each { k, x -> merged[k] = plain(x) }
            }
            return [value: merged]
        }
        return [error: "unknown op ${job.op}"]
    } catch (Throwable e) {
        def cause = e
        while (cause.cause != null && cause.cause != cause) cause = cause.cause
        return [error: cause.message ?: cause.toString(), type: cause.class.name]
    }
}
}

// One request per stdin line (a JSON list of jobs), one answer line each: the JVM starts once.
def scripts = [:]
def reader = new BufferedReader(new InputStreamReader(System.in, 'UTF-8'))
def line
while ((line = reader.readLine()) != null) {
    def answers = answer(new JsonSlurper().parseText(line), scripts)
    println('@@JSON@@' + JsonOutput.toJson(answers))
    System.out.flush()
}
"""


class GroovyError(RuntimeError):
    """A pipeline function called error(...) or Groovy failed; the message is kept."""


class Groovy:
    """One JVM (the language server jar's Groovy) answering batches of jobs over stdin."""

    def __init__(self, jar: Path, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        harness = self.workdir / "harness.groovy"
        harness.write_text(HARNESS)
        cmd = ["java", "-XX:TieredStopAtLevel=1", "-cp", str(jar), "groovy.ui.GroovyMain"]
        self.proc = subprocess.Popen(
            [*cmd, str(harness)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lock = threading.Lock()

    def run(self, jobs: list[dict]) -> list[dict]:
        with self.lock:
            self.proc.stdin.write(json.dumps(jobs) + "\n")
            self.proc.stdin.flush()
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"groovy exited:\n{self.proc.stderr.read()[-3000:]}")
                if line.startswith("@@JSON@@"):
                    return json.loads(line[len("@@JSON@@") :])

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def call(self, source: Path, fn: str, *args) -> object:
        job = {"op": "call", "source": str(source), "fn": fn, "args": list(args),
               "functions": functions_text(source.read_text())}  # fmt: skip
        [answer] = self.run([job])
        if "error" in answer:
            raise GroovyError(answer["error"])
        return answer["value"]

    def params(self, *configs: Path) -> dict:
        """params as Nextflow would merge them: the params blocks of the given configs in order."""
        blocks = [params_block(c.read_text()) for c in configs]
        job = {"op": "params", "blocks": blocks, "projectDir": str(NF)}
        [answer] = self.run([job])
        if "error" in answer:
            raise GroovyError(answer["error"])
        return answer["value"]


def functions_text(nf_text: str) -> str:
    """The top-level `def` functions of a Nextflow script, without its includes and workflows
    (which are Nextflow's syntax, not Groovy's)."""
    found = []
    for match in re.finditer(r"^def\s+\w+\s*\([^)]*\)\s*\{", nf_text, re.M):
        found.append(nf_text[match.start() : match.end()] + _block(nf_text, match.end() - 1) + "}")
    return "\n\n".join(found)


def ext_args_expr(process: str, config: Path | None = None) -> str | None:
    """The Groovy expression conf/modules.config gives as ext.args for a process, or None."""
    text = (config or NF / "conf" / "modules.config").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # comments (the header shows an example)
    text = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    match = re.search(rf"withName:\s*'{process}'\s*\{{", text)
    if not match:
        return None
    block = _block(text, match.end() - 1)
    found = re.search(r"^\s*ext\.args\s*=\s*", block, re.M)
    if not found:
        return None
    rest = block[found.end() :]
    if rest.startswith("{"):
        return "{" + _block(rest, 0) + "}"
    return rest.splitlines()[0].strip()


def params_block(config_text: str) -> str:
    match = re.search(r"^params\s*\{.*?^\}", config_text, re.S | re.M)
    if not match:
        raise ValueError("no top-level params { } block")
    return match.group(0)


@dataclass
class Input:
    kind: str  # val | path
    name: str
    stage: str = ""  # folder prefix from stageAs: 'dir/*'
    rename: str = ""  # the staged name from stageAs: 'name.yml' (no wildcard)


@dataclass
class Module:
    path: Path
    process: str
    inputs: list[Input]
    outputs: list[str]  # Groovy string literals of path patterns
    output_vals: list[str]  # Groovy literals of val(...) outputs
    script: str  # Groovy code of the script section
    stub: str
    directives: str = field(default="")
    when: str = ""  # Groovy code of the when: guard
    n_inputs: int = 0  # input declarations (a tuple counts once): the arguments a call passes
    emits: list[str] = field(default_factory=list)
    optional: list[bool] = field(default_factory=list)  # per output pattern: `optional: true`


SECTION = re.compile(r"^    (input|output|script|stub|when|exec|shell):\s*$")


def read_module(path: Path) -> Module:
    text = path.read_text()
    process = re.search(r"^process\s+(\w+)\s*\{", text, re.M)
    if not process:
        raise ValueError(f"{path}: no process")
    lines = text[process.end() :].splitlines()
    sections: dict[str, list[str]] = {"directives": []}
    current = "directives"
    for line in lines:
        if line.rstrip() == "}":
            break
        label = SECTION.match(line)
        if label:
            current = label.group(1)
            sections[current] = []
        else:
            sections[current].append(line)
    body = {k: "\n".join(v) for k, v in sections.items()}
    inputs = []
    for match in re.finditer(
        r"\b(val|path)(?:\(\s*|\s+)(\w+)(?:\s*,\s*stageAs:\s*'([^']*)')?", body.get("input", "")
    ):
        kind, name, stage = match.groups()
        if name in ("val", "path", "tuple"):
            continue
        prefix = stage[: -len("*")] if stage and stage.endswith("*") else ""
        rename = stage if stage and "*" not in stage else ""
        inputs.append(Input(kind, name, prefix, rename))
    declared = re.findall(r"^\s*(?:tuple|val|path|env|stdin|each)\b", body.get("input", ""), re.M)
    out = body.get("output", "")
    outputs, optional = [], []
    for line in out.splitlines():  # one declaration a line: its patterns share its optional:
        found = re.findall(r"""\bpath(?:\(\s*|\s+)((['"]).*?\2)""", line)
        outputs += found
        optional += [bool(re.search(r"\boptional:\s*true\b", line))] * len(found)
    output_vals = re.findall(r"""\bval\(\s*((['"]).*?\2)\s*\)""", out)
    return Module(
        path=path,
        process=process.group(1),
        inputs=inputs,
        outputs=[o[0] for o in outputs],
        output_vals=[v[0] for v in output_vals],
        script=body.get("script", ""),
        stub=body.get("stub", ""),
        directives=body["directives"],
        when=body.get("when", "").strip(),
        n_inputs=len(declared),
        emits=re.findall(r"\bemit:\s*(\w+)", out),
        optional=optional,
    )


def command_text(rendered: str) -> str:
    """The script string as Nextflow writes it to .command.sh: indentation stripped."""
    return textwrap.dedent(rendered).strip()


@dataclass
class Task:
    module: Module
    dir: Path
    command: str
    outputs: list[list[Path]]  # files matched by each output pattern, in declaration order
    output_vals: list[str]
    patterns: list[str] = field(default_factory=list)  # output patterns, rendered
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    returncode: int = 0


def stage(module: Module, values: dict, task_dir: Path) -> dict:
    """Symlink path inputs into the task folder; return the variables to bind."""
    bound: dict = {}
    for inp in module.inputs:
        if inp.name not in values:
            raise KeyError(f"{module.process}: no value for input {inp.name!r}")
        value = values[inp.name]
        if inp.kind == "val":
            bound[inp.name] = value
            continue
        files = value if isinstance(value, list | tuple) else [value]
        names = []
        for src in files:
            name = inp.rename or inp.stage + Path(src).name
            target = task_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                raise FileExistsError(f"{module.process}: input file name collision: {name}")
            target.symlink_to(Path(src).resolve())
            names.append(name)
        single = not isinstance(value, list | tuple)
        bound[inp.name] = names[0] if single else {"__paths__": names}
    return bound


def prepare(
    groovy: Groovy,
    module: Module,
    tasks: list[dict],
    params: dict,
    root: Path,
    stub: bool = False,
) -> list[Task]:
    """Stage and render a batch of tasks of one module (one JVM run for all of them)."""
    jobs, staged = [], []
    for k, values in enumerate(tasks):
        task_dir = Path(tempfile.mkdtemp(prefix=f"{module.process.lower()}-{k}-", dir=root))
        bound = stage(module, values, task_dir)
        task = {"cpus": 1, "attempt": 1, "ext": {}, "index": k + 1, "process": module.process}
        bound.update(params=params, task=task)
        exprs = [module.stub if stub else module.script] + module.outputs + module.output_vals
        args = ext_args_expr(module.process)
        if args is not None:  # task.ext.args first, as Nextflow sets it before the script
            exprs.insert(0, f"def v = ({args}); task.ext.args = v instanceof Closure ? v() : v")
        jobs.append({"op": "render", "vars": bound, "exprs": exprs})
        staged.append(task_dir)
    answers = groovy.run(jobs)
    prepared = []
    for task_dir, answer in zip(staged, answers, strict=True):
        if "error" in answer:
            raise GroovyError(f"{module.process}: {answer['error']}")
        values = (
            answer["value"][1:] if ext_args_expr(module.process) is not None else answer["value"]
        )
        script, *rest = values
        patterns = rest[: len(module.outputs)]
        vals = rest[len(module.outputs) :]
        prepared.append(Task(module, task_dir, command_text(script), [], vals, patterns))
    return prepared


def execute(task: Task, timeout: float = 600, check: bool = True) -> Task:
    """Run the command with bash as Nextflow does; collect the declared outputs. A failing
    command raises, unless check is false (then see task.returncode and task.stderr)."""
    env = dict(os.environ)
    env.update(config_env())
    # nf/bin first, as Nextflow puts it; then this Python's own bin (multiqc), as a task's
    # conda environment or container would have it
    tools = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(NF / "bin"), str(tools), env.get("PATH", "")])
    begin = time.monotonic()
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", task.command],
        cwd=task.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    task.stdout, task.stderr = proc.stdout, proc.stderr
    task.seconds = time.monotonic() - begin
    task.returncode = proc.returncode
    print(f"{task.module.process}: {task.seconds:.1f} s: {task.command[:150]}")
    if proc.returncode != 0 and not check:
        return task
    if proc.returncode != 0:
        raise AssertionError(
            f"{task.module.process} failed (exit {proc.returncode}) in {task.dir}:\n"
            f"$ {task.command}\n{proc.stderr[-4000:]}"
        )
    for pattern, optional in zip(task.patterns, task.module.optional, strict=True):
        found = sorted(p for p in task.dir.glob(pattern) if p.exists())  # files, or folders
        if not found and not optional:
            raise AssertionError(
                f"{task.module.process}: output pattern {pattern!r} matched nothing in "
                f"{task.dir} after\n$ {task.command}\n{proc.stderr[-2000:]}"
            )
        task.outputs.append(found)
    return task


# ---- the wiring: includes, calls and emits of the workflow files --------------------------


@dataclass
class Callable:
    """A process or a (sub)workflow as its callers see it."""

    name: str
    path: Path
    kind: str  # process | workflow | function
    n_inputs: int
    emits: list[str]


@dataclass
class Call:
    caller: Path
    line: int
    name: str
    n_args: int


@dataclass
class Wiring:
    callables: dict[Path, dict[str, Callable]]  # what each file defines, by name
    includes: dict[Path, dict[str, Path]]  # per file: included name -> defining file
    calls: list[Call]
    outs: list[tuple[Path, int, str, str]]  # (file, line, callee, emit) for CALLEE.out.EMIT


INCLUDE = re.compile(r"^include\s*\{([^}]*)\}\s*from\s*'([^']+)'", re.M)
WORKFLOW = re.compile(r"^workflow\s+(\w+)\s*\{", re.M)


def _block(text: str, start: int) -> str:
    """The text of the brace block opening at or after start, braces balanced."""
    begin = text.index("{", start)
    depth = 0
    for k in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[begin + 1 : k]
    raise ValueError("unbalanced braces")


def _section(body: str, label: str) -> str:
    match = re.search(rf"^\s*{label}:\s*$(.*?)(?=^\s*(?:take|main|emit|publish):\s*$|\Z)", body,
                      re.S | re.M)  # fmt: skip
    return match.group(1) if match else ""


def _arguments(text: str, open_paren: int) -> int:
    """How many top-level arguments the call whose '(' is at open_paren passes."""
    depth, count, empty = 0, 0, True
    for k in range(open_paren, len(text)):
        ch = text[k]
        if ch in "([{":
            depth += 1
            if depth == 1:
                continue
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return 0 if empty else count + 1
        elif ch == "," and depth == 1:
            count += 1
        if depth >= 1 and not ch.isspace():
            empty = False
    raise ValueError("unbalanced parentheses")


def _defined(path: Path) -> dict[str, Callable]:
    text = path.read_text()
    found: dict[str, Callable] = {}
    if re.search(r"^process\s+\w+", text, re.M):
        module = read_module(path)
        found[module.process] = Callable(
            module.process, path, "process", module.n_inputs, module.emits
        )
    for match in re.finditer(r"^def\s+(\w+)\s*\(([^)]*)\)", text, re.M):
        params = [p for p in match.group(2).split(",") if p.strip()]
        found[match.group(1)] = Callable(match.group(1), path, "function", len(params), [])
    for match in WORKFLOW.finditer(text):
        body = _block(text, match.start())
        take = [w for w in re.findall(r"^\s*(\w+)", _section(body, "take"), re.M)]
        emits = re.findall(r"^\s*(\w+)\s*=", _section(body, "emit"), re.M)
        found[match.group(1)] = Callable(match.group(1), path, "workflow", len(take), emits)
    return found


def _target(path: Path, source: str) -> Path:
    base = (path.parent / source).resolve()
    for candidate in (base.with_name(base.name + ".nf"), base / "main.nf", base):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{path}: include from '{source}': no such file")


def read_wiring(root: Path = NF) -> Wiring:
    skip = {"work", ".nextflow"}
    files = sorted(p for p in root.rglob("*.nf") if not skip & set(p.relative_to(root).parts))
    callables = {p: _defined(p) for p in files}
    includes: dict[Path, dict[str, Path]] = {}
    calls: list[Call] = []
    outs: list[tuple[Path, int, str, str]] = []
    for path in files:
        text = path.read_text()
        mine: dict[str, Path] = {}
        for match in INCLUDE.finditer(text):
            if match.group(2).startswith("plugin/"):
                continue  # the language server resolves plugin includes
            target = _target(path, match.group(2))
            for name in re.split(r"[;\s]+", match.group(1).strip()):
                if name:
                    mine[name.split(" as ")[-1]] = target
        includes[path] = mine
        for name in mine:
            for match in re.finditer(rf"(?<![\w.]){name}\s*\(", text):
                line = text.count("\n", 0, match.start()) + 1
                paren = match.end() - 1
                calls.append(Call(path, line, name, _arguments(text, paren)))
            for match in re.finditer(rf"(?<![\w.]){name}\.out\.(\w+)", text):
                line = text.count("\n", 0, match.start()) + 1
                outs.append((path, line, name, match.group(1)))
    return Wiring(callables, includes, calls, outs)


def wiring_problems(wiring: Wiring, root: Path = NF) -> list[str]:
    """Calls whose argument count differs from the callee's inputs (take: for a subworkflow),
    `.out.NAME` of an emit the callee does not declare, includes of names a file does not
    define, and module or subworkflow files that no workflow includes."""
    problems = []

    def where(path: Path, line: int) -> str:
        return f"{path.relative_to(root)}:{line}"

    for path, names in wiring.includes.items():
        for name, target in names.items():
            if name not in wiring.callables[target]:
                problems.append(f"{path.relative_to(root)}: includes {name}, not in {target.name}")
    for call in wiring.calls:
        callee = wiring.callables[wiring.includes[call.caller][call.name]].get(call.name)
        if callee and call.n_args != callee.n_inputs:
            problems.append(
                f"{where(call.caller, call.line)}: {call.name} called with {call.n_args} "
                f"argument(s); its {callee.kind} takes {callee.n_inputs}"
            )
    for path, line, name, emit in wiring.outs:
        callee = wiring.callables[wiring.includes[path][name]].get(name)
        if callee and emit not in callee.emits:
            problems.append(
                f"{where(path, line)}: {name}.out.{emit}: {name} emits {', '.join(callee.emits)}"
            )
    included = {target for names in wiring.includes.values() for target in names.values()}
    for path in wiring.callables:
        parts = path.relative_to(root).parts
        if parts[0] in ("modules", "subworkflows", "workflows") and path not in included:
            problems.append(f"{path.relative_to(root)}: included by no workflow")
    return problems


# ---- nf-core's rules for modules, workflows and configs ------------------------------------

WHEN_GUARD = "task.ext.when == null || task.ext.when"


def _label_resources(base_config: str) -> dict[str, tuple[float, float, float]]:
    """(cpus, memory GB, time h) at the first attempt, per withLabel block of base.config."""
    found = {}
    for match in re.finditer(r"withLabel:\s*'(\w+)'\s*\{", base_config):
        block = _block(base_config, match.end() - 1)
        cpus = re.search(r"cpus\s*=\s*(\d+)", block)
        memory = re.search(r"memory\s*=\s*\{\s*([\d.]+)\.GB", block)
        time = re.search(r"time\s*=\s*\{\s*([\d.]+)\.h", block)
        if cpus and memory and time:
            found[match.group(1)] = tuple(float(m.group(1)) for m in (cpus, memory, time))
    return found


def _module_problems(path: Path, root: Path) -> list[str]:
    module = read_module(path)
    where = path.relative_to(root)
    text = path.read_text()
    problems = []
    if re.search(r"\bparams\.", text):
        problems.append(f"{where}: reads params (give it an input or task.ext.args)")
    if module.when != WHEN_GUARD:
        problems.append(f"{where}: no `when: {WHEN_GUARD}` guard")
    conda = re.search(r"""^\s*conda\s+["']\$\{moduleDir\}/(\S+?)["']\s*$""", module.directives,
                      re.M)  # fmt: skip
    if not conda:
        problems.append(f"{where}: no conda directive naming a file in its moduleDir")
    elif not (path.parent / conda.group(1)).resolve().is_file():
        problems.append(f"{where}: conda environment {conda.group(1)} is missing")
    if not re.search(r"^\s*container\s+\S", module.directives, re.M):
        problems.append(f"{where}: no container directive")
    return problems


def nf_core_problems(root: Path = NF) -> list[str]:
    """nf-core's rules: modules read no params, have a when: guard and conda and container
    directives; the pipeline's workflow takes and emits; no config reaches outside the
    pipeline folder through projectDir; each resource label asks for more than the one below."""
    problems = []
    for path in sorted((root / "modules").rglob("main.nf")):
        problems += _module_problems(path, root)
    for path in sorted((root / "workflows").glob("*.nf")):
        for match in WORKFLOW.finditer(path.read_text()):
            body = _block(path.read_text(), match.start())
            for label in ("take", "emit"):
                if not re.search(rf"^\s*{label}:\s*$", body, re.M):
                    problems.append(f"{path.relative_to(root)}: {match.group(1)} has no {label}:")
    for path in sorted([root / "nextflow.config", *(root / "conf").glob("*.config")]):
        if re.search(r"projectDir\}?/\.\.", path.read_text()):
            problems.append(f"{path.relative_to(root)}: reaches outside the pipeline folder")
    sizes = _label_resources((root / "conf" / "base.config").read_text())
    order = ["process_low", "process_medium", "process_high"]
    if any(label not in sizes for label in order):
        problems.append(
            "conf/base.config: process_low, _medium and _high must set cpus, memory, time"
        )
    else:
        for small, big in zip(order[:-1], order[1:], strict=True):
            for name, a, b in zip(
                ("cpus", "memory", "time"), sizes[small], sizes[big], strict=True
            ):
                if not b > a:
                    problems.append(f"conf/base.config: {big} {name} ({b:g}) is not more than "
                                    f"{small}'s ({a:g})")  # fmt: skip
    return problems
