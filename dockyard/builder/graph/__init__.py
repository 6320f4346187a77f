"""BuildKit mode (`DOCKER_BUILDKIT=1`): the Dockerfile as a graph of operations, solved with
content-addressed cache keys, independent stages in parallel, and BuildKit's image format,
progress output and exporters. The classic builder (dockyard.builder.classic) is untouched;
instruction semantics both share are in dockyard.builder.stage and .metadata.

    convert.py   Dockerfile -> graph of vertices (ops.py) and the image config (image.py)
    solver.py    the scheduler: cache lookups (store/buildcache.py), parallel execution
    execute.py   RUN with its mounts; files.py: COPY/ADD/WORKDIR
    session.py   secrets and SSH agents the client lends a build
    export.py    --output, --iidfile, --metadata-file; progress.py: --progress displays
    build.py     one build from an opened context, end to end
"""
