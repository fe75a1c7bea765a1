"""Prompt scorer for dynamic routing, any language (pure Python, standard library only).

``bundled().score_text(instruction, context)`` returns a deterministic number in [0, 1]; higher means the
prompt is more in need of the strong model.  A scorer is a *spec* (plain JSON, small enough for an AppConfig
routing configuration, see ``Scorer.spec``) applied to a ``FeatureVector``; the vector is what the label loop
stores (never the text), so a scorer can be retrained on traffic without keeping prompts.

What is measured
----------------
``split_prompt`` separates the *instruction* (the last user turn's own text) from pasted *context* (fenced
code blocks, quoted lines, ``<document>``-like tagged blocks, a long pasted email between a short request and
the end, earlier turns, the system text, attached documents).  ``vectorize`` computes:

- dense features of the instruction, all language-neutral or backed by per-language lexicons (en, es, de,
  fr, pt, ja, zh): length (in "Latin-equivalent" characters, CJK characters weigh 3), words (Unicode letter
  runs; CJK counted as characters / 2), sentences (``. ! ?`` and ``。 । ۔ ؟``), questions, numbers (any
  Unicode digits, also next to kana), percentages, fractions, money, maths and code symbols, line structure,
  multiple-choice format, and keyword rates (reasoning, quantity, units, negation, conditions, look-up
  question words, code, small talk);
- a few features of the context (its size, its number of parts, code in it), with small bundled weights, so
  "fix the typos" on a long email stays cheap while a short proof request does not;
- hashed tokens of the instruction: lowercased NFKC words, word bigrams and CJK character bigrams, hashed
  with CRC-32 (stable across processes, unlike ``hash()``) into ``HASH_BUCKETS`` buckets, value
  ``count / sqrt(n)``.  This is the part a retrained scorer learns the vocabulary of its own traffic with;
  the trainer weighs each bucket by its inverse document frequency among the route's labels
  (``routing_engine.learning``), which it derives from the stored vectors (a bucket's presence is stored).

Feature sources
---------------
A spec names its ``feature_set``; ``FEATURE_SOURCES`` maps that name to the code that computes it (a
``FeatureSource``: dense feature names, a hashed bucket count, ``vectorize``).  This module's lexical
features are feature set ``v3``.  Another source (for example an embedding model's vector as dense
features) registers itself with ``register_feature_source``; the trainer and ``Scorer.from_spec`` read the
names and the bucket count from the source, so they need no change.

Text is NFKC-normalised first, so full-width digits and ``？！：`` count as ASCII.  There is no English word
list and no average word length (German compounds would read as jargon).

Bounded cost
------------
Only the first ``HEAD_CHARS`` and the last ``TAIL_CHARS`` characters of the instruction are analysed; counts
measured on that window are scaled up by ``len / analysed`` and the length features use the true length.
Context is measured by its length and a bounded window per part.
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
import zlib
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import and_ as _and
from operator import mul as _mul
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "BUNDLED_NAME",
    "DENSE_FEATURES",
    "DENSE_FLOORS",
    "DENSE_SIGNS",
    "FEATURE_SET",
    "HASH_BUCKETS",
    "HEAD_CHARS",
    "TAIL_CHARS",
    "WEIGHTS_PATH",
    "FEATURE_SOURCES",
    "LEXICAL",
    "MAX_HASHED_WEIGHTS",
    "FeatureSource",
    "FeatureVector",
    "LexicalFeatures",
    "Scorer",
    "ScorerError",
    "bundled",
    "feature_source",
    "register_feature_source",
    "split_prompt",
    "token_bucket",
    "tokens",
    "vectorize",
]

FEATURE_SET = "v3"
# 2**18 buckets: word bigrams make the vocabulary of a route's traffic tens of thousands of tokens, which 1,024
# buckets (feature set v2) folded onto each other. A trained spec lists only the buckets it weighs.
HASH_BUCKETS = 1 << 18
BUNDLED_NAME = "bundled"
WEIGHTS_PATH = Path(__file__).parent / "scorer_weights.json"

# Work bound on the instruction (about 2x the median benchmark prompt, 5x the median chat instruction; 88% of the
# routing benchmark's prompts and 99% of its chat instructions fit whole); counts are scaled back to the full length. Scoring costs about 0.02-0.05 us
# per analysed character, so this window keeps a 4 KB prompt within the 50 us budget (feature set v2 analysed
# 5,000 characters: ~190 us).
HEAD_CHARS = 768
TAIL_CHARS = 256
# Per context part, only this many characters are scanned for code (its length is always exact).
CONTEXT_SCAN_CHARS = 2000
# Rates are count / (words + _RATE_PRIOR): a few words are weak evidence ("why?" is not 100% reasoning).
_RATE_PRIOR = 10
# One CJK character carries about as much as 3 Latin characters (a word of ~5 letters and a space is
# about 2 CJK characters), so lengths are compared across scripts in Latin-equivalent characters.
_CJK_CHAR_WEIGHT = 3


class ScorerError(ValueError):
    """A scorer spec or a stored feature vector is not usable; ``path`` names the field."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class _Deferred:
    """A module regex compiled on its first use, which then puts the compiled pattern in its own place in this
    module's globals: every later use is the plain pattern. A static route never scores, so a cold start that
    only serves static routes never compiles these (12 patterns, 88 M of its 105 M import instructions; the CJK
    character classes are most of it)."""

    def __init__(self, name: str, pattern: str, flags: int = 0) -> None:
        self._name, self._pattern, self._flags = name, pattern, flags

    def __getattr__(self, attr: str) -> Any:
        compiled = re.compile(self._pattern, self._flags)
        globals()[self._name] = compiled
        return getattr(compiled, attr)


def _deferred(name: str, pattern: str, flags: int = 0) -> Any:
    return _Deferred(name, pattern, flags)


