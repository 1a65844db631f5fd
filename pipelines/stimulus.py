"""DVC stage `signal` (named so it does not shadow the stdlib `signal` module): see ampcapture.stages.signal."""

from ampcapture.stages import main, stimulus

raise SystemExit(main(stimulus.run))
