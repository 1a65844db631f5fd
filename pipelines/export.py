"""DVC stage `export`: see ampcapture.stages.export."""

from ampcapture.stages import main, export

raise SystemExit(main(export.run))
