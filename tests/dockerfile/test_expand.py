"""Expansion of instructions at dispatch time and ARG scoping, as Docker's builder does it.

Each case states the Docker behaviour it matches (Dockerfile reference: "Environment
replacement", "ARG", "Scope", "Using ARG variables", "Predefined ARGs", "Automatic platform ARGs").
"""

from __future__ import annotations

import pytest

from dockyard.dockerfile import ShellLex, parse, parse_instruction, parse_instructions, parse_trigger
from dockyard.dockerfile.args import BuildArgs, platform_args
from dockyard.dockerfile.instructions import (
    AddInstruction,
    ArgInstruction,
    CopyInstruction,
    EnvInstruction,
    ExposeInstruction,
    LabelInstruction,
    RunInstruction,
)
from dockyard.errors import DockerfileError

LEX = ShellLex()


def body(text: str) -> list:
    return parse("FROM scratch\n" + text).stages[0].instructions


def test_env_expands_keys_and_values_with_previous_env_only() -> None:
    # ENV a=x b=$a: all pairs see the env from before the instruction (Docker doc example).
    (ins,) = body('ENV abc=bye def=$abc ghi="$abc two"\n')
    assert isinstance(ins, EnvInstruction)
    out = ins.expand(LEX, {"abc": "hello"})
    assert [(p.key, p.value) for p in out.pairs] == [("abc", "bye"), ("def", "hello"), ("ghi", "hello two")]
    assert ins.pairs[1].value == "$abc"  # the original is not modified


def test_env_old_form_value_is_processed_as_one_word() -> None:
    (ins,) = body("ENV MSG hello   \"big\" $W\n")
    assert ins.expand(LEX, {"W": "world"}).pairs[0].value == "hello   big world"


def test_label_expands_and_removes_quotes() -> None:
    (ins,) = body('LABEL "com.example.$K"="v $V" plain=x\\ y\n')
    assert isinstance(ins, LabelInstruction)
    out = ins.expand(LEX, {"K": "key", "V": "1"})
    assert [(p.key, p.value) for p in out.pairs] == [("com.example.key", "v 1"), ("plain", "x y")]


def test_copy_expands_sources_dest_chown_chmod_but_not_from() -> None:
    (ins,) = body("COPY --from=$S --chown=$U:$G --chmod=$M $SRC ${DIR}/ \n")
    assert isinstance(ins, CopyInstruction)
    out = ins.expand(LEX, {"U": "app", "G": "staff", "M": "0755", "SRC": "a.txt", "DIR": "/opt", "S": "x"})
    assert (out.sources, out.dest, out.chown, out.chmod, out.from_) == (["a.txt"], "/opt/", "app:staff", "0755", "$S")


def test_add_expands_checksum() -> None:
    (ins,) = body("ADD --checksum=$SUM https://example.com/$F /dst\n")
    assert isinstance(ins, AddInstruction)
    out = ins.expand(LEX, {"SUM": "sha256:abc", "F": "f.txt"})
    assert (out.checksum, out.sources) == ("sha256:abc", ["https://example.com/f.txt"])


def test_copy_heredoc_content_expanded_only_for_unquoted_delimiter() -> None:
    (a, b) = body("COPY <<EOF /a\nhi $NAME \"q\"\nEOF\nCOPY <<'EOF' /b\nhi $NAME\nEOF\n")
    env = {"NAME": "bob"}
    assert a.expand(LEX, env).heredoc_sources[0].data == 'hi bob "q"\n'
    assert b.expand(LEX, env).heredoc_sources[0].data == "hi $NAME\n"


def test_run_cmd_entrypoint_shell_form_not_expanded() -> None:
    # The shell expands these; Docker passes the text through untouched.
    run, cmd = body("RUN echo $HOME\nCMD echo $HOME\n")
    assert run.expand(LEX, {"HOME": "/root"}).cmd == ["echo $HOME"]
    assert not hasattr(cmd, "expand")


def test_run_mount_values_are_expanded() -> None:
    (ins,) = body("RUN --mount=type=cache,target=$DIR,id=$ID make\n")
    assert isinstance(ins, RunInstruction)
    out = ins.expand(LEX, {"DIR": "/cache", "ID": "c1"})
    assert (out.mounts[0].target, out.mounts[0].id, out.mounts[0].type) == ("/cache", "c1", "cache")
    assert ins.mounts[0].target == "$DIR"


