"""A cheap second check before the semantic cache serves a candidate: do the two messages differ
in something that usually changes the answer?

Mean-pooled sentence embeddings score a near miss as close as a paraphrase ("convert 8 km to
miles" / "convert 8 miles to km": 0.99+), so cosine alone cannot make the cache safe (figures:
bench/data/semantic_cache/README.md). The guard refuses a candidate when the messages disagree on
the point of the request, by general rules of English (why_not names the rule):

- number: numbers differ as a multiset (digits, number words, ordinals; 1,000 == 1000) or a
  non-commutative expression differs (2^5 / 5^2); quantity: a number is bound to another unit
  ("150 minutes" / "150 hours"); operator: both hold arithmetic with other operators;
- negation: the parity of negators differs (not, no, never, n't, without, cannot, ...), or one
  has a word and the other its negated form (eligible / ineligible);
- opposite: one has a word, the other its opposite and not the word (enable / disable);
- scope: the quantifiers differ (all, every, whole, entire / only); quoted: a quoted string of
  one is not in the other;
- unit, time, language, format, entity: a term of one is not named by the other (case, plural
  -s and one typo forgiven). Entities: capitalised words not at a sentence start, acronyms and
  code identifiers; the others: lexicons of units, dates and times, languages, formats;
- order: a directional word (to, from, into, than, vs, between) sits between two shared terms
  that come in the other order, or the words either side of a single "from"/"into" swapped;
- substitution: a minimal pair, the same content words in the same order but one ("bats" /
  "owls"); a paraphrase rewrites more than one word.

A refusal costs a hit, never correctness. Pure Python, no model; the per-text analysis is
memoised (bench/semantic_cache_eval.py reports the cost per call, cold and warm).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["compatible", "why_not"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS |= {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                  "ninety": 90, "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9,
                  "twice": 2, "thrice": 3, "dozen": 12, "single": 1, "double": 2, "triple": 3}
# "second" is left out: it is far more often the unit ("meters per second").
_ORDINALS = {w: i + 1 for i, w in enumerate(
    "first _ third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())}
# "one" is a pronoun after these ("a new one", "which one") and at the end of a clause.
_PRONOUN_ONE_AFTER = _words("a the new this that which each every any no another other single last "
                            "first right wrong same old only")
_NEGATORS = _words("not no never none nothing nobody nowhere neither nor without cannot dont cant "
                   "wont isnt doesnt didnt wasnt werent arent havent hasnt shouldnt couldnt wouldnt")
_NEG_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")
_OPPOSITES = [p.split("/") for p in (
    "enable/disable on/off in/out up/down to/from increase/decrease add/remove add/delete "
    "create/delete before/after min/max minimum/maximum buy/sell upload/download import/export "
    "encrypt/decrypt encode/decode compress/decompress serialize/deserialize open/close start/stop "
    "include/exclude inclusive/exclusive more/less more/fewer above/below over/under first/last "
    "earliest/latest early/late highest/lowest largest/smallest biggest/smallest best/worst "
    "accept/decline accept/reject approve/reject allow/deny allow/block show/hide lock/unlock "
    "win/lose pass/fail true/false positive/negative success/failure input/output send/receive "
    "push/pull active/passive active/inactive online/offline login/logout upper/lower "
    "uppercase/lowercase ascending/descending left/right top/bottom inner/outer internal/external "
    "public/private new/old young/old long/short high/low big/small large/small heavy/light "
    "hot/cold warm/cool fast/slow cheap/expensive easy/difficult simple/complex agree/disagree "
    "like/dislike love/hate pro/con advantage/disadvantage praise/criticize praise/criticise "
    "day/night morning/evening sunrise/sunset summer/winter north/south east/west arrive/depart "
    "arrival/departure entry/exit enter/exit install/uninstall connect/disconnect "
    "subscribe/unsubscribe lend/borrow debit/credit income/expense profit/loss maximize/minimize "
    "expand/collapse required/optional mandatory/optional local/remote read/write "
    "synchronous/asynchronous sync/async horizontal/vertical male/female singular/plural "
    "freeze/thaw freeze/melt").split()]
_SCOPE = {"all": "all", "every": "all", "whole": "all", "entire": "all", "only": "only"}
_UNITS = {u: canon for canon, names in {
    "km": "km kms kilometer kilometre", "mile": "mi mile", "m": "meter metre", "cm": "cm centimeter "
    "centimetre", "mm": "mm millimeter millimetre", "ft": "ft foot feet", "inch": "inch inches",
    "yd": "yd yard", "kg": "kg kilo kilogram", "g": "gram", "lb": "lb lbs pound", "oz": "oz ounce",
    "stone": "stone", "ton": "ton tonne", "l": "liter litre", "ml": "ml milliliter millilitre",
    "cup": "cup", "gal": "gal gallon", "pint": "pint", "tbsp": "tbsp tablespoon", "tsp": "tsp "
    "teaspoon", "c": "°c celsius centigrade", "f": "°f fahrenheit", "kelvin": "kelvin", "mph": "mph",
    "byte": "byte", "bit": "bit", "kb": "kb", "mb": "mb", "gb": "gb", "tb": "tb", "kib": "kib",
    "mib": "mib", "gib": "gib", "usd": "$ usd dollar", "eur": "€ eur euro", "gbp": "£ gbp",
    "jpy": "¥ jpy yen", "percent": "% percent percentage", "degree": "° degree", "radian": "radian",
    "square": "square sq", "cubic": "cubic"}.items() for u in names.split()}
# Units that are also everyday words count only after a number or "to", "in", "per", ...
_WORDY_UNITS = _words("foot feet pound stone cup square cubic degree ton pint gram")
_UNIT_CONTEXT = _words("to into in per of")
# Short units that are also letters or words count only after a number or inside "km/h".
_SURFACE = {c: tuple(n for n, k in _UNITS.items() if k == c) for c in set(_UNITS.values())}
_SHORT_UNITS = {"m": "m", "g": "g", "s": "second", "h": "hour", "hr": "hour", "min": "minute",
                "sec": "second", "l": "l"}
_TIME_UNITS = _words("second minute hour day week month year quarter decade century")
_QUANTIFIERS = _words("a an per this last next each every one few several couple")
_TIME = _words(
    "january february march april june july august september october november december monday "
    "tuesday wednesday thursday friday saturday sunday weekend weekday morning afternoon evening "
    "night tonight today tomorrow yesterday midnight noon spring summer autumn winter")
_LANGUAGES = _words(
    "python javascript typescript java kotlin scala rust golang ruby php perl swift c++ c# haskell "
    "elixir erlang lua dart julia matlab fortran cobol sql bash powershell english french german "
    "spanish portuguese italian dutch japanese korean chinese mandarin cantonese russian arabic "
    "hindi turkish polish swedish norwegian danish finnish greek hebrew latin vietnamese thai "
    "indonesian ukrainian")
_FORMATS = _words(
    "pdf csv json xml yaml yml html markdown txt docx xlsx excel png jpg jpeg gif svg mp3 mp4 wav "
    "zip tar parquet binary hexadecimal base64 ascii haiku sonnet limerick poem essay story song "
    "tweet email sms table list paragraph bullet chart graph slide memo")
_DIRECTIONAL = _words("to from into onto than vs versus between → ->")
_SWAP_WORDS = ("from", "into", "to", "than", "vs", "versus")
_STOP = _words(
    "a an the my your our their his her its this that these those i me you u we they it is are was "
    "were be been am do does did how what whats which who whom why when where can could would "
    "should will shall may might must please of in on for with at by as and or but if about there "
    "some any so just tell explain want need way i'd i'm it's what's there's get have has had "
    "yo hey hi much many yet still also really actually even now right make give let use following"
).union(_DIRECTIONAL)

_TOKEN = re.compile(r"[A-Z0-9]+(?:[-/:][A-Z0-9]+)+\b|[\w'\u2019#+]+(?:\.[A-Za-z_]\w*)*(?:\(\))?"
                    r"|°[CFcf]\b|[$€£¥%°^→/]|->")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|(?<!\w)'([^']+)'(?!\w)")
_POWER = re.compile(r"(\d+|\b[a-z])\s*(?:\^|\*\*|to the power of)\s*\(?\s*(\d+|[a-z]\b)")
_OPERATOR = re.compile(r"(?:\d[a-z]?|(?<![a-z])[a-z]|\))\s*([-+*/^=\u00d7\u00f7])\s*(?=\d|[a-z](?![a-z])|\()")
_SENTENCE_END = ".!?:;\"'“(\n"
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:\.\w+)+(?:\(\))?|\w+\(\)|[a-z]+_\w+|[a-z]+[A-Z]\w*")
_CAPS_CODE = re.compile(r"[A-Z]+(?:[-/:][A-Z]+)+")
_SUFFIX = re.compile(r"(?<=\w{3})(?:ing|ed|es|s)$")


@dataclass(frozen=True)
class _Text:
    words: tuple[str, ...]  # normalised tokens, in order
    content: tuple[str, ...]  # stems of the words that are not function words, in order
    vocab: frozenset[str]
    stems: frozenset[str]
    numbers: Counter[str]
    powers: frozenset[str]
    operators: Counter[str]
    quantities: Counter[tuple[str, str]]
    negations: int
    scope: frozenset[str]
    terms: dict[str, frozenset[str]]  # rule name -> terms
    anchors: tuple[tuple[str, int], ...]  # (term, token index), in order: for the order rule
    quoted: frozenset[str]
    flat: str  # lower-case words joined by spaces, to look quoted strings up


def _norm(word: str) -> str:
    w = word.lower().replace("\u2019", "'").removesuffix("'s").strip("'")
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-2] if w.endswith(("ches", "shes", "xes")) else w[:-1]
    return w


def _stem(word: str) -> str:
    word = _SUFFIX.sub("", word, count=1)
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


_OPPOSITE: dict[str, set[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE.setdefault(_stem(_a), set()).add(_stem(_b))
    _OPPOSITE.setdefault(_stem(_b), set()).add(_stem(_a))


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(token, starts a sentence), hyphenated lower-case words split ("four-hour": four, hour)."""
    out: list[tuple[str, bool]] = []
    last = "."  # the last non-space character before the token
    end = 0
    for match in _TOKEN.finditer(text):
        gap = text[end: match.start()].rstrip()
        last, end = (gap[-1] if gap else last), match.end()
        start = last in _SENTENCE_END
        token = match.group()
        last = token[-1]
        parts = token.split("-") if "-" in token and not token.isupper() else [token]
        out.extend((p, start and i == 0) for i, p in enumerate(parts) if p)
    return out