# --------------------------------------------------------------------------
# Scripts, tokens and patterns (tables built at import, regexes on first use)
# --------------------------------------------------------------------------
# Han (CJK unified + ext A + compatibility), Hiragana, Katakana (+ phonetic ext, half-width after NFKC is
# full-width), Hangul syllables and jamo.
_CJK_RANGES = "\u1100-\u11ff\u3040-\u30ff\u31f0-\u31ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_RUN_RE: re.Pattern[str] = _deferred("_CJK_RUN_RE", f"[{_CJK_RANGES}]+")
# Words are runs of letters of any script (with their combining marks), CJK excepted; they are cut from the
# UTF-8 bytes with one ``bytes.translate`` (ASCII letters kept, other ASCII bytes -> space, non-ASCII bytes
# kept), after CJK runs and non-ASCII punctuation, symbols and emoji are blanked out (non-ASCII text only).
_NON_LETTER_RE: re.Pattern[str] = _deferred(
    "_NON_LETTER_RE",
    f"[{_CJK_RANGES}\u00a0-\u00bf\u00d7\u00f7\u02b9-\u02ff\u060c\u061b\u061f\u066a-\u066d"
    "\u06d4\u0964\u0965\u2000-\u2bff\u2e00-\u2e7f\u3000-\u303f\ufe10-\ufe6f\uff00-\uffef"
    "\U0001f000-\U0001faff]+",
)
_SPACE = 0x20
_WORD_TABLE = bytes(i if (97 <= i <= 122 or i >= 0x80) else _SPACE for i in range(256))
# Numbers: runs of digits (after NFKC, full-width digits are ASCII), also next to kana or letters;
# "3.5" and "1,000" are one number.
_NUM_TABLE = bytes(ord("0") if 48 <= i <= 57 else ord(".") if i in (44, 46) else _SPACE for i in range(256))
# ! or ? directly followed by CJK text ends a sentence too (no space after a Japanese question).
_CJK_SENTENCE_RE: re.Pattern[str] = _deferred("_CJK_SENTENCE_RE", f"[!?][{_CJK_RANGES}]")
# Multiple-choice options ("A. ...", "(b) ...") at line starts: captures the body.
# Matched on "\n" + text: the leading literal lets the regex engine jump from newline to newline (8x faster than a
# multiline "^" tried at every position); "." stops at the line's end as "$" did.
_OPTION_RE: re.Pattern[str] = _deferred("_OPTION_RE", r"\n[ \t]*\(?[A-Ja-j][.)][ \t]*(\S.*)")
_FRACTION_RE: re.Pattern[str] = _deferred("_FRACTION_RE", r"\d\s?/\s?\d")
_MATH_CHARS = "=+*^<>\u00d7\u00f7\u221a\u2211\u222b\u2264\u2265\u2260\u2202\u03c0\u2212\u2248\u221e"
_MONEY_CHARS = "$\u20ac\u00a3\u00a5\u20b9\u20a9"  # $ EUR GBP YEN/YUAN INR WON (after NFKC)
_CODE_CHARS = "{};`"
# The ASCII symbols counted, all in one pass: the window's bytes with every other byte deleted (counting each
# symbol in that short string costs a tenth of counting it in the window).
_SYMBOLS = b'?=+*^<>${};`%|"(/\n'
_NOT_SYMBOLS = bytes(i for i in range(256) if i not in _SYMBOLS)
# Sentence ends ". ", "? ", "! " and the same before a newline: one translate (".?!" -> ".", " \n" -> " ",
# everything else -> "a"), then one count of ". " (the pairs cannot overlap, so the count is the same).
_SENTENCE_TABLE = bytes(0x2E if i in b".?!" else _SPACE if i in b" \n" else 0x61 for i in range(256))
_MATH_CHARS_NON_ASCII = "".join(c for c in _MATH_CHARS if not c.isascii())
_MONEY_CHARS_NON_ASCII = "".join(c for c in _MONEY_CHARS if not c.isascii())
_QUESTION_CHARS = "?\u061f"

# Keyword lexicons, per language.  Space-separated languages are looked up by word (lowercased NFKC;
# a few inflected forms listed); Japanese and Chinese terms are found as substrings of CJK runs.
# Small and obvious on purpose: the hashed features learn the rest from traffic.  One list serves every
# language, so a word that is common in another language with another meaning is left out (Spanish "por"
# and French "par" are not "per", German "was" is English "was", Spanish/French "si" is also "yes"/"so").
_LEXICON: dict[str, dict[str, str]] = {
    "kw_reasoning": {
        "en": "why explain explanation prove proof proofs derive derivation justify deduce infer implies "
        "imply therefore thus hence suppose assume assuming conclude conclusion analyze analyse "
        "analysis evaluate compare contrast step steps determine calculate compute solve estimate "
        "show demonstrate reasoning tradeoffs",
        "es": "porqué explica explique explicar explicación demuestra demuestre demostrar "
        "demostración prueba deriva deducir justifica justificar supón suponga supongamos "
        "analiza analice analizar análisis evalúa evaluar compara comparar calcula calcule "
        "calcular resuelve resuelva resolver determina determinar estima paso pasos razona",
        "de": "warum wieso weshalb erkläre erklären erklärung erläutere beweise beweisen beweis leite "
        "herleiten herleitung begründe begründen folgere angenommen annahme analysiere analysieren "
        "analyse bewerte bewerten vergleiche vergleichen berechne berechnen löse lösen bestimme "
        "bestimmen schätze zeige schritt schritte schrittweise",
        "fr": "pourquoi explique expliquez expliquer explication démontre démontrez démontrer démonstration prouve "
        "prouvez prouver preuve dérive dériver justifie justifiez justifier déduire supposons "
        "analyse analysez analyser évalue évaluer compare comparez comparer calcule calculez "
        "calculer résous résolvez résoudre détermine déterminez déterminer estime étape étapes",
        "pt": "porque explica explique explicar explicação demonstra demonstre demonstrar demonstração "
        "prova prove provar deriva derivar justifica justifique justificar deduzir suponha "
        "analisa analise analisar análise avalia avaliar compara comparar calcula calcule "
        "calcular resolve resolva resolver determina determine determinar estime passo passos",
        "ja": "なぜ 理由 説明 証明 示せ 示して 導出 導い 導け 求め 計算 解い 解け 推論 分析 比較 評価 "
        "仮定 したがって 手順 ステップ",
        "zh": "为什么 為什麼 解释 解釋 说明 證明 证明 推导 推導 求 计算 計算 解答 推理 分析 比较 比較 "
        "评估 假设 假設 因此 步骤 步驟",
    },
    "kw_quantity": {
        "en": "each every per total remaining rest left times twice half third quarter double triple "
        "more less fewer altogether respectively average ratio rate sum difference product "
        "increase decrease discount profit interest spent saves earns costs cost price",
        "es": "cada total resto restante quedan veces doble triple mitad tercio cuarto más menos "
        "promedio media razón tasa suma diferencia producto aumento disminución descuento "
        "ganancia interés gasta gastó cuesta cuestan precio",
        "de": "jeder jede jedes pro gesamt insgesamt summe rest übrig restlichen mal doppelt "
        "dreifach hälfte drittel viertel mehr weniger durchschnitt durchschnittlich verhältnis "
        "rate differenz produkt zunahme abnahme rabatt gewinn zinsen kostet kosten preis",
        "fr": "chaque total reste restant fois double triple moitié tiers quart plus moins moyenne "
        "ratio taux somme différence produit augmentation diminution remise réduction bénéfice "
        "intérêts dépense coûte coûtent prix",
        "pt": "cada total resto restante vezes dobro triplo metade terço quarto menos média "
        "razão taxa soma diferença produto aumento diminuição desconto lucro juros gasta gastou "
        "custa custam preço",
        "ja": "それぞれ 各 毎 合計 全部で 残り 倍 半分 平均 割合 差 増加 減少 割引 利益 利息 値段 価格 "
        "何個 何人 いくら",
        "zh": "每 各 总共 總共 合计 一共 剩下 剩余 倍 一半 平均 比例 比率 差 增加 减少 減少 折扣 利润 "
        "利息 价格 價格 多少",
    },
    "kw_units": {
        "en": "hour hours minute minutes second seconds day days week weeks month months year years "
        "mile miles km kilometers meter meters metres cm mm inch inches foot feet pound pounds "
        "kg kilograms gram grams ounce ounces liter liters litres gallon gallons cup cups dollars "
        "dollar cents euros mph percent degrees celsius ml mol",
        "es": "hora horas minuto minutos segundo segundos día días semana semanas mes meses año años "
        "kilómetros metro metros kilos kilogramos gramos litro litros dólares euros céntimos "
        "centavos grados",
        "de": "stunde stunden minute minuten sekunde sekunden tag tage tagen woche wochen monat monate "
        "jahr jahre jahren kilometer meter zentimeter kilogramm gramm liter dollar euro cent grad "
        "prozent",
        "fr": "heure heures minute minutes seconde secondes jour jours semaine semaines mois an ans "
        "année années kilomètres mètre mètres kilos kilogrammes grammes litre litres dollars "
        "euros centimes degrés pourcent",
        "pt": "hora horas minuto minutos segundo segundos dia dias semana semanas mês meses ano anos "
        "quilômetros quilómetros metro metros quilos quilogramas gramas litro litros dólares "
        "euros centavos graus",
        "ja": "時間 分間 秒 日間 週間 か月 ヶ月 キロ メートル センチ グラム リットル 円 ドル ユーロ 度 パーセント",
        "zh": "小时 小時 分钟 分鐘 秒 天 星期 公里 米 厘米 公斤 千克 克 升 元 美元 欧元 度 百分之",
    },
    "kw_negation": {
        "en": "not no never none neither nor cannot without except unless least false incorrect untrue invalid",
        "es": "no nunca ningún ninguno ninguna ni sin excepto salvo menos falso incorrecto inválido",
        "de": "nicht kein keine keinen keiner nie niemals weder noch ohne außer falsch ungültig unwahr",
        "fr": "ne pas non jamais aucun aucune ni sans sauf excepté moins faux fausse incorrect invalide",
        "pt": "não nunca nenhum nenhuma nem sem exceto salvo menos falso incorreto inválido",
        "ja": "ない ません ず 無い 以外 誤り 間違",
        "zh": "不 没有 沒有 非 无 無 除了 以外 错误 錯誤",
    },
    "kw_condition": {
        "en": "given if then suppose would should likely most best strongest valid argument",
        "es": "dado dada entonces debería sería probable mejor válido argumento",
        "de": "gegeben wenn falls dann sollte würde wahrscheinlich beste stärkste gültig argument",
        "fr": "donné donnée alors devrait serait probable meilleur valide argument",
        "pt": "dado dada então deveria seria provável melhor válido argumento",
        "ja": "もし ならば 場合 とする とき",
        "zh": "如果 假如 那么 那麼 已知 设 設",
    },
    "kw_question": {  # look-up question words ("what is X", "when does Y open")
        "en": "what which who whom whose when where",
        "es": "qué cuál cuáles quién quiénes cuándo dónde",
        "de": "welche welcher welches wer wem wessen wann wo",
        "fr": "quoi quel quelle quels quelles qui quand où",
        "pt": "qual quais quem quando onde",
        "ja": "何 いつ どこ 誰 どれ どの",
        "zh": "什么 甚麼 什麼 哪 谁 誰 何时 何時 几点 幾點",
    },
    "kw_code": {
        "en": "function def class return variable array loop int string python java javascript sql "
        "select algorithm compile runtime recursion pointer bug code program regex regular "
        "expression query implement debug",
        "es": "función clase variable bucle cadena algoritmo código programa error consulta expresión "
        "implementa implementar depura",
        "de": "funktion klasse variable schleife zeichenkette algorithmus code programm fehler abfrage "
        "ausdruck regulären implementiere implementieren",
        "fr": "fonction classe variable boucle chaîne algorithme code programme bogue requête "
        "expression implémente implémenter",
        "pt": "função classe variável laço cadeia algoritmo código programa erro consulta expressão "
        "implementa implementar",
        "ja": "関数 クラス 変数 配列 ループ 文字列 アルゴリズム コード プログラム バグ 正規表現 実装 クエリ",
        "zh": "函数 函數 类 變數 变量 数组 陣列 循环 字符串 算法 演算法 代码 代碼 程序 程式 正则 正則 实现 實現 查询",
    },
    "kw_social": {  # small talk and thanks: cheap everywhere
        "en": "hi hello hey thanks thank cheers bye goodbye morning evening",
        "es": "hola gracias adiós buenos buenas saludos",
        "de": "hallo danke tschüss guten morgen abend grüße",
        "fr": "bonjour salut merci revoir bonsoir",
        "pt": "olá oi obrigado obrigada tchau bom dia",
        "ja": "こんにちは ありがとう おはよう こんばんは さようなら",
        "zh": "你好 谢谢 謝謝 早上好 再见 再見",
    },
}
_KW_NAMES: tuple[str, ...] = tuple(_LEXICON)
_N_KW = len(_KW_NAMES)
_KW_WORD: dict[bytes, int] = {}  # UTF-8 word -> 1-based class index (a word belongs to its first class)
_KW_CJK: dict[str, int] = {}
for _i, _name in enumerate(_KW_NAMES, start=1):
    for _lang, _terms in _LEXICON[_name].items():
        for _term in _terms.split():
            _term = unicodedata.normalize("NFKC", _term).lower()
            if _lang in ("ja", "zh"):
                _KW_CJK.setdefault(_term, _i)
            else:
                _KW_WORD.setdefault(_term.encode("utf-8"), _i)
