"""`ledgerpane serve` started warm, for the fault soak: this process imports the service first, then waits for a
port on stdin and serves on it. The soak keeps one of these standing by, so a restart after a SIGKILL costs the
service's start, not the interpreter's imports (about two seconds of a shared CPU, fifty times over)."""
import sys

import waitress  # noqa: F401 - imported while standing by

from server.app import create_app  # noqa: F401 - imported while standing by
from server.cli import main
from server.refresh import pipeline  # noqa: F401 - imported while standing by

if __name__ == "__main__":
    port = sys.stdin.readline().strip()
    if port:  # an empty line (or a closed stdin): the soak no longer needs this one
        main(["serve", "--port", port])