def _number(token: str, previous: str) -> str | None:
    """The value of a number word or ordinal ("four", "third"); digits are counted apart."""
    low = token.lower()
    if low in _ORDINALS:
        return str(_ORDINALS[low])
    if low == "one" and previous in _PRONOUN_ONE_AFTER:
        return None
    return str(_NUMBER_WORDS[low]) if low in _NUMBER_WORDS else None


@lru_cache(maxsize=8192)
def _analyse(text: str) -> _Text:
    """Everything the rules compare, from one pass over the tokens (memoised per text)."""
    tokens = _tokens(text)
    raw = [t for t, _ in tokens]
    words = tuple(_norm(t) for t in raw)
    numbers: Counter[str] = Counter(d.replace(",", "") for d in _NUMBER.findall(text))
    quantities: Counter[tuple[str, str]] = Counter()
    terms: dict[str, set[str]] = {k: set() for k in ("entity", "unit", "time", "language", "format")}
    anchors: list[tuple[str, int]] = []
    values: list[str | None] = []
    for i, ((token, start), word) in enumerate(zip(tokens, words, strict=True)):
        previous = words[i - 1] if i else ""
        following = words[i + 1] if i + 1 < len(words) else ""
        value = None if any(c.isdigit() for c in token) else _number(token, previous)
        numbers.update([value] if value is not None else [])
        values.append(token.replace(",", "") if _NUMBER.fullmatch(token) else value)
        amount = values[i - 1] if i else None
        unit = _unit(word, token, previous, following, amount is not None)
        if unit and amount is not None:  # a quantity is compared whole, by the quantity rule
            quantities[(amount, unit)] += 1
            terms["unit"].add(unit)
            if anchors and anchors[-1] == (amount, i - 1):
                anchors.pop()
        for rule, term in _kinds(token, word, start, unit):
            if rule == "unit" and amount is not None:
                continue
            terms[rule].add(term)
            anchors.append((term, i))
        if values[i] is not None:
            anchors.append((values[i] or "", i))
    flat = [_norm(w) for w in re.findall(r"[\w']+", text)]
    return _Text(
        words=words, content=tuple(_stem(w) for w, t in zip(words, raw, strict=True)
                                   if w.isalpha() and w not in _STOP and t.lower() not in _STOP
                                   and w not in _UNITS and w not in _TIME_UNITS),
        vocab=frozenset(words), stems=frozenset(_stem(w) for w in words), numbers=numbers,
        powers=frozenset("^".join(m) for m in _POWER.findall(text.lower())),
        operators=Counter(_OPERATOR.findall(text.lower())), quantities=quantities,
        negations=sum(w in _NEGATORS or w.endswith("n't") for w in words),
        scope=frozenset(_SCOPE[w] for w in words if w in _SCOPE),
        terms={k: frozenset(v) for k, v in terms.items()}, anchors=tuple(anchors),
        quoted=frozenset(" ".join(_norm(w) for w in re.findall(r"[\w']+", "".join(q)))
                         for q in _QUOTED.findall(text)),
        flat=" " + " ".join(flat) + " ")