# Longest terms first so "什么时候" is not read as "什么" + ...; one C pass finds them all.


def _trie_pattern(terms: Sequence[str]) -> str:
    """A regex matching any of ``terms``, longest first, as a character trie (one branch per first
    character instead of one per term: the lexicon is scanned in one pass of a few branches)."""
    trie: dict = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


_KW_CJK_RE: re.Pattern[str] = _deferred("_KW_CJK_RE", _trie_pattern(list(_KW_CJK)))

DENSE_FEATURES: tuple[str, ...] = (
    (
        "log_chars",
        "log_words",
        "log_sentences",
        "questions",
        "log_numbers",
        "number_density",
        "percent",
        "fractions",
        "money",
        "math_symbols",
        "has_options",
        "n_options",
        "log_option_chars",
        "log_stem_chars",
        "pipes",
        "quotes",
        "parentheses",
        "code_symbols",
        "newlines",
    )
    + tuple(n + "_rate" for n in _KW_NAMES)
    + (
        "options_x_log_words",
        "ctx_log_chars",
        "ctx_parts",
        "ctx_code",
    )
)
_N_DENSE = len(DENSE_FEATURES)
_DENSE_INDEX = {n: i for i, n in enumerate(DENSE_FEATURES)}

# Prior knowledge for training (learning.fit_scorer): the sign each dense coefficient must have, from what
# makes a prompt hard for a weaker model. +1: more of it never lowers the score; -1: never raises it;
# unlisted: free. Multiple-choice format features are free but constant on free-form prompts.
# A sign stays only where the data does not contradict it: money, number_density, percent, kw_units_rate and
# newlines (expected +1) go the other way on GSM8K and on MMLU alike (partial correlation with the target given
# prompt length; newlines is constant on GSM8K), so they are free. Kept as signs, they cost the bundled scorer
# 0.01-0.04 APGR out of sample and left it below prompt length (docs/decisions.md, 2026-12-07, "day-one
# scorer"). kw_question_rate also rises with the target there, but the benchmarks' question words ask for a
# computed answer ("how many ..."), not a look-up; its sign and minimum effect keep "what are your opening
# hours?" below a proof request in every language (tests/unit/test_scorer_multilingual.py).
DENSE_SIGNS: dict[str, int] = {
    "log_chars": 1,
    "log_words": 1,
    "log_sentences": 1,
    "questions": 1,
    "log_numbers": 1,
    "fractions": 1,
    "math_symbols": 1,
    "log_stem_chars": 1,
    "pipes": 1,
    "code_symbols": 1,
    "kw_reasoning_rate": 1,
    "kw_quantity_rate": 1,
    "kw_negation_rate": 1,
    "kw_condition_rate": 1,
    "kw_code_rate": 1,
    "kw_question_rate": -1,  # "what/who/when/where is ..." marks look-ups
    "kw_social_rate": -1,  # greetings and thanks
    "ctx_log_chars": 1,
    "ctx_parts": 1,
    "ctx_code": 1,
}
# Minimum effect (standardised coefficient, signed by DENSE_SIGNS) for the core markers of multi-step work
# and of small talk: a benchmark of maths and exam questions barely separates them (it has no chit-chat,
# look-ups or code to contrast with), so without a floor they fit to zero.  Floors and caps are in units
# of the training data's standard deviation; these values were chosen for the bundled training data
# (routing-benchmark dev.jsonl, where e.g. kw_reasoning_rate has sd 0.007), first so that "Prove that ..."
# gained about +1 logit and "Thanks, ..." lost about 1 (now a quarter of that, below); a retrained scorer keeps
# the bundled standardisation.
# The floors are a trade: out of sample on the benchmark every floor costs APGR (it has no small talk or proofs
# to reward them), while without them a short proof request scores beside "what is the capital of France" in
# some languages. A quarter of the effect first chosen keeps every behaviour test (tests/unit/test_scorer_*.py,
# test_complexity_generalisation.py) and gives back most of the benchmark APGR (docs/decisions.md, 2026-12-01).
_FLOOR_SCALE = 0.25
DENSE_FLOORS: dict[str, float] = {
    name: _FLOOR_SCALE * effect
    for name, effect in {
        "log_numbers": 0.05,
        "math_symbols": 0.1,
        "kw_reasoning_rate": 0.17,
        "kw_code_rate": 0.15,
        "code_symbols": 0.09,
        "kw_social_rate": 0.017,
        "kw_question_rate": 0.02,
    }.items()
}
# Maximum effect for the context features: pasted material is not the task.
DENSE_CAPS: dict[str, float] = {"ctx_log_chars": 0.015, "ctx_parts": 0.003, "ctx_code": 0.1}

