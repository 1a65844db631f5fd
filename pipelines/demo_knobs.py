"""DVC stage `demo_knobs`: see ampcapture.stages.demo_knobs."""

from ampcapture.stages import demo_knobs, main

raise SystemExit(main(demo_knobs.run))
