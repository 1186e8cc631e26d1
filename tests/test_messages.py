"""Messages carry the arguments they are about as data (issue 21, item 6): the command line
words them as flags (`--top`), the PyMOL plugin as its arguments (`top=`), each from the same
error. Real errors from real calls; the plugin's wording from its own module."""

from __future__ import annotations

import ast
import logging
import pickle
import re
import sys
from pathlib import Path

import pytest

from contactplug import api
from contactplug.cli import main
from contactplug.files import resume, specs
from contactplug.files.errors import (
    Argument,
    ContactplugError,
    Message,
    arg,
    arguments_in,
    cli_words,
    worded,
)
from contactplug.files.sequences import Record
from contactplug.models.loading import load_model
from contactplug.readout import prediction

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugin"))
from contactplug_pymol import messages  # noqa: E402

CORE = ROOT / "src" / "contactplug"
FLAG = re.compile(r"(?<![\w-])--[a-z]")  # `models--facebook--esm2` is a path, not a flag
# Text of the core that names a flag and is no message, so carries no argument: a line of the
# ChimeraX script `export` writes, and `model-info`/`bench`'s precision line (command line only)
NOT_MESSAGES = {
    (
        "restraints/chimerax.py",
        "# no --structure given: open your structure first, then this script",
    ),
    ("readout/matmul_precision.py", "; --precision fp32 | bf16 to choose)"),
    ("readout/fold_kernel.py", "--version"),  # the C compiler's own flag, read into the key
}


