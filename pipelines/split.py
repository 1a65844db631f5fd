"""DVC stage `split`: see ampcapture.stages.split."""

from ampcapture.stages import main, split

raise SystemExit(main(split.run))