_log1p = math.log1p
_sqrt = math.sqrt
_crc32 = zlib.crc32
_BUCKET_MASK = HASH_BUCKETS - 1  # HASH_BUCKETS is a power of two: crc32 & mask == crc32 % buckets
assert HASH_BUCKETS & _BUCKET_MASK == 0
# A word bigram's bucket: (bucket(first) * this odd constant XOR bucket(second)) & mask (order-sensitive; odd, so
# multiplying is a bijection on the buckets; below 2**12, so the product stays a one-digit CPython int).
_BIGRAM_MUL = 4093
assert _BUCKET_MASK * _BIGRAM_MUL < 1 << 30


# --------------------------------------------------------------------------
# Feature vector
# --------------------------------------------------------------------------
def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """What the scorer sees of a prompt: dense features (``DENSE_FEATURES`` order) and sparse hashed
    tokens ``(bucket, value)`` sorted by bucket, of feature set ``feature_set``.  Holds no text."""

    dense: tuple[float, ...]
    hashed: tuple[tuple[int, float], ...]
    feature_set: str = FEATURE_SET

    def to_json(self) -> dict:
        return {"fs": self.feature_set, "d": list(self.dense), "h": [[b, v] for b, v in self.hashed]}

    @classmethod
    def from_json(cls, obj: Any) -> FeatureVector:
        if not isinstance(obj, Mapping):
            raise ScorerError("a feature vector must be a JSON object", "vector")
        fs = obj.get("fs")
        try:
            source = feature_source(fs)  # type: ignore[arg-type]
        except ScorerError as exc:
            raise ScorerError(
                f"this vector was computed by another scorer version: {exc.reason}", "vector.fs"
            ) from None
        n_dense, n_buckets = len(source.dense_names), source.buckets
        d = obj.get("d")
        if not isinstance(d, list) or len(d) != n_dense:
            raise ScorerError(f"must be a list of {n_dense} numbers", "vector.d")
        for i, x in enumerate(d):
            if not _finite(x):
                raise ScorerError(f"{x!r} is not a finite number", f"vector.d[{i}]")
        h = obj.get("h")
        if not isinstance(h, list):
            raise ScorerError("must be a list of [bucket, value] pairs", "vector.h")
        pairs = []
        last = -1
        for i, pair in enumerate(h):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ScorerError("must be a [bucket, value] pair", f"vector.h[{i}]")
            b, v = pair
            if not (isinstance(b, int) and not isinstance(b, bool) and 0 <= b < n_buckets):
                raise ScorerError(f"bucket {b!r} is not an integer in [0, {n_buckets})", f"vector.h[{i}]")
            if b <= last:
                raise ScorerError("buckets must be strictly increasing", f"vector.h[{i}]")
            if not _finite(v):
                raise ScorerError(f"{v!r} is not a finite number", f"vector.h[{i}]")
            last = b
            pairs.append((b, float(v)))
        return cls(tuple(float(x) for x in d), tuple(pairs), str(fs))


# --------------------------------------------------------------------------
# Splitting the task from the attachment
# --------------------------------------------------------------------------
_FENCE_RE: re.Pattern[str] = _deferred(
    "_FENCE_RE", r"(?s)(?:^|\n)[ \t]*(```|~~~)[^\n]*\n.*?(?:\n[ \t]*\1[ \t]*(?=\n|$)|$)"
)
# Tags that wrap pasted material (<document>, <email>, <context>, <doc_2>, ...). The closing tags present are
# collected in one pass first and a closing tag is then found with str.find only for a name that has one, so
# a text full of distinct unclosed tags still costs linear time (it was quadratic: 14 ms on 20 KB).
_OPEN_TAG_RE: re.Pattern[str] = _deferred(
    "_OPEN_TAG_RE",
    r"<((?:document|documents|doc|context|email|mail|message|text|article|file|transcript|data|input|"
    r"source|passage|code|log|logs|paper|essay|report|content|excerpt|quote|example|attachment|html|"
    r"xml|json|table)[\w-]{0,20})(?:\s[^<>]{0,200})?>",
    re.IGNORECASE,
)
_CLOSE_TAG_RE: re.Pattern[str] = _deferred("_CLOSE_TAG_RE", r"</([\w-]{1,40})")
_MAX_TAGS = 256
_QUOTE_RE: re.Pattern[str] = _deferred("_QUOTE_RE", r"(?m)(?:^[ \t]*>.*(?:\n|$))+")
_PARA_RE: re.Pattern[str] = _deferred("_PARA_RE", r"\n[ \t]*\n\s*")
# A last user turn longer than this (in Latin-equivalent characters), in several paragraphs, may hold a
# pasted text; paragraphs at least _LONG_PARAGRAPH long are candidates for pasted material.
_PASTE_MIN_CHARS = 600
_LONG_PARAGRAPH = 300
# Up to this many trailing short paragraphs (a request after the paste, a sign-off) stay in the instruction.
_TAIL_PARAGRAPHS = 2
# Work bound: in a longer turn only the head and the tail are searched for the request; the middle is
# pasted material (context) in any realistic prompt of that size.
_SPLIT_SCAN_CHARS = 20_000
_SPLIT_HEAD = 12_000
_SPLIT_TAIL = 6_000
# Words by which a short request refers to pasted material ("fix the typos in the text above"), per
# language; a request introduced by a colon ("... this email:") needs none.
_REFER_WORDS = frozenset(
    w.encode("utf-8")
    for w in (
        "this these above below following attached text email mail passage article document message letter "
        "este esta esto estos estas anterior siguiente texto correo mensaje carta artículo documento pasaje "
        "dies diese dieser diesen dieses obige obigen folgende folgenden e-mail nachricht brief artikel "
        "dokument ce cet cette ceci ces ci-dessus ci-dessous suivant suivante texte courriel lettre "
        "isto acima abaixo seguinte mensagem"
    ).split()
)
_REFER_CJK = (
    "この",
    "上記",
    "以下",
    "次の",
    "上の",
    "下の",
    "文章",
    "メール",
    "テキスト",
    "記事",
    "文書",
    "这",
    "這",
    "上面",
    "下面",
    "文章",
    "邮件",
    "郵件",
    "文本",
    "文档",
    "文檔",
)


