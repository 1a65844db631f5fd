"""DVC stage `signal` (named so it does not shadow the stdlib `signal` module): see ampcapture.stages.run_signal."""

from ampcapture.stages import main

raise SystemExit(main("signal"))