def test_expose_variable_expands_to_several_ports() -> None:
    # `EXPOSE $PORTS` with PORTS="80 443/udp" exposes both (Docker splits the expansion).
    (ins,) = body("EXPOSE $PORTS 8000-8002\n")
    assert isinstance(ins, ExposeInstruction)
    out = ins.expand(LEX, {"PORTS": "80 443/udp"})
    assert out.ports == ["80", "443/udp", "8000-8002"]


@pytest.mark.parametrize(
    ("line", "attr", "expected"),
    [
        ("WORKDIR $HOME/app", "path", "/root/app"),
        ("USER ${U:-nobody}:$G", "user", "nobody:staff"),
        ("STOPSIGNAL $SIG", "signal", "SIGKILL"),
        ("VOLUME $HOME/data /x/$G", "volumes", ["/root/data", "/x/staff"]),
        ('VOLUME ["$HOME"]', "volumes", ["/root"]),
    ],
)
def test_single_word_instructions(line: str, attr: str, expected: object) -> None:
    (ins,) = body(line + "\n")
    out = ins.expand(LEX, {"HOME": "/root", "G": "staff", "SIG": "SIGKILL"})
    assert getattr(out, attr) == expected


def test_onbuild_text_is_never_expanded() -> None:
    (ins,) = body("ONBUILD ENV A=$B\n")
    assert ins.expression == "ENV A=$B"
    assert not hasattr(ins, "expand")


def test_expand_error_names_file_and_line() -> None:
    ins = parse("FROM scratch\n\nWORKDIR ${X:?is required}\n", filename="ctx/Dockerfile").stages[0].instructions[0]
    with pytest.raises(DockerfileError) as info:
        ins.expand(LEX, {})
    assert str(info.value) == 'ctx/Dockerfile:3: failed to process "${X:?is required}": X: is required'


def test_from_expansion_and_blank_base() -> None:
    df = parse("ARG IMG\nFROM ${IMG}\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: base name \(\$\{IMG\}\) should not be blank$"):
        df.stages[0].from_instruction.expand(LEX, {})
    assert df.stages[0].from_instruction.expand(LEX, {"IMG": "busybox"}).base == "busybox"


def test_backtick_escape_lexer_from_dockerfile() -> None:
    df = parse("# escape=`\nFROM scratch\nWORKDIR C:\\app\\`$X\n")
    assert df.stages[0].instructions[0].expand(df.lex(), {"X": "no"}).path == "C:\\app\\$X"


# -- ARG scoping --------------------------------------------------------------------------


def run_build(text: str, options: dict[str, str | None] | None = None,
              image_env: dict[str, str] | None = None) -> list[dict[str, str]]:  # fmt: skip
    """Walk a Dockerfile as the builder will: returns, per stage, the expansion env seen by the
    stage's last instruction (after its ARG/ENV instructions), plus the FROM env."""
    df = parse(text)
    args = BuildArgs(options, platform_args("linux/amd64", "linux/arm/v7"))
    args.add_meta_args(df.meta_args, df.lex())
    envs = []
    for stage in df.stages:
        frm = stage.from_instruction.expand(df.lex(), args.from_env())
        args.new_stage()
        env = dict(image_env or {})
        for ins in stage.instructions:
            exp_env = args.expansion_env(env)
            if isinstance(ins, ArgInstruction):
                args.declare(ins.expand(df.lex(), exp_env))
            elif isinstance(ins, EnvInstruction):
                for p in ins.expand(df.lex(), exp_env).pairs:
                    env[p.key] = p.value
        envs.append({"FROM": frm.base, **args.expansion_env(env)})
    return envs


def test_meta_arg_only_in_from() -> None:
    (env,) = run_build("ARG V=1.0\nFROM img:$V\nRUN true\n")
    assert env["FROM"] == "img:1.0"
    assert "V" not in env


def test_meta_arg_redeclared_inherits_default() -> None:
    (env,) = run_build("ARG V=1.0\nFROM img\nARG V\n")
    assert env["V"] == "1.0"


def test_build_arg_overrides_defaults_everywhere() -> None:
    (env,) = run_build("ARG V=1.0\nFROM img:$V\nARG V\nARG W=w\n", {"V": "2.0", "W": "x"})
    assert (env["FROM"], env["V"], env["W"]) == ("img:2.0", "2.0", "x")


def test_undeclared_build_arg_invisible_but_reported_unused() -> None:
    df = parse("FROM img\nRUN true\n")
    args = BuildArgs({"SECRET": "x"})
    args.add_meta_args(df.meta_args, df.lex())
    args.new_stage()
    assert "SECRET" not in args.expansion_env({})
    assert args.unused() == ["SECRET"]


