"""BuildKit mode between dockyard's client and `dockyard serve` (`POST /build?version=2`, no
session): what travels besides Docker's own build parameters.

- request headers: secrets as base64 JSON `{id: base64 value}` (never in the query or the
  context); SSH agent sockets or key files as base64 JSON `{id: [path, ...]}` (the daemon runs on
  the client's machine);
- query: `nocachefilter` (JSON list of stages), `allow` (entitlements, repeated), `outputs`
  (Docker's `[{"Type": ..., "Attrs": {...}}]`; with a `dest`, the daemon writes nothing: the
  bytes come back in the stream, the dest only names them in progress);
- response: Docker's JSON message stream with solve statuses as
  `{"id": STATUS_ID, "aux": <SolveStatus>}`, a failed step's report as
  `{"id": REPORT_ID, "aux": {"step", "lines", "excerpt"}}` before the error message, an
  output's bytes as `{"id": OUTPUT_ID, "aux": {"data": <base64>}}` (a `local` output as a tar
  the client extracts), and the result as `{"aux": {"ID": <image id>, "Metadata": {...}}}`.
"""

STATUS_ID = "dockyard.buildkit.status"
REPORT_ID = "dockyard.buildkit.error"
OUTPUT_ID = "dockyard.buildkit.output"
OUTPUT_CHUNK = 48 * 1024  # bytes of output per message (a multiple of 3: base64 without padding)
SECRETS_HEADER = "X-Dockyard-Build-Secrets"
SSH_HEADER = "X-Dockyard-Build-Ssh"
