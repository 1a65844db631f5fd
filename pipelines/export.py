"""DVC stage `export`: see ampcapture.stages.export."""

from ampcapture.stages import export, main

raise SystemExit(main(export.run))
