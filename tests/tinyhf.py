"""Tiny, randomly initialised transformers models and tokenizers, built in a temp dir (no hub)."""

VOCAB = ["[UNK]", "[PAD]", "[EOS]", "ки", "+", "-", "<extra_0>", "What", "is", "2", "4", "?", "step", "one", "two",
         "so", "the", "answer", "user:", "assistant:", "\\boxed{4}", "hello", "world", "yes", "no"]
CHAT = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}")


def tokenizer(transformers):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok.add_special_tokens(["<extra_0>", "[EOS]", "[PAD]"])
    t = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                             eos_token="[EOS]")
    t.chat_template = CHAT
    return t


def tiny(path, transformers, torch, cls, **extra):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                                   pad_token_id=1, eos_token_id=2, **extra)
    out = path / cls.__name__
    cls(cfg).save_pretrained(out)
    tokenizer(transformers).save_pretrained(out)
    return out