def _kinds(token: str, word: str, start: bool, unit: str | None) -> list[tuple[str, str]]:
    """(rule, term) for each lexicon the token belongs to, or ("entity", word) if none."""
    found = [("unit", unit)] if unit else []
    found += [(rule, word) for rule, lexicon in (("time", _TIME), ("language", _LANGUAGES),
                                                 ("format", _FORMATS)) if word in lexicon]
    if start and word == "list":  # the verb
        found = [f for f in found if f[0] != "format"]
    if not found and not unit and _is_entity(token, start):
        found.append(("entity", word))
    return found


def _unit(word: str, token: str, previous: str, following: str, numeric: bool) -> str | None:
    if word in _WORDY_UNITS or token.lower() in _WORDY_UNITS:
        return _UNITS[word] if numeric or previous in _UNIT_CONTEXT else None
    if token.lower() in _UNITS:
        return _UNITS[token.lower()]
    in_ratio = previous == "/" or following == "/"
    if token in _SHORT_UNITS and (numeric or in_ratio):
        return _SHORT_UNITS[token]
    if word in _TIME_UNITS and (numeric or previous in _QUANTIFIERS or previous in _NUMBER_WORDS):
        return word
    return _UNITS.get(word)


def _is_entity(token: str, start: bool) -> bool:
    """A capitalised word or acronym not at a sentence start, or a code identifier."""
    if _IDENTIFIER.fullmatch(token):
        return True
    if not token[0].isupper() or token.startswith(("I'", "I\u2019")) or token == "I" or any(
            c.isdigit() for c in token):
        return bool(_CAPS_CODE.fullmatch(token))
    return not start or sum(c.isupper() for c in token) > 1


