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

Modules: parser.py (lines -> nodes), instructions.py (nodes -> typed instructions),
shell.py (the expansion lexer), args.py (ARG scoping), document.py (Dockerfile, parse, format),
dump.py (the golden-test text form).
"""

from dockyard.dockerfile.document import (
    Dockerfile,
    Stage,
    format_dockerfile,
    parse,
    parse_file,
    parse_triggers,
)
from dockyard.dockerfile.shell import ShellLex

__all__ = [
    "Dockerfile",
    "ShellLex",
    "Stage",
    "format_dockerfile",
    "parse",
    "parse_file",
    "parse_triggers",
]
