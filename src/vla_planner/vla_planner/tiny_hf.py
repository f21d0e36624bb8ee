"""Write randomly initialised transformers VLM checkpoints (model AND processor/tokenizer) to a
local directory with ``save_pretrained``, with no hub access: for tests (tiny sizes) and for the
benchmark (a SmolVLM-256M-sized Idefics3). Loading them back goes through exactly the path a
user's checkpoint takes (``hf_backbone.load_vlm``).

The tokenizer is built here: a character-level BPE (no merges) over printable ASCII plus the
special tokens the processors need.
"""
from __future__ import annotations

import os
import string
from pathlib import Path

import torch

from vla_planner.text_encoder import quiet_transformers

IDEFICS3_SPECIALS = (["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
                     + [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)])


def char_tokenizer(extra_special: list[str] | tuple[str, ...] = ()):
    """A fast tokenizer with one token per printable ASCII character."""
    quiet_transformers()
    from tokenizers import Tokenizer, models  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    specials = ["<pad>", "<unk>", "<bos>", "<eos>"]
    vocab = {t: i for i, t in enumerate(specials + list(dict.fromkeys(string.printable)))}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>")),
        bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>")
    if extra_special:
        tok.add_special_tokens({"additional_special_tokens": list(extra_special)})
    return tok


def write_paligemma(out_dir: str | os.PathLike, image_size_px: int = 32, patch_px: int = 16,
                    vision_hidden: int = 16, vision_layers: int = 1, text_hidden: int = 32,
                    text_layers: int = 2, heads: int = 2, seed: int = 0) -> Path:
    """A random-init PaliGemma (SigLIP vision + Gemma text) with its processor."""
    quiet_transformers()
    from transformers import (PaliGemmaConfig, PaliGemmaForConditionalGeneration,  # noqa: PLC0415
                              PaliGemmaProcessor)
    from transformers.models.siglip.image_processing_pil_siglip import (  # noqa: PLC0415
        SiglipImageProcessorPil)

    n_img_tokens = (image_size_px // patch_px) ** 2
    ip = SiglipImageProcessorPil(size={"height": image_size_px, "width": image_size_px})
    ip.image_seq_length = n_img_tokens
    proc = PaliGemmaProcessor(image_processor=ip, tokenizer=char_tokenizer())
    cfg = PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=vision_hidden,
                           intermediate_size=2 * vision_hidden, num_hidden_layers=vision_layers,
                           num_attention_heads=heads, image_size=image_size_px, patch_size=patch_px),
        text_config=dict(model_type="gemma", hidden_size=text_hidden, intermediate_size=2 * text_hidden,
                         num_hidden_layers=text_layers, num_attention_heads=heads,
                         num_key_value_heads=1, head_dim=text_hidden // heads,
                         vocab_size=len(proc.tokenizer)),
        image_token_index=proc.image_token_id, projection_dim=text_hidden)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PaliGemmaForConditionalGeneration(cfg)
    d = Path(out_dir)
    model.save_pretrained(str(d))
    proc.save_pretrained(str(d))
    return d


def write_idefics3(out_dir: str | os.PathLike, image_size_px: int = 32, patch_px: int = 16,
                   vision_hidden: int = 16, vision_layers: int = 1, vision_heads: int = 2,
                   text_hidden: int = 32, text_layers: int = 2, text_heads: int = 2,
                   text_kv_heads: int = 1, text_intermediate: int = 0, vision_intermediate: int = 0,
                   scale_factor: int = 2, vocab_size: int = 0, seed: int = 0) -> Path:
    """A random-init Idefics3 (SmolVLM architecture: SigLIP vision + Llama text) + processor.

    Images are not split into tiles (one global image per camera).
    """
    quiet_transformers()
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration,  # noqa: PLC0415
                              Idefics3Processor)
    from transformers.models.idefics3.image_processing_pil_idefics3 import (  # noqa: PLC0415
        Idefics3ImageProcessorPil)

    tok = char_tokenizer(IDEFICS3_SPECIALS)
    ip = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": image_size_px},
                                   max_image_size={"longest_edge": image_size_px})
    seq = (image_size_px // patch_px) ** 2 // scale_factor ** 2
    proc = Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=seq)
    cfg = Idefics3Config(
        vision_config=dict(hidden_size=vision_hidden,
                           intermediate_size=vision_intermediate or 2 * vision_hidden,
                           num_hidden_layers=vision_layers, num_attention_heads=vision_heads,
                           image_size=image_size_px, patch_size=patch_px),
        text_config=dict(model_type="llama", hidden_size=text_hidden,
                         intermediate_size=text_intermediate or 2 * text_hidden,
                         num_hidden_layers=text_layers, num_attention_heads=text_heads,
                         num_key_value_heads=text_kv_heads,
                         vocab_size=max(vocab_size, len(tok))),
        image_token_id=proc.image_token_id, scale_factor=scale_factor)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Idefics3ForConditionalGeneration(cfg)
    d = Path(out_dir)
    model.save_pretrained(str(d))
    proc.save_pretrained(str(d))
    return d


def write_smolvlm_256m_like(out_dir: str | os.PathLike, image_size_px: int = 512,
                            seed: int = 0) -> Path:
    """Random-init Idefics3 with SmolVLM-256M's published sizes (SigLIP-B/16 vision, 12 layers
    768 wide; SmolLM2-135M text, 30 layers 576 wide, 9 heads / 3 KV heads, vocab 49280;
    pixel-shuffle scale 4): ~250M parameters, for timing only."""
    return write_idefics3(out_dir, image_size_px=image_size_px, patch_px=16, vision_hidden=768,
                          vision_layers=12, vision_heads=12, vision_intermediate=3072,
                          text_hidden=576, text_layers=30, text_heads=9, text_kv_heads=3,
                          text_intermediate=1536, scale_factor=4, vocab_size=49280, seed=seed)
