#!/usr/bin/env python3
"""Golden tokenizations from llama.cpp (via llama-cpp-python) for model/tokenizer tests.

Run from the repository root with the peer venv:
    /opt/peer-venv/bin/python tests/golden/make_tokenizer_golden.py
Loads the default SmolLM2 GGUF, llama.cpp's vocab-only test GGUFs (models/vocab/) and Gemma 3
270M (262144 tokens, SentencePiece without a space prefix, user-defined runs of newlines and
tabs) with vocab_only=True, tokenizes a varied corpus (plus per-model extra texts: Gemma's
chat markup, whitespace runs and code) for (add_special, parse_special) pairs,
detokenizes the ids with llama_detokenize (remove_special=False, unparse_special=True and
False), and writes tests/golden/tokenizer_golden.json. Texts that are not valid UTF-8 are
stored as hex under "text_hex"; detokenized bytes likewise under "*_hex".
"""
import ctypes
import json
import os
import random
import sys

import llama_cpp

MODELS = [
    "models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "models/vocab/ggml-vocab-gpt-2.gguf",
    "models/vocab/ggml-vocab-llama-bpe.gguf",
    "models/vocab/ggml-vocab-qwen2.gguf",
    "models/vocab/ggml-vocab-llama-spm.gguf",
    "models/vocab/ggml-vocab-phi-3.gguf",
    "models/gemma-3-270m-q4_k_m.gguf",
]

LONG = (
    "In 2024, the city's 3 main libraries lent 1,234,567 books (up 12.5%!). "
    "Café owners — naïvely — said: \"We'll see.\" 東京と大阪は日本の大都市です。"
    "北京是中国的首都。 Привет, мир! مرحبا بالعالم 👍🏽 👨‍👩‍👧‍👦 🇺🇸\n"
    "def f(x):\n\treturn x**2  # square\n\n\n    if x >= 10: pass\r\n"
)

CORPUS = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", " \n", "\t\n", "\r\n", " \t \n  \n",
    "Hello world", " Hello world", "Hello World!", "Hello, world!", "  Hello  world  ",
    "hello\nworld", "HELLO", "a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "It's a dog's life; they're sure we've won, I'm told you'll see, he'd say.",
    "IT'S THEY'RE WE'VE I'M YOU'LL HE'D DON'T", "'s 're 've 'm 'll 'd 't", "''''",
    "1", "12", "123", "1234", "12345", "123456789012345678901234567890", "3.14159 -2e10 0x1F",
    "1,000,000 and 7th 22nd", "٣٤٥ ١٢ (Arabic-Indic digits) ½ ⅓ Ⅻ",
    "The quick brown fox jumps over the lazy dog.",
    "café naïve résumé Ångström über straße façade",
    "Ñandú, pingüino, acción; ça va? Œuvre Ærø",
    "日本語のテキストです。東京タワー",
    "中文测试：你好，世界！",
    "한국어 문장입니다.",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם",
    "Привет, как дела?",
    "Ελληνικά γράμματα",
    "ภาษาไทย",
    "हिन्दी पाठ",
    "emoji 😀😃😄 👍🏽 ❤️ 🇯🇵",
    "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag",
    "🦙🦙🦙",
    "def hello():\n    print('hi')\n    return 42\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "    indented with spaces\n\tand tabs\n\t\tdouble",
    "trailing spaces   ", "   leading spaces", "a  b   c    d",
    "punctuation!!! ??? ... ,,, ;;; --- ___ ***", "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "mixed: abc123def 456ghi", "email@example.com https://example.org/path?q=1&r=2",
    "\u00a0non-breaking\u2009thin\u3000ideographic space",
    "zero\u200bwidth\u200djoiner", "combining e\u0301 a\u0308 n\u0303",
    "\u2581already escaped\u2581space", "ﬁ ligature ＡＢＣ fullwidth",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "text<|endoftext|>more", "<|im_start|><|im_end|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<s>hello</s>", "<s> hello </s> ", "<unk>",
    "<|user|>\nHi there<|end|>\n<|assistant|>\n",
    "<|system|> rstrip check <|end|>  after",
    LONG,
]

