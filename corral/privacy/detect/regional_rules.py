"""The patterns of `regional.py`, built per set of languages from `regional_data.py` word lists.

Word lists are compiled as tries (one branch per character, not per word); every pattern starts
with a literal or a character class and all repetition is bounded (see `regional.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from corral.privacy.detect import regional_data as D

LANGUAGES = frozenset(D.LANGUAGES)

# Letters of the six languages (and their neighbours): Latin-1 and Latin Extended-A.
UP = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĖĘĚĜĞĠĢĤĪĮİĶĹĻĽĿŁŃŅŇŌŐŒŔŖŘŚŜŞŠŢŤŪŮŰŲŴŶŸŹŻŽ"
LOW = "a-zß-öø-ÿāăąćĉċčďđēėęěĝğġģĥīįıķĺļľŀłńņňōőœŕŗřśŝşšţťūůűųŵŷźżž"
APOS = "'\u2019"

# A capitalised word: "Müller", "O'Brien", "McDonald", "Müller-Lüdenscheidt" (not "GmbH", "ABC").
_WORD = (
    rf"[{UP}](?:[{APOS}][{UP}])?[{LOW}]{{1,30}}+(?:[{UP}][{LOW}]{{1,20}}+)?"
    rf"(?:-[{UP}](?:[{APOS}][{UP}])?[{LOW}]{{1,30}}+){{0,2}}+(?!\w)"
)
# A city: also "Saint-Germain-en-Laye", "L'Haÿ-les-Roses", "Bielsko-Biała".
_CITY_WORD = (
    rf"[{UP}](?:[{APOS}][{UP}])?[{LOW}]{{1,30}}+(?:[-{APOS}][{UP}{LOW}][{LOW}]{{0,30}}+){{0,4}}+(?!\w)"
)
_PLAIN = rf"[{UP}][\w{APOS}-]{{0,30}}+"  # a capitalised run: street names ("Jana", "XX", "Gran")
_CAPS_CITY = rf"[{UP}]{{2,30}}+(?:[ -](?!CEDEX)[{UP}]{{2,30}}+){{0,2}}+(?!\w)"  # "PARIS", "SAINT-DENIS"
# Not inside a word, an abbreviation or a hyphenated compound. `trie` puts it after a word's
# second character: the pattern still starts with a literal the engine can skip to, and most
# candidates ("Aa" for "Am") fail before the look-behind runs.
_GUARD = rf"(?<![\w{APOS}.-]..)"
_END = r"(?:(?<=[.\u00aa/])|(?!\w))"  # the end of a trigger word: "Dr." or "Frau" (not "Frauen")
# A house number: "5", "5a", "10-12", "10/12", "3/A", "12-bis", "s/n"; not a decimal or a date.
_NUM = (
    r"(?:\d{1,4}+[a-zA-Z]?(?:[ \t]?[-/][ \t]?(?:\d{1,4}+[a-zA-Z]?|[A-Za-z]{1,3}+))?|[sS]/[nN])(?!\w|[.,]\d)"
)
_POSTCODES = {
    "de": r"\d{5}",
    "fr": r"\d{5}",
    "es": r"\d{5}",
    "it": r"\d{5}",
    "nl": r"[1-9]\d{3}[ \t]?[A-Z]{2}",
    "pl": r"\d{2}-\d{3}",
}
_COUNTRY_PREFIX = r"(?:(?:D|F|E|I|NL|PL)-)?"
# Between the street and the postcode: a comma, a line break, or spaces ("12 rue X 75002 Paris").
_POSTAL_SEP = r"(?:[ \t]{0,3}+(?:,|\r?\n)[ \t]{0,3}+(?:\r?\n[ \t]{0,3}+)?|[ \t]{1,3}+)"

# English words after "Via Slack 2 ...": a count, not a house number.
ENGLISH_AFTER = re.compile(
    r"[ \t]{1,3}+(?:days?|times?|hours?|minutes?|weeks?|months?|years?|people|users|items|more|of|or|and"
    r"|to|at|on|in|per|percent|%)\b"
)
DIGIT = re.compile(r"\d")
YEAR = re.compile(r"(?:19|20)\d\d")
# What may follow "Am Markt 3" (a German street without a street word): the end of the phrase.
PHRASE_END = re.compile(r"[ \t]*(?:[,.;:!?)\r\n]|$)")
# German articles and determiners before "Frau"/"Herr": the noun ("eine Frau Mitte 40").
ARTICLES = frozenset(
    """
    ein eine einer einem einen die der den dem des jede jeder jedem jeden keine keiner diese dieser
    diesem diesen junge junger jungen alte alter alten ältere älterer älteren andere anderer anderen
    welche welcher solche solcher
