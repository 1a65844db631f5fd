"""DVC stage `align`: see ampcapture.stages.align."""

from ampcapture.stages import main, align

raise SystemExit(main(align.run))