# Texts only some vocabularies are tested on (their entries come after CORPUS and INVALID).
GEMMA_CHAT = (
    "<start_of_turn>user\nHello there!\n\nHow are you?<end_of_turn>\n<start_of_turn>model\n"
)
EXTRA = {
    "models/gemma-3-270m-q4_k_m.gguf": [
        GEMMA_CHAT,
        "<bos>" + GEMMA_CHAT,
        "<bos><start_of_turn>user\nYou are terse.\n\nWhat is 2+2?<end_of_turn>\n"
        "<start_of_turn>model\n4<end_of_turn>\n<start_of_turn>user\nAnd 3+3?<end_of_turn>\n"
        "<start_of_turn>model\n",
        "<bos>Hi", "<eos>", "<pad><mask><unk>", "<unused0><unused98>", "[multimodal]",
        "<start_of_image><end_of_image>", "text<end_of_turn>more",
        "The weather today is sunny with a light breeze from the west, and the forecast "
        "promises more of the same until the weekend.",
        " one leading space", "  two leading spaces", "    four", " " * 40 + "forty",
        "a\n\n\nb", "\n\n\n\n\n\n\n\n", "\n" * 31, "\n" * 32, "\n" * 70 + "x",
        "line\n \n  \n\t\nend", "\t\t\tthree tabs", "\t" * 40 + "x", "a\tb\t\tc\t\t\td",
        "  \t \n\t  \n", "\r\n\r\n", "trailing newlines\n\n\n\n",
        "<h1>Title</h1>\n<p>Some <b>bold</b> and <i>italic</i> text.</p>\n"
        "<table><tr><td>x</td></tr></table>",
        "東京の天気は晴れです。北京今天很热。서울은 비가 옵니다.",
        "emoji: 🎉🎉 🙂 🧑🏽‍🚀 👩‍❤️‍👨 🇫🇷🇩🇪",
        "Crème brûlée, jalapeño, Ærøskøbing, Đà Nẵng, Zürich, São Paulo",
        "import numpy as np\n\n\ndef softmax(x: np.ndarray) -> np.ndarray:\n"
        "\te = np.exp(x - x.max())\n\treturn e / e.sum()\n",
        "#include <vector>\nint main() {\n  std::vector<int> v{1, 2, 3};\n"
        "  return v[0] + v[1] * v[2];  // 7\n}\n",
        '{"key": [1, 2.5, null, true], "nested": {"a": "b\\n"}}',
    ] + [
        # Special tokens, their fragments and whitespace runs, mixed at random: partitioning
        # (longest token first, overlaps) against llama.cpp's.
        "".join(random.Random(seed).choices(
            ["<start_of_turn>", "<end_of_turn>", "<start_of", "_turn>", "<", ">", "<bos>",
             "<eos>", "<unused1", "0>", "<unused99>", "[multimodal]", "<start_of_image>",
             "\n", "\n\n", "\t", "\t\t", " ", "  ", "\r", "user", "model", "a", "東", "🎉",
             "<b>", "</b>", "<h1>", "<table>", "<mask>", "▁"], k=120))
        for seed in range(4)
    ],
}

INVALID = [b"\xff\xfeabc", b"abc\xe2\x82", b"\xc0\x80x", b"\xed\xa0\x80 surrogate", b"\x80\x80"]


def text_entry(raw: bytes):
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text_hex": raw.hex()}


def bytes_entry(key: str, raw: bytes):
    try:
        return {key: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {key + "_hex": raw.hex()}


def detokenize(vocab, ids, unparse_special):
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 256 + 64 * len(ids)
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, False, unparse_special)
    if n < 0:
        raise RuntimeError("detokenize buffer too small")
    return buf.raw[:n]


def main():
    out = {"generator": "llama-cpp-python " + llama_cpp.__version__, "models": []}
    for path in MODELS:
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run scripts/fetch-models first")
        llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        cases = []
        texts = [t.encode("utf-8") for t in CORPUS] + INVALID
        texts += [t.encode("utf-8") for t in EXTRA.get(path, [])]
        for raw in texts:
            # Every flag pair for texts with special-token syntax; two pairs for the rest
            # (keeps the JSON small).
            if b"<" in raw:
                flag_pairs = [(False, False), (False, True), (True, False), (True, True)]
            else:
                flag_pairs = [(False, False), (True, True)]
            for add_special, parse_special in flag_pairs:
                ids = llm.tokenize(raw, add_bos=add_special, special=parse_special)
                case = text_entry(raw)
                case.update({"add_special": add_special, "parse_special": parse_special,
                             "ids": ids})
                # Decode goldens once per text and id list (both render modes).
                if add_special and parse_special:
                    case.update(bytes_entry("decoded", detokenize(vocab, ids, True)))
                    case.update(bytes_entry("decoded_skip", detokenize(vocab, ids, False)))
                cases.append(case)
        out["models"].append({"path": path, "n_vocab": llm.n_vocab(), "cases": cases})
        del llm
    dst = os.path.join("tests", "golden", "tokenizer_golden.json")
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {dst}: {sum(len(m['cases']) for m in out['models'])} cases, "
          f"{os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
