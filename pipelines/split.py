"""DVC stage `split`: see ampcapture.stages.run_split."""

from ampcapture.stages import main

raise SystemExit(main("split"))
