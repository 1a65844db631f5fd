"""DVC stage `benchmark`: see ampcapture.stages.run_benchmark."""

from ampcapture.stages import main

raise SystemExit(main("benchmark"))
