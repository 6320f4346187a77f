"""The Dockerfile frontend: text in, typed instructions out (no containers).

    df = parse(data, "Dockerfile")      # Dockerfile(directives, escape, meta_args, stages)
    str(df) / format_dockerfile(df)     # prints it back; parse(str(df)) == df
"""

from dockyard.dockerfile.document import Dockerfile, Stage, format_dockerfile, parse, parse_file
from dockyard.dockerfile.shell import ShellLex

__all__ = ["Dockerfile", "Stage", "ShellLex", "format_dockerfile", "parse", "parse_file"]