def _text_of(message: Any) -> tuple[str, int]:
    """The text parts of a message joined, and its number of document parts."""
    texts = []
    docs = 0
    for part in getattr(message, "parts", ()) or ():
        try:
            kind, value = part
        except (TypeError, ValueError):
            continue
        if kind == "text" and isinstance(value, str):
            texts.append(value)
        elif kind == "document":
            docs += 1
    return "\n\n".join(texts), docs


def _is_options(paragraph: str) -> bool:
    return len(_OPTION_RE.findall("\n" + paragraph)) >= 2


def _latin_len(text: str) -> int:
    """Length in Latin-equivalent characters (a CJK character counts _CJK_CHAR_WEIGHT)."""
    if text.isascii():
        return len(text)
    return len(text) + (_CJK_CHAR_WEIGHT - 1) * sum(map(len, _CJK_RUN_RE.findall(text)))


def _refers(paragraphs: Sequence[str]) -> bool:
    text = _normalise("\n".join(paragraphs))
    words, runs = _words_and_runs(text)
    if not _REFER_WORDS.isdisjoint(words):
        return True
    return bool(runs) and any(term in text for term in _REFER_CJK)


def _extract_tags(text: str, context: list[str]) -> str:
    low = text.lower()
    closers = set(_CLOSE_TAG_RE.findall(low))
    out: list[str] = []
    pos = 0
    for _ in range(_MAX_TAGS):  # a bounded number of opening tags: what follows the last is left as it is
        m = _OPEN_TAG_RE.search(text, pos)
        if m is None:
            break
        name = m.group(1).lower()
        close = low.find("</" + name, m.end()) if name in closers else -1
        if close < 0:
            closers.discard(name)  # closed only before this point: no later search can find it
            out.append(text[pos : m.end()])
            pos = m.end()
            continue
        end = text.find(">", close)
        end = len(text) if end < 0 else end + 1
        out.append(text[pos : m.start()])
        out.append("\n")
        body = text[m.end() : close].strip()
        if body:
            context.append(body)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _split_turn(text: str, context: list[str]) -> str:
    """The request of one user turn; pasted blocks are appended to ``context``."""

    def _block(m: re.Match) -> str:
        context.append(m.group(0).strip("\n"))
        return "\n"

    if len(text) > _SPLIT_SCAN_CHARS:
        context.append(text[_SPLIT_HEAD:-_SPLIT_TAIL])
        text = text[:_SPLIT_HEAD] + "\n\n" + text[-_SPLIT_TAIL:]
    # A one-character search first: it runs at memchr speed, a search for "```" costs ~0.7 us per KB.
    if ("`" in text and "```" in text) or ("~" in text and "~~~" in text):
        text = _FENCE_RE.sub(_block, text)
    if "<" in text and "</" in text:
        text = _extract_tags(text, context)
    if ">" in text:
        text = _QUOTE_RE.sub(_block, text)
    text = text.strip()
    if "\n" not in text or len(text) <= _PASTE_MIN_CHARS // _CJK_CHAR_WEIGHT:
        return text
    paras = [p.strip() for p in _PARA_RE.split(text)]
    lens = [_latin_len(p) for p in paras]
    if len(lens) < 2 or sum(lens) <= _PASTE_MIN_CHARS:
        return text
    first = next((k for k, p in enumerate(paras) if lens[k] >= _LONG_PARAGRAPH and not _is_options(p)), None)
    if first is None:
        return text
    # The tail: option blocks (a multiple-choice question keeps its options) and a few short paragraphs.
    end = len(paras)
    shorts = 0
    while end > first + 1:
        if _is_options(paras[end - 1]):
            end -= 1
        elif lens[end - 1] < _LONG_PARAGRAPH and shorts < _TAIL_PARAGRAPHS:
            shorts += 1
            end -= 1
        else:
            break
    lead = paras[:first]
    tail = list(range(end, len(paras)))
    # Pasted material follows a request that introduces it ("Fix the typos in this email:") or is
    # referred to by a short request around it ("... the text above"); a long text with neither is itself
    # the request (a detailed question), and stays whole.
    intro = max((k for k, p in enumerate(lead) if p.rstrip().endswith((":", "\uff1a"))), default=-1)
    if intro >= 0:
        start = intro + 1
        # After an introduced paste, a short paragraph is the paste's own ending (a sign-off) unless it
        # asks or refers to the material.
        tail = [k for k in tail if _is_options(paras[k]) or "?" in paras[k] or _refers([paras[k]])]
    elif (lead or tail) and _refers(lead + paras[end:]):
        start = first
    else:
        return text
    kept = set(tail)
    context.append("\n\n".join(paras[k] for k in range(start, len(paras)) if k not in kept))
    return "\n\n".join(paras[:start] + [paras[k] for k in tail])


def split_prompt(messages: Sequence[Any], system: str | None = None) -> tuple[str, tuple[str, ...]]:
    """(instruction, context).

    ``messages``: objects with ``.role`` and ``.parts`` (``(kind, value)`` tuples, kind ``"text"``,
    ``"image"`` or ``"document"``; duck-typed ``routing_engine.features.Message``).  The instruction is the
    last user turn's own text with pasted material removed (fenced blocks, quoted ``>`` lines, tagged blocks
    such as ``<document>...</document>``, a long pasted text framed by a short request); the context is that
    pasted material, then earlier turns, then the system text.  An attached document is a context part
    (its text is not available here, so it counts as a part of no characters).
    """
    context: list[str] = []
    last = -1
    for k in range(len(messages) - 1, -1, -1):
        if getattr(messages[k], "role", None) == "user":
            last = k
            break
    instruction = ""
    if last >= 0:
        text, docs = _text_of(messages[last])
        instruction = _split_turn(text, context)
        context.extend([""] * docs)
    for k, m in enumerate(messages):
        if k != last:
            text, docs = _text_of(m)
            if text:
                context.append(text)
            context.extend([""] * docs)
    if system:
        context.append(system)
    return instruction, tuple(context)


# --------------------------------------------------------------------------
# Vectorising
# --------------------------------------------------------------------------
def _window(text: str) -> tuple[str, float]:
    n = len(text)
    if n <= HEAD_CHARS + TAIL_CHARS:
        return text, 1.0
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:], n / float(HEAD_CHARS + TAIL_CHARS)


# NFKC of the full-width ASCII forms and the ideographic space, as a translate table: most non-ASCII text
# needs nothing else, and full NFKC of a CJK text costs ~10x more than the rest of the scoring.
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
_FULLWIDTH_RE: re.Pattern[str] = _deferred("_FULLWIDTH_RE", "[\uff01-\uff5e\u3000]+")
_is_nfkc = unicodedata.is_normalized
_nfkc = unicodedata.normalize


def _halfwidth(m: re.Match) -> str:
    return m.group(0).translate(_FULLWIDTH)


def _normalise(text: str) -> str:
    """NFKC, lowercased (lone surrogates are dropped later, when the text is encoded)."""
    if not text.isascii() and not _is_nfkc("NFKC", text):
        text = _FULLWIDTH_RE.sub(_halfwidth, text)
        if not _is_nfkc("NFKC", text):
            text = _nfkc("NFKC", text)
    return text.lower()


