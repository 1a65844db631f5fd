"""DVC stage `demo`: see ampcapture.stages.demo."""

from ampcapture.stages import main, demo

raise SystemExit(main(demo.run))
