"""DVC stage `benchmark`: see ampcapture.stages.benchmark."""

from ampcapture.stages import main, benchmark

raise SystemExit(main(benchmark.run))
