"""DVC stage `demo`: see ampcapture.stages.run_demo."""

from ampcapture.stages import main

raise SystemExit(main("demo"))
