"""DVC stage `demo`: see ampcapture.stages.demo."""

from ampcapture.stages import demo, main

raise SystemExit(main(demo.run))
