"""The exact text-tower shortcut: prompts encoded at the longest prompt's length instead of 77 tokens.

CLIP's text tower is causal and pools the end-of-text token, so padding after it
cannot change a prompt's feature (pinned in tests/test_model.py to 1e-5). This
measures the time saved for the 495 prompts of ViT-B-32, at inference and in a
training step in which the text tower has gradients.
"""
from __future__ import annotations

import torch

from common import padded_to_77, seconds_per_call, write_result
from liqe_lib import load_model


def main() -> None:
    torch.manual_seed(0)
    model = load_model(arch="ViT-B-32", weights=None)
    short = model.prompt_tokens
    full = padded_to_77(short)
    figures = {"prompts": short.shape[0], "tokens_short": short.shape[1], "tokens_full": 77}
    with torch.no_grad():
        figures["max_abs_diff"] = float((model.encode_prompts(short) - model.encode_prompts(full)).abs().max())
        t_short = seconds_per_call(lambda: model.encode_prompts(short))
        t_full = seconds_per_call(lambda: model.encode_prompts(full))
    figures["inference"] = {"s_short": round(t_short, 3), "s_full": round(t_full, 3), "ratio": round(t_full / t_short, 2)}

    def train_step(tokens: torch.Tensor) -> None:
        model.zero_grad(set_to_none=True)
        model.encode_prompts(tokens).square().sum().backward()

    t_short = seconds_per_call(lambda: train_step(short), repeat=2)
    t_full = seconds_per_call(lambda: train_step(full), repeat=1)  # a minute or more a call on 2 cores
    figures["training_step"] = {"s_short": round(t_short, 3), "s_full": round(t_full, 3), "ratio": round(t_full / t_short, 2)}
    write_result("text_tower", figures)


if __name__ == "__main__":
    main()
