"""Share codes (``optiscope share`` / ``optiscope run --from-code``): exact round trips and
clear one-line errors for cut, mistyped, tampered or hostile codes."""

from __future__ import annotations

import base64
import csv
import hashlib
import random
import tomllib
import zlib

import pytest
from optiscope.engine.cli import main
from optiscope.engine.config import ConfigError, dumps_toml
from optiscope.engine.presets import all_presets, preset_names
from optiscope.engine.share import MAX_TOML_BYTES, decode, encode


def stdlib_code(toml: bytes, version: int = 1) -> str:
    """A code made with the standard library alone, as the format's docstring describes it."""
    data = base64.urlsafe_b64encode(zlib.compress(toml)).decode().rstrip("=")
    return f"optiscope:{version}:{data}:{hashlib.sha256(toml).hexdigest()[:8]}"


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips_exactly(name, capsys):
    exp = all_presets()[name]
    assert main(["share", "--preset", name]) == 0
    code = capsys.readouterr().out.strip().splitlines()[-1]  # the code is the last line
    assert decode(code) == exp
    assert encode(decode(code)) == code
    # the format as documented, read with the standard library alone
    prefix, version, data, check = code.split(":")
    toml = zlib.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    assert (prefix, version, check) == ("optiscope", "1", hashlib.sha256(toml).hexdigest()[:8])
    assert tomllib.loads(toml.decode()) == tomllib.loads(dumps_toml(exp))
    assert len(code) < 4000  # short enough for a chat message


def test_run_from_code_trains_the_same_as_the_preset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    code = encode(all_presets()["decay-sweep"])
    common = ["--epochs", "2", "--no-store", "--quiet"]
    assert main(["run", "--from-code", code, "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["run", "--preset", "decay-sweep", "--out", str(tmp_path / "b"), *common]) == 0
    capsys.readouterr()

    def rows(folder):
        with open(tmp_path / folder / "metrics.csv") as fh:
            table = list(csv.reader(fh))
        seconds = table[0].index("seconds")
        return [r[:seconds] + r[seconds + 1 :] for r in table]  # all but the seconds

    assert rows("a") == rows("b") and len(rows("a")) == 1 + 4 * 2


def mutate(code: str, rng: random.Random) -> str:
    """One random damage: a changed, dropped, added or swapped character, a cut, a repeat."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:=+/ .\n\x00é"
    i = rng.randrange(len(code))
    kind = rng.randrange(7)
    if kind == 0:
        return code[:i] + rng.choice(alphabet) + code[i + 1 :]
    if kind == 1:
        return code[:i] + code[i + 1 :]
    if kind == 2:
        return code[:i] + rng.choice(alphabet) + code[i:]
    if kind == 3:
        j = rng.randrange(len(code))
        chars = list(code)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if kind == 4:
        return code[:i]
    if kind == 5:
        return code[:i] + code[i : i + rng.randrange(1, 40)] + code[i:]
    return code[:i] + code[i].swapcase() + code[i + 1 :]


def test_a_thousand_mutated_codes_give_one_line_errors(tmp_path, capsys):
    rng = random.Random(20261207)
    codes = [encode(all_presets()[n]) for n in ("blobs-sgd", "lr-sweep", "overfitting-cures")]
    seen = 0
    while seen < 1000:
        original = rng.choice(codes)
        bad = mutate(original, rng)
        if bad.strip() == original:
            continue  # whitespace at an end is not damage
        seen += 1
        rc = main(["run", "--from-code", bad, "--out", str(tmp_path / "out"), "--no-store", "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2, (bad, err)
        assert err.startswith("optiscope run: error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
    assert not (tmp_path / "out" / "metrics.csv").exists()


def test_zip_bomb_is_refused_without_expanding_it():
    bomb = b"#" * (50 * MAX_TOML_BYTES)  # 50 MB of comment, compresses to ~50 kB
    with pytest.raises(ConfigError, match="expands to more than"):
        decode(stdlib_code(bomb))


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("", "does not start with 'optiscope:'"),
        ("https://example.org/x", "does not start with 'optiscope:'"),
        ("optiscope:1:abc", "has 3 ':'-separated parts"),
        (stdlib_code(b"name = 'x'\n", version=2), "version 2; this Optiscope reads version 1 codes (a newer"),
        ("optiscope:1:" + "A" * 300_000 + ":00000000", "more than a code can be"),
        (stdlib_code(b"name = 'x'\n")[:-1] + "g", "check part is not 8 hexadecimal digits"),
    ],
)
def test_bad_codes_name_the_problem(code, needle):
    with pytest.raises(ConfigError) as info:
        decode(code)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_valid_code_of_an_invalid_experiment_reads_like_a_bad_file():
    with pytest.raises(ConfigError) as info:
        decode(stdlib_code(b"[base.optimizer]\nkind = 'sgd'\nlr = -1.0\n"))
    assert str(info.value) == (
        "the share code is invalid: base.optimizer.lr: Input should be greater than 0 (got -1.0)"
    )


def test_from_code_with_a_file_is_a_usage_error(tmp_path, capsys):
    code = encode(all_presets()["blobs-sgd"])
    rc = main(["run", "--from-code", code, "--preset", "blobs-sgd", "--out", str(tmp_path)])
    assert rc == 2 and "alone" in capsys.readouterr().err
