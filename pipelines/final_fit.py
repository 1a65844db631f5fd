"""DVC stage `train`, the final fit: see ampcapture.stages.run_final_fit."""

from ampcapture.stages import main

raise SystemExit(main("train"))
