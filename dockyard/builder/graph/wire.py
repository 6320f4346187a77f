"""BuildKit mode between dockyard's client and `dockyard serve` (`POST /build?version=2`, no
session): what travels besides Docker's own build parameters.

- request headers: secrets as base64 JSON `{id: base64 value}` (never in the query or the
  context); SSH agent sockets or key files as base64 JSON `{id: [path, ...]}` (the daemon runs on
  the client's machine);
- query: `nocachefilter` (JSON list of stages), `allow` (entitlements, repeated);
- response: Docker's JSON message stream with solve statuses as
  `{"id": STATUS_ID, "aux": <SolveStatus>}`, a failed step's report as
  `{"id": REPORT_ID, "aux": {"step", "lines", "excerpt"}}` before the error message, and the
  result as `{"aux": {"ID": <image id>, "Metadata": {...}}}`.
"""

STATUS_ID = "dockyard.buildkit.status"
REPORT_ID = "dockyard.buildkit.error"
SECRETS_HEADER = "X-Dockyard-Build-Secrets"
SSH_HEADER = "X-Dockyard-Build-Ssh"