def core_strings() -> list[tuple[str, int, str]]:
    """(module, line, text) of every string in the core outside commands/ and cli.py that is
    not a docstring: error messages, log messages, and the pieces they are built from."""
    found = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).as_posix()
        if rel.startswith("commands/") or rel == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                docstrings.add(id(body[0].value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in docstrings:
                    found.append((rel, node.lineno, node.value))
    return found


def test_no_core_message_names_a_flag_in_words():
    """Every message of the core that names an argument carries it as `arg(...)`: no string
    outside commands/ and cli.py spells a flag, but the two that are no messages."""
    strings = core_strings()
    assert len(strings) > 1000  # the scan reads the core
    flags = {(rel, text) for rel, _, text in strings if FLAG.search(text)}
    assert flags == NOT_MESSAGES


def test_every_phrase_the_plugin_words_is_one_the_core_writes():
    """The plugin's phrase table is keyed by (argument, phrase) as the core's `arg` calls write
    them: a phrase reworded in the core would otherwise fall back silently."""
    written = set()
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "arg":
                words = {k.arg: k.value for k in node.keywords}
                if "phrase" in words and isinstance(node.args[0], ast.Constant):
                    written.add((node.args[0].value, ast.literal_eval(words["phrase"])))
    assert set(messages.PHRASES) <= written, set(messages.PHRASES) - written


def test_an_argument_is_data_worded_by_each_interface():
    text = f"{arg('top', value=repr('x'))}: bad; {arg('model', 'PATH')}; {arg('top_k')} low"
    err = ContactplugError(text)
    assert err.arguments == [
        Argument("top", value="'x'"),
        Argument("model", "PATH"),
        Argument("top_k"),
    ]
    assert str(err) == "--top 'x': bad; --model PATH; --top-k low"
    assert err.worded(lambda a: f"<{a.name}>") == "<top>: bad; <model>; <top_k> low"
    assert messages.pymol_words(err) == "top='x': bad; model=/path/to/folder; top_k low"
    # pickling (errors cross processes in batching) keeps the arguments
    again = pickle.loads(pickle.dumps(err))
    assert again.arguments == err.arguments and str(again) == str(err)
    # a message that adds to another keeps its arguments; one without markers is unchanged
    outer = ContactplugError(f"file.npz: {err.marked}")
    assert outer.arguments == err.arguments and str(outer) == "file.npz: " + str(err)
    assert str(ContactplugError("plain")) == "plain" and arguments_in("plain") == []
    with pytest.raises(ValueError):
        arg("top", phrase="no place for it")


def _raised(fn, *args, **kwargs) -> ContactplugError:
    with pytest.raises(ContactplugError) as caught:
        fn(*args, **kwargs)
    return caught.value


def test_a_bad_top_in_each_interface():
    err = _raised(specs.parse_top, "x", 100)
    assert err.arguments == [Argument("top", value="'x'")]
    assert str(err) == "--top 'x': give a count or L, L/2, L/5 (also 2L, all)"
    assert messages.pymol_words(err) == "top='x': give a count or L, L/2, L/5 (also 2L, all)"
    sep = _raised(specs.parse_sep, "10-5")
    assert str(sep) == "--min-sep '10-5': the upper bound 5 is below 10"
    assert messages.pymol_words(sep) == "min_sep='10-5': the upper bound 5 is below 10"


def test_a_bad_top_k_from_a_real_readout(tiny_model):
    err = _raised(api.predict, "MKTAYIAKQRQISFVKSHFSRQ", model=tiny_model, top_k=50)
    n = tiny_model.num_layers * tiny_model.num_heads
    assert str(err) == f"--top-k must be between 1 and {n}, not 50"
    assert messages.pymol_words(err) == f"top_k must be between 1 and {n}, not 50"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("CONTACTPLUG_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


def test_a_missing_model_in_each_interface(offline):
    err = _raised(load_model, "esm2_t12_35M_UR50D")
    [model] = err.arguments
    assert (model.name, model.metavar) == ("model", "PATH")
    cli, pymol = str(err), messages.pymol_words(err)
    assert cli.endswith(
        "and the network is unreachable; pass --model PATH to a fair-esm .pt or an HF folder"
    )
    assert pymol.endswith(
        "and the network is unreachable; give model=/path/to/folder (a HuggingFace folder: "
        "config.json and its weights) or model=/path/to/file.pt (a fair-esm checkpoint)"
    )
    assert cli.split(";")[0] == pymol.split(";")[0]  # the rest reads the same


def test_a_window_hint_in_each_interface(tiny_model):
    """A chain over the model's limit with windows off (`--window 0`) is refused before any
    forward, by the readout's one length check."""
    long = Record("long", "A" * (tiny_model.max_length + 5))
    err = _raised(prediction.record_sizes, tiny_model, [long], None, None)
    assert str(err).endswith("window; split the sequence or use --window")
    assert messages.pymol_words(err).endswith("window; select a part of the chain")


def test_the_executable_keeps_the_markers_for_the_plugin(tiny_model_path, tmp_path, capsys):
    """CONTACTPLUG_MESSAGES=marked (the plugin sets it when it runs the executable): the error
    line keeps the arguments, and the plugin words it as it words an error in-process."""
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">q\nMKTAYIAKQRQISFVKSHFSRQ\n")
    argv = ["predict", str(fasta), "-o", str(tmp_path / "out"), "--model", str(tiny_model_path)]
    argv += ["--top-k", "50"]
    assert main(argv) == 2
    plain = capsys.readouterr().err.strip()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(*next(iter(messages.MARKED_ENV.items())))
        assert main(argv) == 2
    marked = capsys.readouterr().err.strip()
    assert plain.startswith("contactplug: error: --top-k must be between 1 and ")
    assert marked != plain and worded(marked) == plain
    assert messages.pymol_words(marked) == plain.replace("--top-k", "top_k")


def test_log_records_name_their_arguments(caplog):
    with caplog.at_level(logging.INFO, logger="contactplug"):
        resume.say(0, 0, 3, "maps", force=True)
    [record] = caplog.records
    assert isinstance(record.msg, Message) and record.msg.arguments == [Argument("force")]
    assert record.getMessage() == "--force: computing all 3 maps"
    assert messages.record_words(record) == "force: computing all 3 maps"


def test_plain_text_of_an_older_executable_still_loses_its_flags():
    assert (
        messages.pymol_words("--top-k must be between 1 and 4") == "top_k must be between 1 and 4"
    )
    assert cli_words(Argument("min_sep", value="'x'")) == "--min-sep 'x'"
