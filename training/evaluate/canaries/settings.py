"""The probe's settings, importable without the trainer (the CLI builds its options from them)."""

from __future__ import annotations

from dataclasses import dataclass

REPEATS = (1, 4, 16)  # how many training samples each canary goes into, in turn
CANDIDATES = 1000  # exposure is then at most log2(1001), about 10 bits
REPORT_FILE = "canaries.json"


@dataclass(frozen=True)
class ProbeSettings:
    canaries: int
    candidates: int = CANDIDATES
    repeats: tuple[int, ...] = REPEATS
    redact_names: bool = False
    seed: int = 0  # the same canaries every run, so a run with --redact-names is compared on the same secrets