def _close(a: str, b: str) -> bool:
    """Equal, or one typo apart (an edit or a swap of neighbours) for words of 4+ letters."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1 or a[0] != b[0]:
        return False
    before, previous = [0] * (len(b) + 1), list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1] <= (2 if len(a) >= 8 else 1)


def _missing_term(a: _Text, b: _Text) -> str | None:
    """The first lexicon with a term of one text that the other does not name (typos forgiven)."""
    for rule in ("unit", "time", "language", "format", "entity"):
        for x, y in ((a, b), (b, a)):
            for term in x.terms[rule] - y.terms[rule] - y.vocab:
                if not any(_close(name, w) for name in _SURFACE.get(term, (term,)) for w in y.vocab):
                    return rule
    return None


def _opposite(a: _Text, b: _Text) -> bool:
    for x, y in ((a.stems, b.stems), (b.stems, a.stems)):
        for stem in x - y:
            if _OPPOSITE.get(stem, set()) & (y - x):
                return True
    return False


def _negated_word(a: _Text, b: _Text) -> bool:
    for x, y in ((a, b), (b, a)):
        for w in y.vocab - x.vocab:
            for prefix in _NEG_PREFIXES:
                base = w.removeprefix(prefix)
                if base != w and len(base) >= 4 and base in x.vocab and base not in y.vocab:
                    return True
    return False


def _order(a: _Text, b: _Text) -> bool:
    """A directional word sits between two shared terms that come in the other order in the other
    text, or the content words either side of a single "from"/"into"/"to"/"than" swapped."""
    first_a = {term: i for term, i in reversed(a.anchors)}
    first_b = {term: i for term, i in reversed(b.anchors)}
    shared = [t for t in first_a if t in first_b]
    for k, t in enumerate(shared):
        for u in shared[k + 1:]:
            spans = (a.words[min(first_a[t], first_a[u]): max(first_a[t], first_a[u])],
                     b.words[min(first_b[t], first_b[u]): max(first_b[t], first_b[u])])
            if (first_a[t] < first_a[u]) != (first_b[t] < first_b[u]) and any(
                    _DIRECTIONAL.intersection(span) for span in spans):
                return True
    for word in _SWAP_WORDS:
        if a.words.count(word) == 1 and b.words.count(word) == 1:
            before_a, after_a = _neighbours(a.words, word)
            before_b, after_b = _neighbours(b.words, word)
            if before_a != after_a and ((before_a and before_a == after_b) or
                                        (after_a and after_a == before_b)):
                return True
    return False


def _neighbours(words: tuple[str, ...], word: str) -> tuple[str, str]:
    i = words.index(word)
    before = [w for w in words[:i] if w not in _STOP and w.isalpha()]
    after = [w for w in words[i + 1:] if w not in _STOP and w.isalpha()]
    return (before[-1] if before else "", after[0] if after else "")


def _related(a: str, b: str) -> bool:
    """The same word give or take a typo, an abbreviation or a suffix (int/integer, short/shorten)."""
    if _close(a, b):
        return True
    short, long = sorted((a, b), key=len)
    common = len(short) if long.startswith(short) else next(
        i for i, (x, y) in enumerate(zip(short, long, strict=False)) if x != y)
    return common >= 3 and (common == len(short) or common >= max(5, 0.7 * len(short)))


def _substitution(a: _Text, b: _Text) -> bool:
    """A minimal pair: the same content words in the same order but one, swapped in place."""
    if len(a.content) != len(b.content) or len(a.content) < 2:
        return False
    differ = [i for i, (x, y) in enumerate(zip(a.content, b.content, strict=True)) if not _related(x, y)]
    return len(differ) == 1 and a.content[differ[0]] not in b.content


def why_not(query: str, cached: str) -> str | None:
    """The first rule that refuses serving `cached`'s answer to `query`, or None when compatible."""
    a, b = _analyse(query), _analyse(cached)
    if a.numbers != b.numbers or a.powers != b.powers:
        return "number"
    if a.quantities != b.quantities:
        return "quantity"
    if a.operators and b.operators and a.operators != b.operators:
        return "operator"
    if a.negations % 2 != b.negations % 2 or _negated_word(a, b):
        return "negation"
    if _opposite(a, b):
        return "opposite"
    if a.scope != b.scope:
        return "scope"
    if any(f" {q} " not in b.flat for q in a.quoted) or any(f" {q} " not in a.flat for q in b.quoted):
        return "quoted"
    if missing := _missing_term(a, b):
        return missing
    if _order(a, b):
        return "order"
    if _substitution(a, b):
        return "substitution"
    return None


def compatible(query: str, cached: str) -> bool:
    """Whether the cached answer to `cached` may serve `query` (see the module docstring)."""
    return why_not(query, cached) is None
