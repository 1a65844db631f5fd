"""DVC stage `benchmark`: see ampcapture.stages.benchmark."""

from ampcapture.stages import benchmark, main

raise SystemExit(main(benchmark.run))
