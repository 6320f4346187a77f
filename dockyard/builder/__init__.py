"""The builder: a Dockerfile and a context in, an image out.

Shared by every build mode: the context (context.py, directory_context.py, dockerignore.py), what
instructions mean (stage.py: expansion, ARG scope, the run config, RUN's command line and
environment, COPY's destination; metadata.py: the config mutations, also used by commit/import
--change in changes.py; copy/: COPY/ADD sources, their cache checksum, ADD's URLs and archives,
the layer written directly; users.py: --chown), an image's files (rootfs.py), RUN's container
(run.py), and BuildOptions/Output (options.py).
The modes: classic/ (Docker's classic builder, DOCKER_BUILDKIT=0).
"""
