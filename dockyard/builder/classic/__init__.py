"""Docker's classic builder (DOCKER_BUILDKIT=0), the reference for its image IDs, history and
cache hits: builder.py (the loop over stages and steps), dispatchers.py (one handler per
instruction), state.py (a stage's and the build's state; the cache probe and the commit),
cache.py (the image-chain cache), history.py (the strings each step records)."""