def _words_and_runs(low: str) -> tuple[list[bytes], list[str]]:
    """Word tokens (UTF-8 bytes) and CJK runs of normalised lowercased text."""
    if low.isascii():
        return low.encode().translate(_WORD_TABLE).split(), []
    runs = _CJK_RUN_RE.findall(low)
    return _NON_LETTER_RE.sub(" ", low).encode("utf-8", "ignore").translate(_WORD_TABLE).split(), runs


def _bigrams(runs: list[str]) -> list[bytes]:
    out: list[bytes] = []
    for run in runs:
        if len(run) == 1:
            out.append(run.encode("utf-8"))
        else:
            out.extend([run[k : k + 2].encode("utf-8") for k in range(len(run) - 1)])
    return out


def tokens(text: str) -> list[str]:
    """The hashed tokens of ``text``: lowercased NFKC words, then word bigrams ("a b"), then CJK character
    bigrams (a lone CJK character is its own token).  What the hashed features count; exposed for inspection
    and tests (``token_bucket`` gives each one's bucket)."""
    t, _ = _window(text if isinstance(text, str) else "")
    words, runs = _words_and_runs(_normalise(t))
    out = [w.decode("utf-8", "replace") for w in words]
    out.extend(f"{a} {b}" for a, b in zip(out, out[1:]))
    return out + [w.decode("utf-8", "replace") for w in _bigrams(runs)]


def token_bucket(token: str) -> int:
    """The bucket of one token of ``tokens`` (a word, "a b" for a word bigram, or a CJK bigram)."""
    parts = token.split(" ")
    if len(parts) == 2:
        a, b = (_crc32(p.encode("utf-8")) & _BUCKET_MASK for p in parts)
        return ((a * _BIGRAM_MUL) ^ b) & _BUCKET_MASK
    return _crc32(token.encode("utf-8")) & _BUCKET_MASK


def _analyse(instruction: str, context: Sequence[str], want_hashed: bool) -> tuple[list[float], Any]:
    """(dense features, hashed part): the hashed part is ``()`` without ``want_hashed``, else the masked bucket
    of every token, in token order (``_vector_of`` turns it into a vector's sorted ``(bucket, value)`` pairs;
    scoring reads the weights straight from it)."""
    if not isinstance(instruction, str):
        instruction = "" if instruction is None else str(instruction)
    n_raw = len(instruction)
    t, scale = _window(instruction)
    low = _normalise(t)
    ascii_ = low.isascii()
    words, runs = _words_and_runs(low)
    n_latin = len(words)
    kw = [0] * (_N_KW + 1)
    for k in filter(None, map(_KW_WORD.get, words)):
        kw[k] += 1
    n_cjk = 0
    if runs:
        n_cjk = sum(map(len, runs))
        for m in _KW_CJK_RE.findall("|".join(runs)):
            kw[_KW_CJK[m]] += 1
    n_words = n_latin + 0.5 * n_cjk
    inv_rate = 1.0 / (n_words + _RATE_PRIOR)
    # Latin-equivalent length of the whole instruction (CJK share measured on the window).
    n_chars = n_raw + (_CJK_CHAR_WEIGHT - 1) * n_cjk * scale

    lb = low.encode("utf-8", "ignore") if not ascii_ else low.encode()
    nb = lb.translate(_NUM_TABLE)
    n_nums = len(nb.replace(b"0.0", b"00").replace(b"0.0", b"00").translate(None, b".").split()) if (b"0" in nb) else 0
    sentences = lb.translate(_SENTENCE_TABLE).count(b". ") + (low[-1:] in (".", "?", "!"))
    sym = lb.translate(None, _NOT_SYMBOLS)
    count = sym.count
    questions = count(b"?")
    math_sym = count(b"=") + count(b"+") + count(b"*") + count(b"^") + count(b"<") + count(b">")
    money = count(b"$")
    quotes = count(b'"')
    if not ascii_:
        sentences += low.count("\u3002") + low.count("\u0964") + low.count("\u06d4") + low.count("\u061f")
        if runs:
            sentences += len(_CJK_SENTENCE_RE.findall(low))
        questions += low.count("\u061f")
        math_sym += sum(map(low.count, _MATH_CHARS_NON_ASCII))
        money += sum(map(low.count, _MONEY_CHARS_NON_ASCII))
        quotes += low.count("\u201c") + low.count("\u300c")
    code_sym = count(b"{") + count(b"}") + count(b";") + count(b"`")

    options = _OPTION_RE.findall("\n" + t) if "\n" in t else ()
    n_opt = len(options)
    if n_opt >= 2:
        has_opt = 1.0
        opt_chars = sum(map(len, options))
        stem_chars = max(0, len(t) - opt_chars - 4 * n_opt)
    else:
        has_opt = 0.0
        n_opt = 0
        opt_chars = 0
        stem_chars = len(t)

    log_words = _log1p(n_words * scale)
    f = [
        _log1p(n_chars),
        log_words,
        _log1p(sentences * scale),
        _log1p(questions * scale),
        _log1p(n_nums * scale),
        n_nums * inv_rate,
        _log1p(count(b"%") * scale),
        _log1p(len(_FRACTION_RE.findall(low)) * scale) if b"/" in sym else 0.0,
        _log1p(money * scale),
        _log1p(math_sym * scale),
        has_opt,
        float(min(n_opt, 10)),
        _log1p(opt_chars * scale),
        _log1p(stem_chars * scale),
        _log1p(count(b"|") * scale),
        _log1p(quotes * scale),
        _log1p(count(b"(") * scale),
        _log1p(code_sym * scale),
        _log1p(max(0, count(b"\n") - n_opt) * scale),
    ]
    f.extend([c * inv_rate for c in kw[1:]])
    f.append(has_opt * log_words)

    ctx_chars = 0
    ctx_parts = 0
    ctx_code = 0
    for part in context:
        if not isinstance(part, str):
            continue
        ctx_parts += 1
        ctx_chars += len(part)
        head = part[:CONTEXT_SCAN_CHARS]
        ctx_code += head.count("{") + head.count(";") + head.count("```") + head.count("def ")
    f.append(_log1p(ctx_chars))
    f.append(_log1p(ctx_parts))
    f.append(_log1p(ctx_code))

    if not want_hashed:
        return f, ()
    return f, _token_buckets(words, runs)


# Word buckets are computed 32-bit lane by lane in one big int (masking, and the bigram formula for all adjacent
# pairs at once): a bucket is below 2**18 and the multiplier below 2**12, so a lane never carries into the next one.
# A third of the hashing cost of one list comprehension per operation, bucket for bucket the same values.
_LANE = array("I", [_BUCKET_MASK])
assert _LANE.itemsize == 4
_MAX_LANES = HEAD_CHARS + TAIL_CHARS + 1  # more than the words of any analysed window
_LANE_MASKS = int.from_bytes(_LANE.tobytes() * _MAX_LANES, "little")
_BIG_ENDIAN = sys.byteorder == "big"  # array("I") is in the machine's byte order, the lanes are little-endian


