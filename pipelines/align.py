"""DVC stage `align`: see ampcapture.stages.run_align."""

from ampcapture.stages import main

raise SystemExit(main("align"))
