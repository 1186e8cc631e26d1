"""Every model name a user may give, and its architecture: one registry, without torch, so the
commands that only read maps (`export`, `evaluate`) and `--help` can name the models without
loading it (importing torch costs 1-2 s a process, and a pipeline runs one per map).
"""

from __future__ import annotations

from typing import NamedTuple

# re-exported (the families and the CLI import it from here); written once, in files.methods
from contactplug.files.methods import DEFAULT_MODEL as DEFAULT_MODEL


class Arch(NamedTuple):
    family: str
    layers: int
    embed_dim: int
    heads: int
    hub: str = ""  # the HF hub owner the name is looked up under, offline


# name -> architecture; one registry of every name a user may give (and bench --arch takes)
REGISTRY: dict[str, Arch] = {
    "esm2_t6_8M_UR50D": Arch("ESM-2", 6, 320, 20, "facebook"),
    "esm2_t12_35M_UR50D": Arch("ESM-2", 12, 480, 20, "facebook"),
    "esm2_t30_150M_UR50D": Arch("ESM-2", 30, 640, 20, "facebook"),
    "esm2_t33_650M_UR50D": Arch("ESM-2", 33, 1280, 20, "facebook"),
    "esm2_t36_3B_UR50D": Arch("ESM-2", 36, 2560, 40, "facebook"),
    "esm2_t48_15B_UR50D": Arch("ESM-2", 48, 5120, 40, "facebook"),
    "esm1b_t33_650M_UR50S": Arch("ESM-1b", 33, 1280, 20),
    **{f"esm1v_t33_650M_UR90S_{n}": Arch("ESM-1v", 33, 1280, 20) for n in range(1, 6)},
    "esmc_300m": Arch("ESM C", 30, 960, 15),
    "esmc_600m": Arch("ESM C", 36, 1152, 18),
    "prot_t5_xl_uniref50": Arch("ProtT5", 24, 1024, 32, "Rostlab"),
    "prot_t5_xl_half_uniref50-enc": Arch("ProtT5", 24, 1024, 32, "Rostlab"),
    "AMPLIFY_120M": Arch("AMPLIFY", 24, 640, 10, "chandar-lab"),
    "AMPLIFY_350M": Arch("AMPLIFY", 32, 960, 15, "chandar-lab"),
    # ProGen2 (Salesforce) by the names of its HF ports; medium and base share a shape
    "progen2-small": Arch("ProGen2", 12, 1024, 16, "hugohrban"),
    "progen2-medium": Arch("ProGen2", 27, 1536, 16, "hugohrban"),
    "progen2-base": Arch("ProGen2", 27, 1536, 16, "hugohrban"),
    "progen2-large": Arch("ProGen2", 32, 2560, 32, "hugohrban"),
    "progen2-xlarge": Arch("ProGen2", 32, 4096, 16, "hugohrban"),
}
