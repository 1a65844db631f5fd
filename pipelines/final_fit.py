"""DVC stage `train`, the final fit: see ampcapture.stages.final_fit."""

from ampcapture.stages import final_fit, main

raise SystemExit(main(final_fit.run))