def _token_buckets(words: list[bytes], runs: list[str]) -> array:
    """The bucket of every hashed token, in token order: word unigrams, word bigrams (adjacent words, from the
    unigrams' buckets: no bigram text is built) and CJK character bigrams.

    A word bigram's bucket is ``((bucket(a) * _BIGRAM_MUL) ^ bucket(b)) & mask``; here for every pair at once:
    with the unigram buckets as the 32-bit lanes of one int ``x``, lane i of ``(x * _BIGRAM_MUL) ^ (x >> 32)``
    is bucket i times the multiplier XOR bucket i + 1."""
    n = len(words)
    out = array("I")
    if n:
        raw = array("I", list(map(_crc32, words)))  # from a list: faster than array() consuming the map
        if _BIG_ENDIAN:
            raw.byteswap()
        lanes = _LANE_MASKS if n <= _MAX_LANES else int.from_bytes(_LANE.tobytes() * n, "little")
        x = int.from_bytes(raw, "little") & lanes
        out.frombytes(x.to_bytes(4 * n, "little"))
        if n > 1:  # the last lane (the last word times the multiplier) is no bigram
            out.frombytes((((x * _BIGRAM_MUL) ^ (x >> 32)) & lanes).to_bytes(4 * n, "little")[: 4 * n - 4])
        if _BIG_ENDIAN:
            out.byteswap()
    if runs:
        out.extend(map(_and, map(_crc32, _bigrams(runs)), repeat(_BUCKET_MASK)))
    return out


def _vector_of(buckets: Sequence[int]) -> tuple[tuple[int, float], ...]:
    """``(bucket, count / sqrt(n))`` sorted by bucket (n: the number of tokens)."""
    if not buckets:
        return ()
    counts = Counter(buckets)
    keys = sorted(counts)
    norm = 1.0 / _sqrt(len(buckets))
    return tuple(zip(keys, map(_mul, map(counts.__getitem__, keys), repeat(norm))))


def vectorize(instruction: str, context: Sequence[str] = ()) -> FeatureVector:
    """The feature vector of a prompt's instruction and its context parts (see ``split_prompt``)."""
    dense, buckets = _analyse(instruction, context, True)
    return FeatureVector(tuple(dense), _vector_of(buckets))


# --------------------------------------------------------------------------
# Feature sources
# --------------------------------------------------------------------------
class FeatureSource(Protocol):
    """What turns a prompt into a ``FeatureVector`` of one feature set.  The trainer (``learning``) and
    ``Scorer.from_spec`` only read ``feature_set``, ``dense_names`` and ``buckets``; the router and the
    labeller call ``vectorize`` (or ``Scorer.score_text``, which calls it).  An embedding source would
    return its embedding as the dense part (names ``e0 .. e{n-1}``) and ``buckets = 0``."""

    feature_set: str
    dense_names: tuple[str, ...]
    buckets: int

    def vectorize(self, instruction: str, context: Sequence[str] = ()) -> FeatureVector: ...


class LexicalFeatures:
    """This module's features (feature set ``FEATURE_SET``): language-neutral dense counts and hashed tokens."""

    feature_set = FEATURE_SET
    dense_names = DENSE_FEATURES
    buckets = HASH_BUCKETS

    def vectorize(self, instruction: str, context: Sequence[str] = ()) -> FeatureVector:
        return vectorize(instruction, context)


LEXICAL = LexicalFeatures()
FEATURE_SOURCES: dict[str, FeatureSource] = {FEATURE_SET: LEXICAL}


def register_feature_source(source: FeatureSource) -> None:
    """Make specs and stored vectors of ``source.feature_set`` usable (at import time, once per process)."""
    if source.feature_set in FEATURE_SOURCES and FEATURE_SOURCES[source.feature_set] is not source:
        raise ScorerError(f"feature set {source.feature_set!r} is already registered", "feature_set")
    if source.buckets and source.buckets & (source.buckets - 1):
        raise ScorerError("a feature source's bucket count must be 0 or a power of two", "hashed.buckets")
    FEATURE_SOURCES[source.feature_set] = source


def feature_source(feature_set: str) -> FeatureSource:
    """The registered source of ``feature_set``; ScorerError (path ``feature_set``) when there is none."""
    source = FEATURE_SOURCES.get(feature_set) if isinstance(feature_set, str) else None
    if source is None:
        raise ScorerError(
            f"{feature_set!r} is not a feature set this code computes ({', '.join(sorted(FEATURE_SOURCES))}): "
            "this scorer was trained for another feature set; retrain it on labels of this version",
            "feature_set",
        )
    return source


# --------------------------------------------------------------------------
# Scorer
# --------------------------------------------------------------------------
def _sigmoid(z: float) -> float:
    if z != z:  # NaN; from_spec's bounds keep logits finite, so this is belt and braces
        return 0.5
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# Magnitude bounds of a spec's numbers. Finite is not enough: coef 1e308 overflows the logit to inf, and
# inf - inf is NaN, which no rule matches and no JSON log line can carry. Trained specs sit far inside these
# (standardised coefficients of a few units, means of a few, scales down to ~1e-3).
MAX_WEIGHT = 1e3  # |intercept|, |dense coef| (standardised), |hashed weight|
MAX_MEAN = 1e6
MIN_SCALE, MAX_SCALE = 1e-9, 1e6
# A spec's hashed weights: about 20 bytes each in a routing configuration, so this many stay under ~800 KB of
# AppConfig's 1 MB hosted limit; the trainer keeps at most learning.MAX_SPEC_HASHED (far fewer).
MAX_HASHED_WEIGHTS = 40_000


def _number_list(obj: Any, n: int, path: str, *, low: float, high: float, what: str) -> list[float]:
    if not isinstance(obj, list) or len(obj) != n:
        got = f"a list of {len(obj)}" if isinstance(obj, list) else type(obj).__name__
        raise ScorerError(f"must be a list of {n} numbers (one per dense feature), got {got}", path)
    out = []
    for i, x in enumerate(obj):
        if not _finite(x):
            raise ScorerError(f"{x!r} is not a finite number", f"{path}[{i}]")
        if not low <= x <= high:
            raise ScorerError(f"{x!r} is out of range: {what} must be within [{low:g}, {high:g}]", f"{path}[{i}]")
        out.append(float(x))
    return out


