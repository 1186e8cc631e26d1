import logging

import pytest

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record, check_length, clean_sequence, parse_fasta


def test_parse_fasta_multiline_records():
    recs = parse_fasta(">a first\nMKT\nAYI\n\n>b\nGGG\n")
    assert recs == [Record("a", "MKTAYI"), Record("b", "GGG")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("MKT\n>a\nMKT", "before any '>' header"),
        (">a\n\n>b\nMKT", "empty sequence"),
        (">a\nMKT\n>a\nGGG", "duplicate record id"),
        ("", "no FASTA records"),
        (">\nMKT", "empty header"),
        (">a\nMK-T", "not amino acids"),
        (">a\nMK*T", "not amino acids"),
        (">a\nMK1T", "not amino acids"),
    ],
)
def test_bad_fasta_is_one_clear_line(text, message):
    with pytest.raises(ContactplugError, match=message) as err:
        parse_fasta(text, "in.fa")
    assert "\n" not in str(err.value)


def test_lowercase_and_ambiguous_letters_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="contactplug"):
        assert clean_sequence("mktX*", "q") == "MKTX"
    assert "upper-cased" in caplog.text
    assert "non-standard letters X" in caplog.text


def test_too_long_sequence_names_the_window():
    with pytest.raises(ContactplugError, match="1022-residue window"):
        check_length(Record("long", "A" * 1023))
