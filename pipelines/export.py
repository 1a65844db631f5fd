"""DVC stage `export`: see ampcapture.stages.run_export."""

from ampcapture.stages import main

raise SystemExit(main("export"))
