#!/usr/bin/env python3
"""Golden WordPiece tokenizations from HuggingFace tokenizers for model/tokenizer tests.

Run with the machine-local venv that make_embedding_golden.py uses (CI never needs it):
    /opt/st-venv/bin/python tests/golden/embeddings/make_wordpiece_golden.py
Loads models/all-MiniLM-L6-v2/tokenizer.json with the Rust tokenizer that BertTokenizerFast
and sentence-transformers use, switches off the file's truncation and padding, and writes
wordpiece_golden.json beside this script:
    {"generator", "cases": [{"text" | "text_hex", "ids", "decoded", "decoded_skip"}]}
"ids" include [CLS] and [SEP] (add_special_tokens=True); "decoded" is decode(ids) and
"decoded_skip" decode(ids, skip_special_tokens=True). Texts that are not valid UTF-8 are
stored as hex under "text_hex" and tokenized as Python decodes them with errors="replace".
The corpus is hand-written edge cases plus seeded random strings from many scripts.
"""
import json
import os
import random
import sys
import unicodedata

import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TOKENIZER = os.path.join(ROOT, "models", "all-MiniLM-L6-v2", "tokenizer.json")

HANDWRITTEN = [
    # Plain text, case, short inputs.
    "", " ", "a", "A", "?", ".", "Hi", "hello world", "Hello, World!", "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.", "unaffable", "unbelievably transformative",
    "It's a dog's life; they're sure we've won, I'm told you'll see, he'd say. Don't!",
    "tokenization wordpiece subword ##prefix ## #hashtag",
    # Whitespace and control characters.
    "  leading", "trailing  ", "\t\ttabs\tand\nnewlines\r\n", "a  b   c    d",
    "a\u00a0b", "a\u3000b", "a\u2028b\u2029c", "a\u1680b\u205fc\u202fd", "a\u2000b\u200ac",
    "a\x85b", "a\x0bb\x0cc", "a\x1cb\x1dc\x1ed\x1ff", "a\x00b", "a\x07b\x1bc\x7fd",
    "a\ufffdb", "\ufffd", "a\u200bb", "a\u200cb\u200dc", "a\u200eb\u200fc", "a\u2060b",
    "a\ufeffb", "a\u180eb", "a\u00adb", "a\u061cb", "a\ue000b\U000f0000c", "\x00\x01\x02",
    "\n", "\t \n \r", "a\tb\nc\rd",
    # Punctuation: ASCII symbol ranges and Unicode P* (and what BERT does not split).
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "a!b\"c#d$e%f&g'h(i)j*k+l,m-n.o/p",
    "a:b;c<d=e>f?g@h[i\\j]k^l_m`n{o|p}q~r", "wait... what?!?", "(nested [brackets {here}])",
    "«guillemets» „quotes“ “curly” ‘single’", "em—dash en–dash ‐hyphen ‑nb", "¿Qué? ¡Sí!",
    "a·b•c…d‰e′f″g", "§1 ¶2 †3 ‡4", "a\u2e42b", "a\u2e43b", "a\u2e50b", "a\u0f14b",
    "a+b=c<d>e^f|g~h", "a×b÷c±d", "€5 £3 ¥7 $9 ₿1 ₹2", "©®™", "°C ‰ ‱",
    "、。〃〈〉《》「」『』【】", "：；！？，．", "a\u3002b\uff0cc",
    # Accents, case mappings and normalisation.
    "café naïve résumé Ångström", "CAFÉ NAÏVE RÉSUMÉ ÅNGSTRÖM", "e\u0301 a\u0308 n\u0303",
    "über straße façade Ñandú pingüino Œuvre Ærø", "ẞ ß İstanbul ıi ǅ ǆ Ǆ", "ΣΑΣ σας Σ",
    "Ⓐⓑ Ⅻⅻ", "\u13a0\u13a1 \uab70", "\u1c90\u1c91", "\U00010400\U00010428", "ﬁ ﬀ ﬃ ﬆ",
    "ＡＢＣ ａｂｃ １２３", "ｶﾀｶﾅ ｱｲｳ", "½ ⅓ ² ³ ¹", "Å Å Å", "ǘ ǖ ǚ ǜ", "ḍ̇ q̣̇",
    "e" + "\u0301" * 5, "\u0301\u0302 marks first", "a\u0489b", "a\u20ddb", "a\u0903b",
    "Vietnamese: Tiếng Việt có dấu", "Polish: Zażółć gęślą jaźń", "Czech: Příliš žluťoučký",
    "Turkish: Iğdır ŞİŞLİ", "Icelandic: Þórður Ðóra", "Latvian: Ģirts Ķemeri",
    # Scripts.
    "北京是中国的首都。", "中文测试：你好，世界！", "我喜欢用 Python 写代码 and 咖啡",
    "東京は日本の首都です。ひらがなとカタカナ", "日本語のテキストです。東京タワー",
    "한국어 문장입니다.", "안녕하세요", "ᄀᄁ ᅡᅢ", "Привет, как дела? Ёлка ЁЖ",
    "Ελληνικά γράμματα ΆΈΉ ΐΰ", "مرحبا بالعالم، كيف حالك؟", "שלום עולם", "हिन्दी पाठ नमस्ते",
    "ภาษาไทย สวัสดี", "ສະບາຍດີ", "ᠮᠣᠩᠭᠣᠯ", "ქართული", "Հայերեն", "አማርኛ", "தமிழ்",
    "বাংলা", "ગુજરાતી", "ଓଡ଼ିଆ", "ಕನ್ನಡ", "മലയാളം", "සිංහල", "བོད་ཡིག", "ខ្មែរ", "ꦗꦮ",
    # CJK ranges (BERT's list, as HuggingFace spells it).
    "a\u4e00b\u9fffc", "a\u3400b\u4dbfc", "a\U00020000b\U0002a6dfc", "a\U0002a700b",
    "a\U0002b740b", "a\U0002b820b", "a\U0002b91fb", "a\U0002b920b", "a\U0002ceafb",
    "a\uf900b\ufaffc", "a\U0002f800b", "a\u3007b", "a\U00030000b", "a\u2e80b\u2f00c",
    # Emoji, symbols, numbers and code.
    "emoji 😀😃😄 👍🏽 ❤️ 🇯🇵", "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag", "🦙🦙🦙", "a🤣b a🥰b a🫠b",
    "☃★♠♣♥♦", "→←↑↓⇒", "∀x∈ℝ: x²≥0", "1", "12", "1234567890", "3.14159 -2e10 0x1F",
    "1,000,000 and 7th 22nd", "٣٤٥ ١٢ ۴۵", "def f(x):\n    return x**2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }", "<html><body class=\"x\">&amp;</body>",
    "email@example.com https://example.org/path?q=1&r=2#frag", "snake_case camelCase kebab-case",
    "C++ C# F# .NET node.js", "$HOME/.config ~/bin ../up", "2024-11-22T04:45:00Z 12:30pm",
    # Added (special) tokens in the text.
    "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "hello [MASK] world", "x[MASK]y",
    "[CLS][SEP][MASK]", "[mask] [Mask]", "[ MASK ]", "[MASK", "MASK]", "[[MASK]]",
    "[CLS] special [SEP] tokens", "café[SEP]naïve", "[UNK]nown", "[SEP ]", "\u0130[MASK]\u0130",
    # Characters whose category changed after Unicode 8.0 (HuggingFace's tables are 8.0).
    "x\u166dy", "v\u1734 w", "a\u1885b \u1886", "\ua9bd\ua98f", "a\U000111c9b",
    # Word length limit (100 characters after normalisation).
    "a" * 99, "a" * 100, "a" * 101, "x " + "ab" * 50 + " y", "x " + "ab" * 50 + "a y",
    "é" * 100, "é" * 101, "e\u0301" * 100, "E\u0301" * 101, "中" * 150,
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "qqqqqqqqqq zxzxzxzx xqxqxq", "!" * 120, "a-" * 60,
]

