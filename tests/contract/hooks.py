"""Schemathesis hooks for tests/contract/run.sh: bodies of media types it has no serializer for."""

import schemathesis

# A vote thread (`POST …/vote/tally`) is text: send generated strings as they are.
schemathesis.serializer.alias("application/mbox", "text/plain")
