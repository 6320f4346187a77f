"""The Dockerfile frontend: text in, typed instructions out (no containers).

    df = parse(data, "Dockerfile")        # or parse_file(path); DockerfileError("<file>:<line>: ...")
    df.directives, df.escape, df.meta_args, df.stages, df.warnings
    str(df) / format_dockerfile(df)       # prints it back: parse(str(df)) == df

How a builder walks it (what Docker's classic builder does):

    args = BuildArgs(build_args, platform_args("linux/amd64"))      # dockerfile/args.py
    args.add_meta_args(df.meta_args, df.lex())
    for stage in df.stages:
        frm = stage.from_instruction.expand(df.lex(), args.from_env())   # image, --platform
        args.new_stage()
        for ins in stage.instructions:                                   # print "Step N/M : " + ins.original
            env = args.expansion_env(image_config_env)                   # ENV wins over ARG
            if hasattr(ins, "expand"):
                ins = ins.expand(df.lex(), env)                          # a copy; original untouched
            ...                                                          # ArgInstruction -> args.declare(ins)

One instruction given as text (an ONBUILD trigger, a `commit --change`, a `--label`):

    ins = parse_instruction('LABEL "k"="v"')     # parse_trigger(text) adds ONBUILD's rules

Modules: parser.py (lines -> nodes), instruction_parser.py (nodes or one instruction's text ->
typed instructions), instructions.py (the typed instructions and their dispatch-time expansion),
flags.py (an instruction's --flags), mounts.py (RUN --mount values), durations.py (HEALTHCHECK's
Go durations), shell.py (the expansion lexer), args.py (ARG scoping), document.py (Dockerfile,
parse, format), dump.py (the golden-test text form).

The frontend knows nothing of images or containers: it imports only dockyard.errors.
"""

from dockyard.dockerfile.document import (
    Dockerfile,
    Stage,
    format_dockerfile,
    parse,
    parse_file,
)
from dockyard.dockerfile.instruction_parser import parse_instruction, parse_instructions, parse_trigger
from dockyard.dockerfile.shell import ShellLex

__all__ = [
    "Dockerfile",
    "ShellLex",
    "Stage",
    "format_dockerfile",
    "parse",
    "parse_file",
    "parse_instruction",
    "parse_instructions",
    "parse_trigger",
]
