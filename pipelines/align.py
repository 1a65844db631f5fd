"""DVC stage `align`: see ampcapture.stages.align."""

from ampcapture.stages import align, main

raise SystemExit(main(align.run))