""".split()
)
_NOUN_TITLES = frozenset({"Frau", "Herr", "Herrn"})  # also "woman", "lord"
LAST_WORD = re.compile(r"(?:^|[\s(])([\w/.]{1,12})[ \t]{1,3}$")
# Second surnames that are not German nouns: Spanish, Italian, Polish and French endings.
SURNAME_END = re.compile(
    r"[^\W\d_]{2,40}(?:ez|az|oz|iz|ini|elli|etti|ucci|ski|ska|cki|cka|wicz|czyk|eau|aux)$"
)


def _variants(words: Iterable[str]) -> set[str]:
    """Each word as written, capitalised (a sentence start) and with a typographic apostrophe."""
    out: set[str] = set()
    for w in words:
        for v in (w, w[:1].upper() + w[1:]):
            out.add(v)
            out.add(v.replace("'", "\u2019"))
    return out


_Node: TypeAlias = "dict[str, _Node]"


def trie(words: Iterable[str], guard: str = "") -> str:
    """One regex for a word list, shared prefixes factored out (the engine tries one branch per
    character, not one per word); `guard` goes after the second character of every word."""
    root: _Node = {}
    for word in words:
        if guard and len(word) < 2:
            raise ValueError(f"guarded word lists need two characters: {word!r}")
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: _Node, depth: int) -> str:
        here = guard if depth == 2 else ""
        alts = [re.escape(ch) + here + emit(child, depth + 1) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        if "" in node:
            return "(?:" + "|".join(alts) + ")?"
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return emit(root, 1) or "(?!)"


def _union(table: dict[str, tuple[str, ...]], langs: frozenset[str]) -> set[str]:
    return {w for lang in langs for w in table.get(lang, ())}


def _particles(words: Iterable[str]) -> str:
    """Up to three lower-case name particles ("von der", "de la", "d'"), each before a word."""
    spaced = sorted(w for w in words if not w.endswith("'"))
    elided = sorted(w[:-1] for w in words if w.endswith("'"))
    alts = []
    if spaced:
        alts.append(rf"{trie(spaced)}[ \t]{{1,2}}+")
    if elided:
        alts.append(rf"{trie(elided)}[{APOS}]")
    return rf"(?:{'|'.join(alts)}){{0,3}}+" if alts else ""


@dataclass(frozen=True, slots=True)
class _Trigger:
    least: int  # capitalised words a name needs: 1 after a title or "ich heiße", 2 after "soy", a role
    score: float
    german: bool  # a German word: the next words may be nouns
    noun: bool  # "Frau", "Herr": also "woman", "lord"


@dataclass(frozen=True, slots=True)
class Rules:
    people: re.Pattern[str]  # a title, introduction or closing formula, then a name
    pairs: re.Pattern[str]  # a role or "je suis", then a two-word name
    gazetteer: re.Pattern[str]  # a given name, then a surname
    closings: frozenset[str]
    legal_after: re.Pattern[str]  # " GmbH", " S.p.A." after a name
    addresses: tuple[tuple[str, re.Pattern[str]], ...]  # (kind, pattern)
    street_prefix: frozenset[str]  # "Alte" before "Landstraße", "Van" before "Baerlestraat"
    triggers: dict[str, _Trigger]
    given: frozenset[str]
    particles: frozenset[str]  # lower case: "De Jong" after a title is a surname, not "De" the article
    stop: frozenset[str]
    suffixes: tuple[str, ...]
    ambiguous: frozenset[str]
    street_words: frozenset[str]  # capitalised street words of "es", "it", "pl"
    street_words_de: frozenset[str]  # "Straße" in "Berliner Straße"
    german: bool


@lru_cache(maxsize=64)
def rules_for(langs: frozenset[str]) -> Rules:
    """The patterns and word sets of a set of languages, built once per set."""
    german = "de" in langs
    triggers: dict[str, _Trigger] = {}
    # A word in several tables ("Dyrektor": a Polish title and role) takes the last: the title.
    for table, least, score in (
        (D.ROLES, 2, 0.85),
        (D.INTROS_TWO, 2, 0.85),
        (D.INTROS, 1, 0.9),
        (D.TITLES, 1, 0.9),
    ):
        for lang in sorted(langs):
            for word in _variants(table[lang]):
                old = triggers.get(word)
                is_german = (old is not None and old.german) or lang == "de"
                triggers[word] = _Trigger(least, score, is_german, is_german and word in _NOUN_TITLES)
    titles = _variants(_union(D.TITLES, langs))
    given = frozenset(_union(D.GIVEN_NAMES, langs))
    stop = (
        frozenset(_union(D.STOPWORDS, langs))
        | frozenset(triggers)
        | frozenset(t.rstrip(".") for t in triggers)  # "Sra" in "García y Sra. Martínez"
        | frozenset(w for w in D.LEGAL_FORMS if " " not in w)
    )
    particles = _particles(_union(D.PARTICLES, langs))
    name = rf"{particles}{_WORD}"
    legal = rf"[ \t]{{1,3}}+(?:&[ \t]{{0,2}}+)?{trie(D.LEGAL_FORMS)}{_END}"
    closings = frozenset(_variants(_union(D.CLOSINGS, langs)))
    not_title = (
        rf"{trie(t for t in titles if not t.endswith('.'))}{_END}"
        rf"|{trie(t[:-1] for t in titles if t.endswith('.'))}\."
    )
    # A title, "ich heiße" or a closing formula, then the name.
    ones = {w for w, t in triggers.items() if t.least == 1}
    people = re.compile(
        rf"(?P<word>{trie(ones | closings, _GUARD)}){_END}"
        # A closing formula ends its line; a signature is the whole next line (one blank line
        # allowed before it).
        rf"(?:[ \t]{{0,3}}+[,.!]?[ \t]{{0,3}}+\r?\n(?:[ \t]{{0,3}}+\r?\n)?[ \t]{{0,3}}+"
        rf"(?P<line>{name}(?:[ \t]{{1,2}}+{name}){{1,2}}+)[ \t]{{0,3}}+(?![^\r\n])"
        rf"|(?P<colon>[ \t]{{0,3}}+:)?[ \t]{{1,3}}+"
        # More titles ("Frau Prof. Dr. Schmidt"), read possessively: on "Dr. Dr. Dr. ..." one match
        # covers five and fails in Python (the titles are stop words), instead of five matches.
        rf"(?P<chain>(?:{trie(titles)}{_END}[ \t]{{1,3}}+){{0,8}}+)"
        # The name is optional for the same reason: runs of triggers ("Herr Herr Herr ...") are
        # consumed by one match that Python rejects, instead of being read again from each. Never
        # before a legal form ("Hans Müller GmbH").
        # A title ends the name ("Herr Aa Herr Bb" is two names): one word, no cut in Python.
        rf"(?P<name>{name}(?:[ \t]{{1,2}}+(?!{not_title}){name}){{0,2}}+(?!{legal}))?)"
    )
    legal_after = re.compile(legal)
    # "je suis", "soy", a job role: a name of two or three words, or it is a description.
    pairs = re.compile(
        rf"(?P<word>{trie({w for w, t in triggers.items() if t.least == 2}, _GUARD)}){_END}"
        rf"(?:[ \t]{{0,3}}+:)?[ \t]{{1,3}}+(?P<name>{name}(?:[ \t]{{1,2}}+{name}){{1,2}}+)(?!{legal})"
    )
    # A known given name, then a surname ("Anna Schmidt", "Anna Maria Schmidt", "Jean-Luc Picard").
    # A second surname is never a given name: "Anna Aa Anna Aa" is two names, each read once.
    given_word = rf"{trie(given)}(?![\w{APOS}-])"
    gazetteer = re.compile(
        rf"{trie(given, _GUARD)}(?:-[{UP}][{LOW}]{{1,20}}+)?(?![\w{APOS}-])(?:[ \t]{{1,2}}+{given_word})?"
        rf"[ \t]{{1,2}}+(?P<name>{name}(?:[ \t]{{1,2}}+(?!{given_word}){name})?+)(?!{legal})"
    )

    units = _union(D.UNIT_WORDS, langs)
    marks = _union(D.UNIT_MARKS, langs)
    unit_alts = [rf"{trie(units)}{_END}[ \t]{{0,2}}+[\dA-Za-z]{{1,4}}+(?!\w)"] if units else []
    unit_alts += [rf"{trie(marks)}{_END}"] if marks else []
    if langs & {"es", "it"}:
        unit_alts.append(r"\d{1,2}[\u00ba\u00aa\u00b0](?:[ \t]?[A-Za-z](?!\w))?")  # "3º B"
    if german:
        unit_alts.append(r"\d{1,2}\.[ \t]?(?:OG|Stock|Etage|Obergeschoss)(?!\w)")
    unit = rf"(?:(?:[ \t]{{0,3}}+,)?[ \t]{{1,3}}+(?:{'|'.join(unit_alts)})){{0,3}}+"
    postcodes = "|".join(sorted({_POSTCODES[lang] for lang in langs}))
    prefixes = trie(D.CITY_PREFIXES)
    city = (
        rf"(?:{prefixes}[ \t]{{1,2}}+)?(?:{_CITY_WORD}|{_CAPS_CITY})"
        rf"(?:[ \t]{{1,2}}+{trie(D.CITY_LINKS)}[ \t]{{1,2}}+{_CITY_WORD})?"
        rf"(?:[ \t]{{1,2}}+\((?:[A-Z]{{2}}|{_CITY_WORD})\))?"
        rf"(?:[ \t]{{1,2}}+(?:CEDEX|Cedex)(?:[ \t]{{1,2}}+\d{{1,2}}(?!\w))?)?"
    )
    tail = rf"{unit}(?P<postal>{_POSTAL_SEP}{_COUNTRY_PREFIX}(?:{postcodes})(?!\w)[ \t]{{1,3}}+{city})?"

    addresses: list[tuple[str, re.Pattern[str]]] = []
    suffixes = tuple(sorted(_union(D.STREET_SUFFIXES, langs), key=len, reverse=True))
    if suffixes:  # "Hauptstraße 5", "Karl-Marx-Str. 12", "Keizersgracht 123-2", "Berliner Straße 5a"
        # Found from the gap before the number: a space with a digit after it and a street type
        # before it (fixed-width look-behinds). The engine rejects almost every space in one step,
        # so capitalised words, which German text is full of, cost nothing; the word itself is read
        # backwards in Python, only for the matches.
        ends = [*suffixes, *(D.STREET_WORDS_DE if german else ())]
        by_length: dict[int, list[str]] = {}
        for e in sorted(set(ends)):
            by_length.setdefault(len(e), []).append(rf"[{e[0].lower()}{e[0].upper()}]{re.escape(e[1:])}")
        # One look-behind per length (alternatives of one width), after a one-character filter
        # on the last letter: most candidates are rejected in a step or two.
        last = "".join(sorted({re.escape(e[-1]) for e in ends}))
        behind = (
            rf"(?<=[{last}][ \t])(?:"
            + "|".join(
                rf"(?<=(?:{'|'.join(alts)})[ \t])" for _, alts in sorted(by_length.items(), reverse=True)
            )
            + ")"
        )
        addresses.append(
            (
                "compound",
                re.compile(
                    rf"[ \t](?=[ \t]{{0,2}}+(?:Nr\.[ \t]{{0,2}}+)?\d)(?<=[{LOW}.][ \t])(?:{behind})"
                    rf"[ \t]{{0,2}}+(?:Nr\.[ \t]{{0,2}}+)?(?P<num>{_NUM}){tail}"
                ),
            )
        )
    prep_words = {p.split()[0] for p in D.STREET_PREPOSITIONS_DE}  # not a name: "Am Am Am ..." fails at once
    if german:  # "Am Markt 3", "An der Alster 7", "Unter den Linden 77"
        addresses.append(
            (
                "prep",
                re.compile(
                    rf"(?P<prep>{trie(D.STREET_PREPOSITIONS_DE, _GUARD)})[ \t]{{1,2}}+"
                    rf"(?!{trie(prep_words)}[ \t])"
                    rf"(?P<pname>{_PLAIN}(?:[ \t]{{1,2}}+{_PLAIN})?+)[ \t]{{1,3}}+"
                    rf"(?P<num>\d{{1,3}}+[a-zA-Z]?(?:[-/]\d{{1,3}}+[a-zA-Z]?)?(?!\w|[.,]\d)){tail}"
                ),
            )
        )
    if "fr" in langs:  # "12 bis rue de la Paix, 75002 Paris"
        fr_particles = _particles(
            ("de", "du", "des", "la", "le", "les", "aux", "au", "sur", "en", "et", "d'", "l'")
        )
        fr_word = rf"{fr_particles}{_PLAIN}"
        addresses.append(
            (
                "fr",
                re.compile(
                    # (?=...): most digits are not followed by a word; the rest need not be tried.
                    rf"(?P<num>\d(?<![\w.,/-]\d)\d{{0,3}}+(?=[ \t]{{0,3}}+[,a-zA-Z])"
                    rf"(?:[ \t]?(?:bis|ter|quater|[A-D])(?!\w))?)"
                    rf"(?!\w|[.,]\d),?[ \t]{{1,3}}+"
                    rf"(?P<sw>{trie(_variants(D.STREET_WORDS['fr']))}){_END}[ \t]{{1,3}}+"
                    rf"(?P<sname>{fr_word}(?:[ \t]{{1,2}}+{fr_word}){{0,4}}+){tail}"
                ),
            )
        )
    first = langs & {"es", "it", "pl"}
    if first:  # "Calle Mayor 5, 3º B", "Via Roma 10, 00184 Roma (RM)", "ul. Długa 10/12 m. 5"
        street_particles = {
            "es": ("de", "del", "la", "las", "los", "el", "y"),
            "it": ("di", "de", "del", "della", "dei", "degli", "delle", "dello", "d'"),
            "pl": ("gen.", "ks.", "św.", "im.", "marsz.", "prof.", "dr", "kard.", "bp.", "płk.", "al."),
        }
        words = [w for lang in sorted(first) for w in street_particles[lang]]
        # A plain capitalised run (cheaper than `_WORD`); weekdays and months are checked after.
        sn_word = rf"{_particles(words)}{_PLAIN}"
        numero = r"(?:n\.?[\u00ba\u00b0o]|N\.?[\u00ba\u00b0]|n\.|nr\.?|núm\.|num\.|no\.)[ \t]{0,2}+"
        addresses.append(
            (
                "first",
                re.compile(
                    rf"(?P<sw>{trie(_variants(_union(D.STREET_WORDS, first)), _GUARD)}){_END}[ \t]{{0,3}}+"
                    rf"(?P<sname>{sn_word}(?:[ \t]{{1,2}}+{sn_word}){{0,4}}+)"
                    # The number is optional, as the name in `people`: "Via Via Via ..." is one match.
                    rf"(?:(?:[ \t]{{0,3}}+,)?[ \t]{{0,3}}+(?:{numero})?(?P<num>{_NUM}){tail})?"
                ),
            )
        )
    street_prefix = frozenset(
        ([*D.STREET_ADJECTIVES_DE] if german else []) + ([*D.STREET_PREFIXES_NL] if "nl" in langs else [])
    )
    return Rules(
        people=people,
        pairs=pairs,
        gazetteer=gazetteer,
        closings=closings,
        legal_after=legal_after,
        addresses=tuple(addresses),
        street_prefix=street_prefix,
        triggers=triggers,
        given=given,
        particles=frozenset(p.lower() for p in _union(D.PARTICLES, langs)),
        stop=stop,
        suffixes=suffixes,
        ambiguous=frozenset(_union(D.AMBIGUOUS_STREET_WORDS, langs)),
        street_words_de=frozenset(D.STREET_WORDS_DE if german else ()),
        street_words=frozenset(w for w in _variants(_union(D.STREET_WORDS, langs)) if w[0].isupper()),
        german=german,
    )