class Scorer:
    """A validated scorer spec; ``score``/``score_text`` are pure functions."""

    __slots__ = (
        "name",
        "version",
        "meta",
        "source",
        "_intercept",
        "_mean",
        "_scale",
        "_coef",
        "_w",
        "_b",
        "_hashed",
        "_lexical",
        "_by_bucket",
    )

    def __init__(
        self,
        *,
        name: str,
        version: str,
        intercept: float,
        mean: list[float],
        scale: list[float],
        coef: list[float],
        hashed: dict[int, float],
        meta: dict,
        source: FeatureSource = LEXICAL,
    ):
        self.name = name
        self.version = version
        self.meta = meta
        self.source = source
        self._lexical = source is LEXICAL
        self._intercept = intercept
        self._mean = tuple(mean)
        self._scale = tuple(scale)
        self._coef = tuple(coef)
        # Standardisation folded in: z = b + sum(w_i * x_i) + sum(h_j * v_j).
        self._w = tuple(c / s for c, s in zip(coef, scale))
        self._b = intercept - sum(w * m for w, m in zip(self._w, mean))
        self._hashed = hashed
        # The hashed weights as a list indexed by bucket (0.0 where none), built on the first score_text: indexing
        # it is a fifth cheaper than dict.get per token. About 2 MB (one pointer per bucket), once per scorer.
        self._by_bucket: list[float] | None = None

    @classmethod
    def from_spec(cls, spec: Mapping, *, name: str = "") -> Scorer:
        """Validate a spec (see module docs); raises ``ScorerError`` naming the field."""
        if not isinstance(spec, Mapping):
            raise ScorerError(f"a scorer spec must be an object, got {type(spec).__name__}")
        source = feature_source(spec.get("feature_set"))  # type: ignore[arg-type]
        fs, dense_names, n_dense, n_buckets = (
            source.feature_set,
            source.dense_names,
            len(source.dense_names),
            source.buckets,
        )
        version = spec.get("version")
        if not isinstance(version, str) or not version.strip() or len(version) > 128:
            raise ScorerError("must be a non-empty string of at most 128 characters", "version")
        intercept = spec.get("intercept", 0.0)
        if not _finite(intercept):
            raise ScorerError(f"{intercept!r} is not a finite number", "intercept")
        if abs(intercept) > MAX_WEIGHT:
            raise ScorerError(f"{intercept!r} is out of range: must be within ±{MAX_WEIGHT:g}", "intercept")
        dense = spec.get("dense")
        if not isinstance(dense, Mapping):
            raise ScorerError("must be an object with names, mean, scale and coef", "dense")
        names = dense.get("names")
        if not isinstance(names, list) or tuple(names) != dense_names:
            missing = [n for n in dense_names if not isinstance(names, list) or n not in names]
            raise ScorerError(
                "must list the dense features of feature set "
                f"{fs} in order ({n_dense} names)" + (f"; missing {missing[:3]}" if missing else ""),
                "dense.names",
            )
        mean = _number_list(dense.get("mean"), n_dense, "dense.mean", low=-MAX_MEAN, high=MAX_MEAN, what="a mean")
        scale = _number_list(
            dense.get("scale"),
            n_dense,
            "dense.scale",
            low=MIN_SCALE,
            high=MAX_SCALE,
            what="a scale (a standard deviation, > 0)",
        )
        coef = _number_list(
            dense.get("coef"),
            n_dense,
            "dense.coef",
            low=-MAX_WEIGHT,
            high=MAX_WEIGHT,
            what="a standardised coefficient",
        )
        hashed_spec = spec.get("hashed", {"buckets": n_buckets, "coef": []})
        if not isinstance(hashed_spec, Mapping):
            raise ScorerError("must be an object with buckets and coef", "hashed")
        buckets = hashed_spec.get("buckets")
        if buckets != n_buckets or isinstance(buckets, bool):
            raise ScorerError(f"{buckets!r} buckets; feature set {fs} hashes into {n_buckets}", "hashed.buckets")
        hcoef = hashed_spec.get("coef", [])
        if not isinstance(hcoef, list) or len(hcoef) > min(n_buckets, MAX_HASHED_WEIGHTS):
            raise ScorerError(
                f"must be a list of at most {min(n_buckets, MAX_HASHED_WEIGHTS):,} [bucket, weight] pairs "
                "(a routing configuration must stay well inside AppConfig's 1 MB)",
                "hashed.coef",
            )
        hashed: dict[int, float] = {}
        for i, pair in enumerate(hcoef):
            path = f"hashed.coef[{i}]"
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ScorerError("must be a [bucket, weight] pair", path)
            b, w = pair
            if not (isinstance(b, int) and not isinstance(b, bool) and 0 <= b < n_buckets):
                raise ScorerError(f"bucket {b!r} is out of range: must be an integer in [0, {n_buckets})", path)
            if b in hashed:
                raise ScorerError(f"bucket {b} is listed twice", path)
            if not _finite(w):
                raise ScorerError(f"weight {w!r} is not a finite number", path)
            if abs(w) > MAX_WEIGHT:
                raise ScorerError(f"weight {w!r} is out of range: must be within ±{MAX_WEIGHT:g}", path)
            if w:
                hashed[b] = float(w)
        meta = spec.get("meta", {})
        if not isinstance(meta, Mapping):
            raise ScorerError("must be an object", "meta")
        try:
            meta = json.loads(json.dumps(dict(meta), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ScorerError(f"must be plain JSON ({exc})", "meta") from None
        return cls(
            name=name or str(spec.get("name", "") or ""),
            version=version,
            intercept=float(intercept),
            mean=mean,
            scale=scale,
            coef=coef,
            hashed=hashed,
            meta=meta,
            source=source,
        )

    def spec(self) -> dict:
        return {
            "version": self.version,
            "feature_set": self.source.feature_set,
            "intercept": self._intercept,
            "dense": {
                "names": list(self.source.dense_names),
                "mean": list(self._mean),
                "scale": list(self._scale),
                "coef": list(self._coef),
            },
            "hashed": {"buckets": self.source.buckets, "coef": [[b, w] for b, w in sorted(self._hashed.items())]},
            "meta": json.loads(json.dumps(self.meta)),
        }

    @property
    def dense_coef(self) -> dict[str, float]:
        """Standardised dense coefficients by feature name (what the sign priors constrain)."""
        return dict(zip(self.source.dense_names, self._coef))

    def _logit(self, dense: Sequence[float], hashed: Sequence[tuple[int, float]]) -> float:
        z = self._b + sum(map(_mul, self._w, dense))
        if hashed and self._hashed:
            get = self._hashed.get
            for b, v in hashed:
                w = get(b)
                if w is not None:
                    z += w * v
        return z

    def logit(self, v: FeatureVector) -> float:
        """The score before the sigmoid (what a trainer uses this scorer's knowledge through)."""
        return self._logit(v.dense, v.hashed)

    def raw_weights(self) -> tuple[tuple[float, ...], float]:
        """(weight per dense feature in its raw units, intercept): the logit is ``b + sum(w_j x_j) + hashed``."""
        return self._w, self._b

    def hashed_weights(self) -> dict[int, float]:
        return dict(self._hashed)

    def score(self, v: FeatureVector) -> float:
        """Score in [0, 1] (higher = route to the strong model)."""
        return _sigmoid(self._logit(v.dense, v.hashed))

    def score_text(self, instruction: str, context: Sequence[str] = ()) -> float:
        if not self._lexical:
            return self.score(self.source.vectorize(instruction, context))
        dense, buckets = _analyse(instruction, context, bool(self._hashed))
        z = self._b + sum(map(_mul, self._w, dense))
        if buckets:  # sum of w[bucket] * count / sqrt(n) over buckets == sum of w over tokens / sqrt(n)
            by_bucket = self._by_bucket
            if by_bucket is None:
                by_bucket = [0.0] * self.source.buckets
                for b, w in self._hashed.items():
                    by_bucket[b] = w
                self._by_bucket = by_bucket
            z += sum(map(by_bucket.__getitem__, buckets)) / _sqrt(len(buckets))
        return _sigmoid(z)

    def explain(self, v: FeatureVector) -> dict:
        """The score, the scorer's version and the (at most 5) largest contributions to the logit,
        relative to an average prompt of the training data (a feature at its mean contributes 0)."""
        contrib = [(n, w * (x - m)) for n, w, x, m in zip(self.source.dense_names, self._w, v.dense, self._mean)]
        get = self._hashed.get
        contrib.extend((f"hash:{b}", get(b, 0.0) * x) for b, x in v.hashed if b in self._hashed)
        contrib.sort(key=lambda kv: -abs(kv[1]))
        return {
            "score": round(self.score(v), 6),
            "scorer_version": self.version,
            "top": [[n, round(c, 4)] for n, c in contrib[:5] if c],
        }

    def __repr__(self) -> str:
        return f"Scorer(name={self.name!r}, version={self.version!r})"


_BUNDLED: Scorer | None = None


def bundled() -> Scorer:
    """The scorer shipped with the code (``scorer_weights.json``), loaded once; named ``"bundled"``."""
    global _BUNDLED
    if _BUNDLED is None:
        with open(WEIGHTS_PATH, encoding="utf-8") as fh:
            _BUNDLED = Scorer.from_spec(json.load(fh), name=BUNDLED_NAME)
    return _BUNDLED
