"""DVC stage `train`, the final fit: see ampcapture.stages.final_fit."""

from ampcapture.stages import main, final_fit

raise SystemExit(main(final_fit.run))