def test_proxy_args_need_no_declaration() -> None:
    (env,) = run_build("FROM img\n", {"HTTP_PROXY": "http://proxy:3128", "no_proxy": "localhost"})
    assert (env["HTTP_PROXY"], env["no_proxy"]) == ("http://proxy:3128", "localhost")


def test_env_overrides_arg() -> None:
    # Dockerfile reference: "Environment variables defined using the ENV instruction always
    # override an ARG instruction of the same name."
    (env,) = run_build("FROM img\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\n", {"CONT_IMG_VER": "v2.0.1"})
    assert env["CONT_IMG_VER"] == "v1.0.0"


def test_arg_scope_ends_with_stage() -> None:
    first, second = run_build("FROM a\nARG X=1\nFROM b\n")
    assert first["X"] == "1" and "X" not in second


def test_arg_default_uses_earlier_arg_and_env() -> None:
    (env,) = run_build("FROM img\nARG A=a\nENV E=e\nARG B=${A}-${E}\n")
    assert env["B"] == "a-e"


def test_meta_arg_default_uses_earlier_meta_arg() -> None:
    (env,) = run_build("ARG REG=example.com\nARG IMG=$REG/app\nFROM $IMG\n")
    assert env["FROM"] == "example.com/app"


def test_platform_args_global_and_by_declaration() -> None:
    (env,) = run_build("FROM --platform=$BUILDPLATFORM img:$TARGETARCH\nARG TARGETPLATFORM\nARG BUILDVARIANT\n")
    assert env["FROM"] == "img:arm"
    assert env["TARGETPLATFORM"] == "linux/arm/v7"
    assert env["BUILDVARIANT"] == ""
    assert "TARGETARCH" not in env


def test_platform_args_values() -> None:
    assert platform_args("linux/amd64", "linux/arm64/v8") == {
        "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64", "BUILDVARIANT": "",
        "TARGETPLATFORM": "linux/arm64/v8", "TARGETOS": "linux", "TARGETARCH": "arm64", "TARGETVARIANT": "v8",
    }  # fmt: skip


def test_onbuild_triggers_round_trip_through_image_config() -> None:
    # The builder stores `expression` in the image's OnBuild list; a child build re-parses each.
    df = parse("FROM scratch\nONBUILD RUN echo $HOME\nONBUILD COPY <<EOF /f\nhi\nEOF\nonbuild env A=1\n")
    stored = [ins.expression for ins in df.stages[0].instructions]
    assert stored == ["RUN echo $HOME", "COPY <<EOF /f\nhi\nEOF", "env A=1"]
    triggers = [parse_trigger(text) for text in stored]
    assert [t.keyword for t in triggers] == ["RUN", "COPY", "ENV"]
    assert triggers[0].cmd == ["echo $HOME"]
    assert triggers[1].heredoc_sources[0].data == "hi\n"


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox", r"^ONBUILD:1: FROM isn't allowed as an ONBUILD trigger$"),
    ("MAINTAINER me", r"^ONBUILD:1: MAINTAINER isn't allowed as an ONBUILD trigger$"),
    ("ONBUILD RUN true", r"^ONBUILD:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed$"),
    ("RUNN x", r"^ONBUILD:1: unknown instruction: RUNN$"),
    # Docker's dispatchTriggeredOnBuild parses each stored trigger alone and wants one instruction
    ("RUN true\nRUN false", r"^onbuild trigger should be a single expression$"),
])  # fmt: skip
def test_trigger_refused_as_docker_refuses_it(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        parse_trigger(text)


def test_parse_instruction_needs_no_from() -> None:
    label = parse_instruction('LABEL "a b"="c\\"d"', "label")
    assert isinstance(label, LabelInstruction)
    assert label.start_line == 1
    expanded = label.expand(ShellLex("\\"), {})
    assert [(p.key, p.value) for p in expanded.pairs] == [("a b", 'c"d')]
    run = parse_instruction("RUN a \\\n  b")
    assert isinstance(run, RunInstruction) and run.cmd == ["a   b"]
    assert [i.keyword for i in parse_instructions("ENV A=1\nEXPOSE 80\n")] == ["ENV", "EXPOSE"]
    with pytest.raises(DockerfileError, match=r"^label:2: one instruction expected, found 2$"):
        parse_instruction("LABEL a=b\nLABEL c=d", "label")
    with pytest.raises(DockerfileError, match=r"^change:1: unknown instruction: NOPE$"):
        parse_instruction("NOPE x", "change")
