"""Reference fixtures for contactplug's own ESM C forward, made with EvolutionaryScale's code.

EvolutionaryScale's package installs a module named `esm`, the name fair-esm uses too, so it
runs in a venv of its own and only here; the tests read the files this writes with nothing
but torch and numpy. Regenerate (about a minute; CPU only):

    python3 -m venv /work/esmc-venv
    /work/esmc-venv/bin/pip install torch==2.13.0
    /work/esmc-venv/bin/pip install --no-deps esm==3.2.1.post1
    /work/esmc-venv/bin/pip install attrs einops zstd pandas scipy biotite brotli \
        msgpack-numpy biopython cloudpathlib tenacity httpx "transformers<4.48.2"
    /work/esmc-venv/bin/python scripts/make_esmc_fixtures.py

(`--no-deps` because the package also asks for torchvision, torchtext, ipython and
scikit-learn, which importing `esm.models.esmc` does not need.) Checked: a fresh venv made so
(transformers 4.48.1, tokenizers 0.21.4, numpy 2.4.6) writes the committed files byte for byte.

What it writes under tests/data/esmc/:
  esmc_tiny.pth   the state dict of a reduced ESM C (d_model 32, 4 heads, 3 layers) built with
                  `esm.models.esmc.ESMC` and random weights, saved as the official
                  `data/weights/esmc_300m_2024_12_v0.pth` is: a flat dict of tensors under the
                  official key names, read back by `model.load_state_dict`.
  reference.npz   for a padded batch of SEQUENCES, from the official forward in float32:
                  tokens (B x T), logits (B x T x 64, `sequence_logits`), embeddings (B x T x D,
                  after the final norm: what the forward returns as `embeddings`),
                  hidden_states (layers x B x T x D, before the final norm) and attention
                  (layers x B x heads x T x T), plus the config (d_model, n_heads, n_layers).
  tokenizer.json  strings and the ids the official tokenizer gives them (odd letters included).

How the attention probabilities are taken: EvolutionaryScale's MultiHeadAttention computes its
q, k, v (fused layernorm_qkv, q/k LayerNorm, rotary) and hands them with its mask to
`torch.nn.functional.scaled_dot_product_attention`, which never exposes the probabilities.
While the official forward runs, that function is wrapped so every call records the q, k, mask
it was given; the probabilities are softmax(q k^T / sqrt(d_head)) with masked keys at -inf,
computed in float64 from those very tensors. The script checks that probabilities @ v equals
what the official attention returned (to 1e-5), so the maps are the ones the model used.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from esm.models.esmc import ESMC
from esm.tokenization import get_esmc_model_tokenizers
from esm.utils import encoding
from esm.utils.misc import stack_variable_length_tensors

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "esmc"
D_MODEL, N_HEADS, N_LAYERS = 32, 4, 3
SEED = 20241204

# a standard one, one of rare letters with the mask letter '_', the 20 amino acids: lengths
# differ, so the batch is padded
SEQUENCES = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ",
    "MAXU_WCBZO",
    "ACDEFGHIKLMNPQRSTVWY",
]
# what the tokenizer does with letters a cleaned sequence never has, for the tokenizer test
TOKENIZER_CASES = SEQUENCES + ["acde", "AJC", "A*C", "A-.C", "A|C", "A<mask>C", "A_C", "X"]


def randomize(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Weights far from the default init, so no LayerNorm is an identity and attention is peaky."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith(("q_ln.weight", "k_ln.weight")):
                p.copy_(1.5 + 0.3 * noise)
            elif p.ndim == 1 and name.endswith("weight"):  # other LayerNorm gains
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif name == "embed.weight":
                p.copy_(noise)
            else:  # Linear: the usual 1/sqrt(fan_in) scale
                p.copy_(noise / math.sqrt(p.shape[1]))


class RecordAttention:
    """Wraps F.scaled_dot_product_attention while the official forward runs (see docstring)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.original = F.scaled_dot_product_attention

    def __enter__(self) -> RecordAttention:
        def recording(q, k, v, attn_mask=None, *args, **kwargs):
            out = self.original(q, k, v, attn_mask, *args, **kwargs)
            assert not args and not kwargs, "the official call passes q, k, v, mask only"
            self.calls.append({"q": q, "k": k, "v": v, "mask": attn_mask, "out": out})
            return out

        torch.nn.functional.scaled_dot_product_attention = recording
        return self

    def __exit__(self, *exc) -> None:
        torch.nn.functional.scaled_dot_product_attention = self.original


def probabilities(call: dict) -> torch.Tensor:
    q, k = call["q"].double(), call["k"].double()
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if call["mask"] is not None:
        scores = scores.masked_fill(~call["mask"], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    check = (probs @ call["v"].double()).float()
    gap = (check - call["out"]).abs().max().item()
    assert gap < 1e-5, f"recomputed attention output differs from the module's by {gap}"
    return probs.float()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(SEED)
    tokenizer = get_esmc_model_tokenizers()
    model = ESMC(D_MODEL, N_HEADS, N_LAYERS, tokenizer=tokenizer, use_flash_attn=False).eval()
    assert not model._use_flash_attn
    randomize(model, generator)
    # the official file is a flat {name: tensor} dict read by model.load_state_dict
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, OUT / "esmc_tiny.pth")

    tokens = stack_variable_length_tensors(
        [encoding.tokenize_sequence(s, tokenizer, add_special_tokens=True) for s in SEQUENCES],
        constant_value=tokenizer.pad_token_id,
    )
    with torch.no_grad(), RecordAttention() as record:
        out = model(sequence_tokens=tokens)
    assert len(record.calls) == N_LAYERS
    attention = torch.stack([probabilities(c) for c in record.calls])  # layers x B x H x T x T

    np.savez_compressed(
        OUT / "reference.npz",
        tokens=tokens.numpy().astype(np.int64),
        logits=out.sequence_logits.float().numpy(),
        embeddings=out.embeddings.float().numpy(),
        hidden_states=out.hidden_states.float().numpy(),
        attention=attention.numpy(),
        d_model=np.int64(D_MODEL),
        n_heads=np.int64(N_HEADS),
        n_layers=np.int64(N_LAYERS),
        sequences=np.array(SEQUENCES),
    )
    cases = {
        s: encoding.tokenize_sequence(s, tokenizer, add_special_tokens=True).tolist()
        for s in TOKENIZER_CASES
    }
    vocab = {tokenizer.convert_ids_to_tokens(i): i for i in range(tokenizer.vocab_size)}
    (OUT / "tokenizer.json").write_text(json.dumps({"vocab": vocab, "cases": cases}, indent=1))
    sizes = {p.name: p.stat().st_size for p in sorted(OUT.iterdir())}
    print(f"wrote {OUT}: {sizes}; tokens {tuple(tokens.shape)}")


if __name__ == "__main__":
    main()