# Random strings: code points drawn from these blocks (assigned or not, surrogates skipped).
BLOCKS = {
    "ascii": (0x20, 0x7E), "latin1": (0xA0, 0xFF), "latin_ext": (0x100, 0x24F),
    "combining": (0x300, 0x36F), "greek": (0x370, 0x3FF), "cyrillic": (0x400, 0x4FF),
    "arabic": (0x600, 0x6FF), "arabic_ext": (0x860, 0x8FF), "devanagari": (0x900, 0x97F),
    "thai": (0xE00, 0xE7F), "hangul_jamo": (0x1100, 0x11FF), "hangul": (0xAC00, 0xD7A3),
    "general_punct": (0x2000, 0x206F), "supp_punct": (0x2E00, 0x2E7F),
    "cjk_symbols": (0x3000, 0x303F), "kana": (0x3040, 0x30FF), "cjk": (0x4E00, 0x9FFF),
    "fullwidth": (0xFF00, 0xFFEF), "emoji": (0x1F300, 0x1FAFF), "math": (0x2200, 0x22FF),
    "marks_supp": (0x1DC0, 0x1DFF), "controls": (0x0, 0x1F),
}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u00ad"]
SEPARATORS = [" ", " ", " ", "", "\t", "\n", "\u00a0", "\u3000", "  "]


