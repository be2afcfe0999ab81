#!/usr/bin/env python3
"""Golden sentence embeddings from sentence-transformers for the BERT encoder tests.

Run from anywhere with the machine-local venv (CI never needs it):
    python3 -m venv /opt/st-venv && /opt/st-venv/bin/pip install sentence-transformers
    /opt/st-venv/bin/python tests/golden/embeddings/make_embedding_golden.py
Loads models/all-MiniLM-L6-v2 (scripts/fetch-models) from its local path with the hub
switched off, embeds each text on its own (batch of one, CPU, float32) and writes
embedding_golden.json beside this script:
    {"model", "max_seq_length", "dim", "cases": [{"text", "tokens", "embedding"}]}
"tokens" are the ids the model saw, [CLS] and [SEP] included; each text is short enough
that sentence-transformers did not truncate it, and the ids equal the fast tokenizer's
untruncated encoding of the text (checked here). "embedding" is the model's output:
mean pooling over the tokens, then L2 normalisation (modules.json has Normalize), with 7
significant digits.
"""
import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODEL_DIR = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")

PROSE = (
    "The history of the printing press is a story about how ideas travel. Before movable "
    "type, books were copied by hand, and a single volume could take a scribe many months "
    "to finish. When Johannes Gutenberg combined metal type, oil-based ink and a screw "
    "press around 1440, the cost of making a book fell sharply, and within fifty years "
    "printing shops had opened in more than two hundred towns across Europe. Pamphlets, "
    "newspapers and scientific journals followed, and with them came new habits of reading, "
    "arguing and learning. Scholars could compare identical copies of a text, errors could "
    "be corrected in later editions, and knowledge that had once been locked away in a few "
    "libraries began to reach ordinary people in their own languages. Historians still "
    "debate how much the press caused the great changes of the following centuries, but few "
    "doubt that it made them faster and broader than they would otherwise have been. Today "
    "the same questions are asked about the internet, and the answers are just as hard to "
    "find, because every new medium changes the people who use it in ways that are easy to "
    "feel and difficult to measure over a lifetime. Some argue that the printed page "
    "trained readers to follow long arguments in silence, while screens train them to skim, "
    "to jump between sources and to expect an answer within seconds; others reply that "
    "every generation has worried about the reading habits of the next one."
)

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "Machine learning models turn sentences into vectors of numbers.",
    "HELLO WORLD, THIS SENTENCE IS WRITTEN IN CAPITAL LETTERS.",
    "北京是中国的首都，也是一座历史悠久的城市。",
    "東京は日本の首都です。ひらがなとカタカナも使います。",
    "我喜欢用 Python 写代码, and I drink 咖啡 every morning.",
    "Café au lait, a naïve résumé, and the Ångström unit.",
    "Über die Straße: façade, Ñandú, pingüino, Œuvre, Ærø.",
    "Wait... what?!? (Really) -- yes: [a], {b}, <c>; \"quoted\" & 'single' #1 @me $5 %50 ^*~`|\\",
    "I love pizza 🍕🍕 and cats 😺! 👍🏽 ❤️ 🇯🇵",
    "for (int i = 0; i < 10; ++i) { sum += a[i] * 3.14159; } // 0x1F 1,234,567",
    "   \t  leading and trailing whitespace  \n\n ",
    "control\x00chars\x07and\x1b[0m escapes\u200b zero\u200dwidth\ufeff soft\u00adhyphen",
    "A very long word: " + "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + " ends here.",
    "a",
    "?",
    "Hi",
    "",
    "안녕하세요, 만나서 반갑습니다.",
    "Москва — столица России, а Ελληνικά γράμματα είναι ωραία.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "[CLS] special [SEP] tokens [MASK] inside [PAD] the [UNK] text",
    "ＡＢＣ１２３ fullwidth ｶﾀｶﾅ and ﬁ ligature",
    "Contact me at someone@example.com or https://example.org/path?q=1&r=2#frag.",
    "It's a dog's life; they're sure we've won, I'm told you'll see, he'd say.",
    PROSE[:600],
]


def exactly_256_tokens(tokenizer):
    """PROSE trimmed from the end, one character at a time, until it is CLS + 254 + SEP."""
    text = PROSE
    while text:
        n = len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
        if n == 256:
            return text
        if n < 256:
            sys.exit("could not trim PROSE to exactly 256 tokens: lengthen it")
        text = text[:-1]
    sys.exit("PROSE is empty")


def sig7(x):
    return float(f"{x:.7g}")


def main():
    if not os.path.exists(os.path.join(MODEL_DIR, "model.safetensors")):
        sys.exit(f"missing {MODEL_DIR}: run scripts/fetch-models first")
    torch.manual_seed(0)
    model = SentenceTransformer(MODEL_DIR, device="cpu")
    model.eval()
    tokenizer = model.tokenizer
    # sentence-transformers 6 renamed tokenize -> preprocess and
    # get_sentence_embedding_dimension -> get_embedding_dimension.
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    texts = TEXTS + [exactly_256_tokens(tokenizer)]
    cases = []
    for text in texts:
        fed = preprocess([text])["input_ids"][0].tolist()
        full = tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)
        full = full["input_ids"]
        if fed != full:
            sys.exit(f"sentence-transformers truncated or changed the ids of {text!r}")
        with torch.no_grad():
            emb = model.encode([text], batch_size=1, convert_to_numpy=True)[0]
        cases.append({"text": text, "tokens": fed, "embedding": [sig7(v) for v in emb.tolist()]})
    if not any(len(c["tokens"]) == 256 for c in cases):
        sys.exit("no case of exactly 256 tokens")
    out = {
        "model": "all-MiniLM-L6-v2",
        "max_seq_length": model.max_seq_length,
        "dim": dim(),
        "cases": cases,
    }
    dst = os.path.join(HERE, "embedding_golden.json")
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {dst}: {len(cases)} cases, {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
