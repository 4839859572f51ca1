#!/usr/bin/env python3
"""Generates tests/BertSharp.Tests/Text/Fixtures/tokenizer_cases.json: expected BERT basic-tokenizer and
WordPiece outputs for tricky inputs, computed with Python's own str.lower(), str.split() and
unicodedata, following the rules of Google's tokenization.py (re-stated here from its description,
plus HuggingFace's rule that special tokens are never split).

    /usr/bin/python3 tools/text/make_tokenizer_cases.py > tests/BertSharp.Tests/Text/Fixtures/tokenizer_cases.json
"""
import json
import random
import sys
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_CHARS = 100


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                                         (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def basic_segment(text, lower):
    cleaned = []
    for ch in text:
        if ord(ch) == 0 or ord(ch) == 0xFFFD or is_control(ch):
            continue
        cleaned.append(" " if is_whitespace(ch) else ch)
    spaced = []
    for ch in cleaned:
        spaced.append(" " + ch + " " if is_cjk(ord(ch)) else ch)
    out = []
    for tok in "".join(spaced).split():
        if lower:
            tok = tok.lower()
            tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        cur = ""
        for ch in tok:
            if is_punct(ch):
                if cur:
                    out.append(cur)
                cur = ""
                out.append(ch)
            else:
                cur += ch
        if cur:
            out.append(cur)
    return " ".join(out).split()


def basic(text, lower):
    # Special tokens are cut out wherever they appear (longest first), the rest tokenized normally.
    out, i, start = [], 0, 0
    while i < len(text):
        hit = next((s for s in sorted(SPECIALS, key=lambda s: (-len(s), s)) if text.startswith(s, i)), None)
        if hit:
            out += basic_segment(text[start:i], lower) + [hit]
            i += len(hit)
            start = i
        else:
            i += 1
    return out + basic_segment(text[start:], lower)


def wordpiece(word, vocab):
    if word in SPECIALS:
        return [word]
    if len(word) > MAX_CHARS:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                found = sub
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


VOCAB = SPECIALS + [
    "the", "movie", "was", "great", "un", "##aff", "##able", "##s", "##ing", "play", "run", "##ning", "a", "##b", "##c",
    "cafe", "café", "naive", "naïve", "resume", "résumé", "uber", "über", "strasse", "straße", "i", "##i",
    "!", "?", ".", ",", "'", "\"", "¿", "¡", "«", "»", "—", "…", "“", "”", "‘", "’", "(", ")", "-", "$", "^", "`", "~",
    "中", "文", "字", "豈", "更", "한", "국", "ᄒ", "##ᅡ", "##ᆫ", "ᄀ", "##ᅮ", "##ᆨ", "😀", "##😀", "👍", "##🏽",
    "σοφια", "σοφιας", "οδος", "οδοσ", "ς", "σ", "##ς", "##σ", "𝐀", "𐐨", "𐐀", "ﬁ", "fi", "ǆ", "##x", "x",
    "hello", "world", "##world", "mask", "cls", "e", "##e", "é", "##é", "ß", "ss", "i̇",
]

CASES = [
    "", " ", "\t\n\r", "Hello World!", "HeLLo   wORLD", "The movie was great!!!", "unaffable", "unaffables",
    "Café naïve résumé über Straße", "CAFÉ NAÏVE RÉSUMÉ", "e\u0301", "E\u0301\u0302", "\u0301", "a\u0301b",
    "中文字", "a中b", "豈更", "한국", "한국어", "😀", "😀😀 👍🏽", "x😀", "play😀ing",
    "hello\u0000world", "hello\u200bworld", "hello\u200dworld", "\ufeffhello", "hello\u00adworld", "a\x07b\x1bc",
    "hello\u00a0world", "hello\u3000world", "hello\u2028world", "hello\u2029world", "hello\u0085world", "a\u000bb\u000cc",
    "hello\ufffdworld", "«Bonjour» ¿Qué? ¡Hola!", "a—b…c", "“quoted” ‘single’", "x^y`z~w", "$5.00", "don't", "U.S.A.",
    "ΟΔΟΣ", "ΟΔΟΣ.", "ΣΟΦΙΑΣ ΣΟΦΙΑ", "Σ", "ΑΣ'Β", "İstanbul", "ıi", "STRASSE straße ẞ", "ﬁ ﬂ", "Ǆ ǅ ǆ",
    "𝐀𝐁", "𐐀𐐨", "Ａｂｃ１２３", "ａ。ｂ、ｃ", "Привет, мир!", "שָׁלוֹם", "नमस्ते", "สวัสดี", "مرحبا بالعالم",
    "[CLS] hello [SEP]", "hello[MASK]world", "[cls] [MASK]", "[MASK][MASK]", "[UNK", "[[CLS]]", "a[PAD]b",
    "running plays", "xxxxxxxx", "x" * 100, "x" * 101, "é" * 100, "😀" * 100, "😀" * 101,
    "tab\tseparated\twords", "line\nbreak", "multiple     spaces", "  leading and trailing  ",
    "emoji 😀 between", "mixed中文and English", "1,000.50 and 3.14", "e-mail@example.com", "#hashtag @user",
    "\u0e01\u0e33", "\u1f00\u0345", "ǰ", "ﾊﾟ", "Ⅻ", "①", "㎞", "ŉ",
]


def main():
    rng = random.Random(12345)
    pool = list("aAbBzZ09 .,!?'\"-_()[]") + ["é", "É", "\u0301", "ñ", "Å", "中", "豈", "한", "😀", "👍", "\U0001F3FD", "\u200d",
            "\u0000", "\u0007", "\u200b", "\ufeff", "\u00a0", "\u3000", "\u2028", "«", "»", "¿", "¡", "—", "…", "‘", "’",
            "“", "”", "、", "。", "Σ", "σ", "İ", "ı", "ß", "ﬁ", "Ａ", "\U0001D400", "\U00010400", "ש", "\u05b8", "न",
            "\u094d", "\u093e", "ก", "\u0e33", "[CLS]", "[MASK]", "\t", "\n", "\r", "$", "^", "~", "`", "\ufffd"]
    cases = list(CASES)
    for _ in range(300):
        cases.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 24))))
    vocab = set(VOCAB)
    out = []
    for text in cases:
        entry = {"text": text}
        for mode, lower in (("uncased", True), ("cased", False)):
            words = basic(text, lower)
            entry[mode] = words
            entry[mode + "_wordpiece"] = [p for w in words for p in wordpiece(w, vocab)]
        out.append(entry)
    json.dump({"generator": "tools/text/make_tokenizer_cases.py", "python": sys.version.split()[0],
               "unicode": unicodedata.unidata_version, "max_input_chars_per_word": MAX_CHARS,
               "vocab": VOCAB, "cases": out}, sys.stdout, ensure_ascii=True, indent=1)
    sys.stdout.write("\n")


main()