def random_word(rng, pools):
    out = []
    for _ in range(rng.randint(1, 10)):
        r = rng.random()
        if r < 0.06:
            out.append(rng.choice(ZERO_WIDTH))
            continue
        lo, hi = BLOCKS[rng.choice(pools)]
        cp = rng.randint(lo, hi)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        out.append(chr(cp))
    return "".join(out)


def random_texts(rng, n):
    names = sorted(BLOCKS)
    texts = []
    for i in range(n):
        # Mostly one script per string (with ASCII mixed in), sometimes a free mix.
        if i % 4 == 3:
            pools = rng.sample(names, 3)
        else:
            pools = [names[i % len(names)], "ascii"] if i % 2 else [names[i % len(names)]]
        words = [random_word(rng, pools) for _ in range(rng.randint(1, 6))]
        text = ""
        for w in words:
            text += w + rng.choice(SEPARATORS)
        texts.append(text)
    return texts


INVALID = [b"\xff\xfeabc", b"abc\xe2\x82", b"\xc0\x80x", b"\xed\xa0\x80 surrogate",
           b"\x80\x80", b"caf\xc3", b"a\xf0\x9f\x98b", b"\xf4\x90\x80\x80 too big"]


def main():
    if not os.path.exists(TOKENIZER):
        sys.exit(f"missing {TOKENIZER}: run scripts/fetch-models first")
    tok = Tokenizer.from_file(TOKENIZER)
    tok.no_truncation()
    tok.no_padding()
    rng = random.Random(20261122)
    texts = [t.encode("utf-8") for t in HANDWRITTEN + random_texts(rng, 200)] + INVALID
    cases = []
    for raw in texts:
        text = raw.decode("utf-8", errors="replace")
        ids = tok.encode(text, add_special_tokens=True).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        if ids[1:-1] != plain or len(ids) != len(plain) + 2:
            sys.exit(f"unexpected special tokens for {text!r}")
        try:
            case = {"text": raw.decode("utf-8")}
        except UnicodeDecodeError:
            case = {"text_hex": raw.hex()}
        case["ids"] = ids
        case["decoded"] = tok.decode(ids, skip_special_tokens=False)
        case["decoded_skip"] = tok.decode(ids, skip_special_tokens=True)
        cases.append(case)
    out = {"generator": f"tokenizers {tokenizers.__version__}, unicodedata "
                        f"{unicodedata.unidata_version}", "cases": cases}
    dst = os.path.join(HERE, "wordpiece_golden.json")
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {dst}: {len(cases)} cases, {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
