"""Recognise live vaccines the chart does not code in CVX: by NDC or by name.

The checks read vaccines by CVX. A CVX code sent under another system URI (the OID of HL7 v2 table
0292, as C-CDA writes it) is read as CVX. An Immunization coded only by NDC gets the CVX the CDC's
NDC-to-CVX crosswalk gives it; one recorded as text only ("M-M-R II") gets the CVX of the curated
live-vaccine name it contains. All are data (`knowledge/vaccine-recognition.yaml`), and the fact
says how it was recognised so that the card can tell the clinician.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from cds.fhir.codings import CVX, NDC, equivalent_codes, ndc_forms
from cds.fhir.selection import code_pairs, concept_text
from cds.knowledge import Knowledge
from cds.knowledge.models import CptRow, NdcRow, TextName, VaccineRouteRule
from cds.patient import Code, ImmunizationFact

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_NOT_WORD_ANY_CASE = re.compile(r"[^A-Za-z0-9]+")


def as_words(text: str) -> str:
    """`text` as space-separated lower-case words, with a space at each end (whole-word `in`)."""
    return " " + words_of(text).strip() + " "


def cased_words(text: str) -> str:
    """`as_words` keeping the case: for the abbreviations matched in capitals only ("VAR")."""
    return " " + _NOT_WORD_ANY_CASE.sub(" ", text).strip() + " "


def words_of(text: str) -> str:
    """`text` in lower case with every run of other characters than letters and digits made one
    space. The fast path looks for names in this form too (`cds.fast_path`): a name it missed
    that this module finds ("Yellow-Fever", "zoster,  live") would be a silent all-clear."""
    return _NOT_WORD.sub(" ", text.lower())


@dataclasses.dataclass(frozen=True)
class _Recognition:
    """The knowledge's crosswalk and curated names, normalised once per Knowledge: `by_text` runs
    for every draft order of every call, and normalising ~60 names each time cost ~0.3 ms."""

    knowledge: Knowledge
    crosswalk: dict[str, NdcRow]  # 11-digit NDC -> crosswalk row
    products: tuple[str, ...]  # `as_words` of the exclusions naming a product not live
    tests: tuple[str, ...]  # `as_words` of the exclusions naming a test ("titer", "igg")
    statuses: tuple[str, ...]  # `as_words` of the immunity statuses ("immune", "non-immune")
    shot_words: tuple[str, ...]  # `as_words` of the words naming a shot, the live brands and words
    answered_no: tuple[str, ...]  # `as_words` of the answers "no" ("Zostavax? no")
    separators: re.Pattern[str]  # the text's part separators, captured (`re.split` keeps them)
    qualifiers: tuple[str, ...]  # `as_words` of the exclusions qualifying the part before them
    # (longest first)
    list_separators: frozenset[str]  # a list's separators ("and", "&"), stripped, lower case
    test_words: tuple[str, ...]  # `as_words` of the words of a test qualifying a whole list
    test_masks: tuple[str, ...]  # `as_words` of the exclusions holding one ("immune globulin")
    live_words: tuple[str, ...]  # `as_words` of the words saying a vaccine is live
    live_brands: tuple[str, ...]  # `as_words` of the live brands (a part naming one is live)
    not_live_words: tuple[str, ...]  # `as_words` of their negations ("not live")
    names: tuple[tuple[str, TextName], ...]  # (`as_words` of the name, the name)
    # CVX codes that name no vaccine (999) or no formulation (88 influenza): NDC, CPT, text and
    # route decide
    uninformative: frozenset[str]
    uninformative_displays: re.Pattern[str]  # their displays as written (any case, punctuation)
    unspecified: frozenset[str]  # those naming a vaccine but no formulation (88)
    cvx_aliases: frozenset[str]  # other system URIs under which CVX codes are sent
    vaccine_codes: frozenset[Code]  # the CVX codes of the live-vaccine code lists
    cpt: dict[str, CptRow]  # CPT code -> crosswalk row
    cpt_system: str
    routes: tuple[VaccineRouteRule, ...]
    route_words: tuple[tuple[str, ...], ...]  # `as_words` of each rule's route words
    no_vaccine: frozenset[str]  # CVX codes saying nothing was given (998)
    # any of `names` at all (one C-level search: nearly every text names none of them)
    any_name: re.Pattern[str]
    any_cased_name: re.Pattern[str]
    given_words: tuple[str, ...]  # `as_words` of the words saying a shot was given
    not_given: tuple[tuple[str, ...], ...]  # the words saying it was not (longest first)
    asked_no: re.Pattern[str]  # a question of giving answered no ("given: no"), as written
    negations: frozenset[str]  # words negating a refusal right after them ("not declined")
    lifted: tuple[tuple[str, ...], ...]  # words lifting a refusal before them ("withdrawn")
    other_products: tuple[tuple[str, ...], ...]  # names of products not live (and exclusions)
    administration_words: tuple[str, ...]  # `as_words`: a shot beside a test, remarks too
    vaccine_words: tuple[str, ...]  # `as_words`: a shot beside a test outside a remark (+ brands)
    results: tuple[str, ...]  # `as_words` of test results: a test beside a shot word only
    # a part's head ends at the first of these: a product named after it is another one
    conjunctions: re.Pattern[str]
    remark_words: tuple[str, ...]  # `as_words`: a remark holding one says more than a product
    nonimmune_words: tuple[str, ...]  # `as_words`: a status remark holding one is a reason
    # those of `conjunctions` after which a product was not given ("instead of"), `words_of`
    replaced_by: frozenset[str]

    @classmethod
    def of(cls, knowledge: Knowledge) -> _Recognition:
        found = _RECOGNITIONS.get(id(knowledge))
        if found is None or found.knowledge is not knowledge:
            settings = knowledge.vaccine_recognition
            uninformative = [*settings.uninformative_cvx, *settings.unspecified_formulation_cvx]
            statuses = {as_words(status) for status in settings.text_status_exclusions}
            test_words = {as_words(word) for word in settings.text_test_words} - statuses
            excluded = [as_words(excluded) for excluded in settings.text_exclusions]
            found = _RECOGNITIONS[id(knowledge)] = cls(
                knowledge,
                {form: row for row in settings.ndc_to_cvx for form in ndc_forms(row.ndc)},
                tuple(e for e in excluded if e not in statuses and e not in test_words),
                tuple(e for e in excluded if e in test_words),
                tuple(sorted(statuses)),
                tuple(
                    as_words(word)
                    for word in (
                        *settings.text_shot_words,
                        *settings.text_live_brands,
                        *settings.text_live_words,
                    )
                ),
                tuple(as_words(word) for word in settings.text_answered_no),
                re.compile(
                    "(" + (_any_of(settings.text_part_separators).pattern) + ")", re.IGNORECASE
                ),
                tuple(  # longest first: "non-immune" before "immune"
                    sorted(
                        map(as_words, settings.text_qualifying_exclusions), key=len, reverse=True
                    )
                ),
                frozenset(word.strip().lower() for word in settings.text_list_separators),
                tests := tuple(as_words(word) for word in settings.text_test_words),
                tuple(
                    masked
                    for excluded in settings.text_exclusions
                    if (masked := as_words(excluded)) not in tests
                    and any(word in masked for word in tests)
                ),
                tuple(as_words(word) for word in settings.text_live_words),
                tuple(as_words(brand) for brand in settings.text_live_brands),
                tuple(as_words(word) for word in settings.text_not_live_words),
                tuple(
                    (cased_words(name.text) if name.case_sensitive else as_words(name.text), name)
                    for name in settings.text_names
                ),
                frozenset(row.code for row in uninformative),
                _any_written(row.display for row in uninformative),
                frozenset(row.code for row in settings.unspecified_formulation_cvx),
                frozenset(alias.system for alias in settings.cvx_system_aliases),
                knowledge.codes_of("live_vaccines")
                | knowledge.codes_of("live_nonreplicating_vaccines"),
                {row.cpt: row for row in settings.cpt_to_cvx},
                settings.cpt_system,
                tuple(settings.route_rules),
                tuple(
                    tuple(as_words(word) for word in rule.route_words)
                    for rule in settings.route_rules
                ),
                frozenset(settings.no_vaccine_cvx),
                _any_of(as_words(n.text) for n in settings.text_names if not n.case_sensitive),
                _any_of(cased_words(n.text) for n in settings.text_names if n.case_sensitive),
                tuple(as_words(word) for word in settings.text_given_words),
                _token_phrases(settings.text_not_given_words),
                _asked_no(settings.text_not_given_questions, settings.text_not_given_answers),
                frozenset(words_of(word).strip() for word in settings.text_not_given_negations),
                _token_phrases(settings.text_not_given_lifted),
                _token_phrases(
                    [*settings.text_other_products, *excluded_products(settings, statuses)]
                ),
                tuple(as_words(word) for word in settings.text_administration_words),
                tuple(
                    as_words(word)
                    for word in (*settings.text_vaccine_words, *settings.text_live_brands)
                ),
                tuple(as_words(word) for word in settings.text_test_result_words),
                re.compile(
                    r"(?<![A-Za-z0-9])(?:"
                    + "|".join(
                        r"\s+".join(map(re.escape, words.split()))
                        for word in settings.text_product_conjunctions
                        if (words := words_of(word).strip())
                    )
                    + r")(?![A-Za-z0-9])"
                    if settings.text_product_conjunctions
                    else "(?!)",
                    re.IGNORECASE,
                ),
                tuple(as_words(word) for word in settings.text_remark_words),
                tuple(as_words(word) for word in settings.text_nonimmune_words),
                frozenset(words_of(word).strip() for word in settings.text_replacing_conjunctions),
            )
        return found


def _asked_no(questions: Iterable[str], answers: Iterable[str]) -> re.Pattern[str]:
    """A pattern finding a question of `questions` answered with one of `answers`, as written:
    "given? no", "Administered: No", "Given? N" (never "given no reaction"; what follows the
    answer is read by `_unasked`)."""
    asked, answered = list(questions), list(answers)
    if not asked or not answered:
        return re.compile("(?!)")
    return re.compile(
        r"(?<![A-Za-z0-9])(?:"
        + "|".join(map(re.escape, asked))
        + r")(?:\s*\?+[\s:–-]*|\s*:\s*)(?:"
        + "|".join(map(re.escape, answered))
        + r")(?![A-Za-z0-9])",
        re.IGNORECASE,
    )


def _token_phrases(texts: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """Each of `texts` as its words (`words_of`), longest first."""
    phrases = {tuple(words_of(text).split()) for text in texts}
    return tuple(sorted((p for p in phrases if p), key=len, reverse=True))


def excluded_products(settings: Any, statuses: set[str]) -> list[str]:
    """The exclusions naming a product not live (not a test nor an immunity status)."""
    tests = {as_words(word) for word in settings.text_test_words}
    return [
        excluded
        for excluded in settings.text_exclusions
        if as_words(excluded) not in statuses and as_words(excluded) not in tests
    ]


def _any_of(texts: Iterable[str]) -> re.Pattern[str]:
    """A pattern finding any of `texts` as written (none: a pattern that never matches)."""
    return re.compile("|".join(map(re.escape, texts)) or "(?!)")


def _any_written(texts: Iterable[str]) -> re.Pattern[str]:
    """A pattern finding any of `texts` as whole words, in any case and with any punctuation or
    spacing between the words ("Unknown vaccine or immune-globulin")."""
    words = [as_words(text).split() for text in texts]
    return re.compile(
        "|".join(
            r"(?<![A-Za-z0-9])" + "[^A-Za-z0-9]+".join(map(re.escape, w)) + r"(?![A-Za-z0-9])"
            for w in words
            if w
        )
        or "(?!)",
        re.IGNORECASE,
    )


_RECOGNITIONS: dict[int, _Recognition] = {}


def as_cvx(codes: frozenset[Code], knowledge: Knowledge) -> frozenset[Code]:
    """`codes` with each code sent under another system URI for CVX (its HL7 v2 table 0292 OID)
    also under the CVX system, in the forms the knowledge lists ("3" is "03")."""
    aliases = _Recognition.of(knowledge).cvx_aliases
    return codes | {
        (CVX, form)
        for system, code in codes
        if system in aliases
        for form in equivalent_codes(CVX, code)
    }


def by_ndc(codes: frozenset[Code], knowledge: Knowledge) -> NdcRow | None:
    crosswalk = _Recognition.of(knowledge).crosswalk
    return next(
        (crosswalk[code] for system, code in sorted(codes) if system == NDC and code in crosswalk),
        None,
    )


def by_text(text: str, knowledge: Knowledge, *, order: bool = False) -> TextName | None:
    """The first curated live-vaccine name `text` contains as whole words outside its excluded
    parts (`by_text_reading`); `order`: the text of an order (`_excluded`)."""
    return by_text_reading(text, knowledge, order=order)[0]


def by_text_reading(
    text: str, knowledge: Knowledge, *, order: bool = False
) -> tuple[TextName | None, bool]:
    """The first curated live-vaccine name `text` contains as whole words outside its excluded
    parts (`_excluded`): "MMR; IPV" names MMR, "zoster recombinant (Shingrix)" nothing; and
    whether every such name lies in a part naming a test beside a shot ("MMR booster for low
    rubella titer": `_test_reading`), so that whether it was given is to be confirmed. A name
    running into an excluded part ("measles, mumps and rubella titer") is excluded with it, and
    so is a shorter name inside it ("measles"); one running into an ambiguous part is
    ambiguous with it, and so is a shorter name inside it. The display of a CVX code that names
    no vaccine is not read. `order`: the text of an order, which is for a product (`_excluded`)."""
    recognition = _Recognition.of(knowledge)
    text = text[:LONGEST_TEXT_READ]
    if not (
        recognition.any_name.search(as_words(text))
        or recognition.any_cased_name.search(cased_words(text))
    ):
        return None, False
    pieces = _pieces(text, recognition)
    states = [
        _excluded(piece, recognition, order=order) if index % 2 == 0 else None
        for index, piece in enumerate(pieces)
    ]
    excluded = [state == "excluded" for state in states]
    ambiguous = [state == "ambiguous" for state in states]
    lower_words, cased_words_ = (
        [as_words(piece) for piece in pieces],
        [cased_words(piece) for piece in pieces],
    )
    lower, cased = _joined(lower_words, excluded), _joined(cased_words_, excluded)
    lower_doubt, cased_doubt = (
        _joined(lower_words, ambiguous)[1],
        _joined(cased_words_, ambiguous)[1],
    )
    found = [
        (name, span)
        for normalised, name in recognition.names
        for span in _spans(normalised, (cased if name.case_sensitive else lower)[0])
    ]

    def within(
        spans: list[tuple[int, int]], cased_spans: list[tuple[int, int]]
    ) -> list[tuple[bool, tuple[int, int]]]:
        """The found names overlapping `spans` (of their case)."""
        return [
            (name.case_sensitive, span)
            for name, span in found
            if _overlaps(span, cased_spans if name.case_sensitive else spans)
        ]

    def inside(
        name: TextName, span: tuple[int, int], of: list[tuple[bool, tuple[int, int]]]
    ) -> bool:
        return any(
            case == name.case_sensitive and first <= span[0] and span[1] <= last
            for case, (first, last) in of
        )

    spoiled, doubted = within(lower[1], cased[1]), within(lower_doubt, cased_doubt)
    kept = [(name, span) for name, span in found if not inside(name, span, spoiled)]
    plain = next((name for name, span in kept if not inside(name, span, doubted)), None)
    if plain is not None:
        return plain, False
    return (kept[0][0], True) if kept else (None, False)


def _pieces(text: str, recognition: _Recognition) -> list[str]:
    """`text` without uninformative CVX displays, cut at its part separators: each part and
    separator in turn, parts at even indexes. The displays go
    first: "Varicella, IgG" beside "unknown vaccine or immune globulin" is one part. A part of
    qualifying exclusions and live words only joins the part before it ("zoster vaccine,
    recombinant", "Ebola Zaire vaccine, live, recombinant": one part each), and a list ending in
    a test joins into one part (`_tested_lists`: "MMR and varicella titers"). A part saying only
    that a shot was given ("dose 2 given") joins the part before it too: "Varicella titer
    negative, dose 2 given" gives the dose the titer led to (`_only_given`)."""
    split = recognition.separators.split(recognition.uninformative_displays.sub(" ", text))
    merged = [split[0]]
    for separator, part in zip(split[1::2], split[2::2], strict=True):
        if _only_qualifies(as_words(part), recognition) or _only_given(part, recognition):
            merged[-1] += separator + part
        else:
            merged += [separator, part]
    return _tested_lists(merged, recognition)


def _tested_lists(merged: list[str], recognition: _Recognition) -> list[str]:
    """`merged` (parts at even indexes, separators between) with each part naming a test joined
    to the parts before it that a list separator joins it to: "MMR and varicella titers" are
    titers of both, one part. A test word inside an exclusion ("immune globulin") names none, and
    a part naming the shot is never joined ("MMR vaccine and varicella IgG": MMR was given)."""
    joined = [merged[-1]]  # from the end: joined[-1] is the leftmost part so far
    for index in range(len(merged) - 2, 0, -2):
        separator, part = merged[index], merged[index - 1]
        if (
            separator.strip().lower() in recognition.list_separators
            and _names_test(as_words(joined[-1]), recognition)
            and not _names_shot(as_words(part), recognition)
        ):
            joined[-1] = part + separator + joined[-1]
        else:
            joined += [separator, part]
    return joined[::-1]


def _names_test(words: str, recognition: _Recognition) -> bool:
    """Whether a part (`as_words`) holds a test word outside the exclusions holding one."""
    for mask in recognition.test_masks:
        words = words.replace(mask, " ")
    return any(word in words for word in recognition.test_words)


def _only_qualifies(words: str, recognition: _Recognition) -> bool:
    """Whether a part (`as_words`) holds nothing but qualifying exclusions and live words."""
    for phrase in (*recognition.not_live_words, *recognition.qualifiers, *recognition.live_words):
        while phrase in words:
            words = words.replace(phrase, " ")
    return not words.strip()


def _names_shot(words: str, recognition: _Recognition) -> bool:
    """Whether a part (`as_words`) names a shot: "vaccine", "given", "non-immune" (the reason for
    one), a live brand or "live" (`text_shot_words`, `text_live_brands`, `text_live_words`)."""
    return any(word in words for word in recognition.shot_words)


def _excluded(part: str, recognition: _Recognition, *, order: bool = False) -> str | None:
    """Whether a part (as written) names no live vaccine given ("excluded"), or one that may be
    a test or a shot ("ambiguous", `_test_reading`: "MMR booster for low rubella titer"). It
    names none when it names a test and no shot ("MMR titers"; "Varicella titer (Varivax series
    complete)"); a product not live ("immune globulin", "recombinant"), unless it says its
    vaccine is "live" and not "not live" ("Ebola Zaire vaccine, live, recombinant") or names a
    live brand ("M-M-R II (contains recombinant human albumin)"); an immunity status on its own
    ("Rubella - immune", not "MMR vaccine (immunity booster)": `_names_shot`); or a live name
    answered "no" at its end ("Zostavax? no"). A product counts in the part's head only
    (`_names_product`). The text of an `order` is for a product: a test only in a remark beside a
    live name outside it does not exclude it ("MMR (titer negative)"); an immunity status does,
    as in a record, unless it is the shot's reason (`_reasoned_status`: "MMR (immunity unknown)";
    red team rt16/a: "Measles immunity panel", "Varicella immunity status" ordered were live)."""
    reading = _test_reading(part, recognition)
    if reading == "test" and not (order and _remarked_only(part, recognition)):
        return "excluded"
    if _names_no_live_vaccine(part, recognition, order=order):
        return "excluded"
    return reading


def _names_live(text: str, recognition: _Recognition) -> bool:
    """Whether `text` (as written) names any live vaccine of `text_names`."""
    return bool(
        recognition.any_name.search(as_words(text))
        or recognition.any_cased_name.search(cased_words(text))
    )


def _remarked_only(part: str, recognition: _Recognition) -> bool:
    """Whether a part's test words all lie in remarks in brackets, a live name outside them."""
    outside = _REMARK.sub(" ", part)
    return not any(test in as_words(outside) for test in recognition.tests) and _names_live(
        outside, recognition
    )


def _says_live(words: str, recognition: _Recognition) -> bool:
    return any(
        word in words for word in (*recognition.live_words, *recognition.live_brands)
    ) and not any(negation in words for negation in recognition.not_live_words)


def _names_product(part: str, recognition: _Recognition) -> bool:
    """Whether a part names a product not live, not saying it is live, in its head: before the
    first of `text_product_conjunctions` ("MMR with IPV", "Varicella vaccine given instead of
    Shingrix": another product) and outside remarks in brackets holding one of
    `text_remark_words` ("Varicella vaccine (Shingrix unavailable)"). A part whose live names
    all lie in such remarks names none ("Flu shot (not FluMist)"), and so does one whose live
    names all follow one of `text_replacing_conjunctions` ("given instead of Zostavax"): then it
    is excluded as a product's."""
    words = as_words(part)
    conjunction = recognition.conjunctions.search(part)
    head = part[: conjunction.start()] if conjunction else part
    said = [
        r for r in _REMARK.findall(head) if any(w in as_words(r) for w in recognition.remark_words)
    ]
    if head == part and not said:
        return not _says_live(words, recognition) and any(
            product in words for product in recognition.products
        )
    for remark in said:
        head = head.replace(remark, " ")
    head_words = as_words(head)
    if any(product in head_words for product in recognition.products):
        return not _says_live(head_words, recognition)
    if _names_live(head, recognition):
        return False
    if bool(said) and _names_live("".join(said), recognition):
        return True
    return (
        conjunction is not None
        and " ".join(words_of(conjunction.group(0)).split()) in recognition.replaced_by
        and _names_live(part[conjunction.end() :], recognition)
    )


def _reasoned_status(part: str, recognition: _Recognition) -> bool:
    """Whether a part's immunity statuses all lie in remarks in brackets saying the patient is
    not (known to be) immune (`text_nonimmune_words`), a live name outside them: the shot's
    reason ("MMR (immunity unknown)", not "Rubella (immune)")."""
    outside = _REMARK.sub(" ", part)
    if any(status in as_words(outside) for status in recognition.statuses):
        return False
    remarks = as_words(" ".join(_REMARK.findall(part)))
    return any(word in remarks for word in recognition.nonimmune_words) and _names_live(
        outside, recognition
    )


def _names_no_live_vaccine(part: str, recognition: _Recognition, *, order: bool = False) -> bool:
    """`_excluded` but for tests: a product not live, a status alone, a live name answered no."""
    words, cased = as_words(part), cased_words(part)
    if _names_product(part, recognition):
        return True
    if (
        any(status in words for status in recognition.statuses)
        and not _names_shot(words, recognition)
        and not _reasoned_status(part, recognition)
    ):
        return True
    return any(
        words.endswith(no)
        and (cased if name.case_sensitive else words)[: 1 - len(no)].endswith(normalised)
        for no in recognition.answered_no
        for normalised, name in recognition.names
    )


_REMARK = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")  # a remark in brackets
_DOSE_NUMBER = re.compile(r"#\s*\d|\bdose\s*\d", re.IGNORECASE)  # "MMR #2", "dose 2"


def _remarked_test(part: str, recognition: _Recognition) -> bool:
    """Whether a part's test words all lie in a remark in brackets, beside a shot named outside
    them (a dose number, `text_shot_words`, a live brand): "MMR #2 (titer negative)" is the dose
    the titer led to (red team 10b), "Yellow fever (titer)" and "Varicella titer (Varivax series
    complete)" are tests."""
    outside = _REMARK.sub(" ", part)
    words = as_words(outside)
    if any(test in words for test in recognition.tests):
        return False
    return bool(_DOSE_NUMBER.search(outside)) or _names_shot(words, recognition)


def _unrefused_words(text: str, recognition: _Recognition) -> str:
    """`as_words` of `text` without what says a shot was not given ("not given", "given? no")."""
    words = " " + " ".join(_plain_tokens(text, recognition)) + " "
    return words if words.strip() else " "


def _unasked(text: str, recognition: _Recognition, replacement: str) -> str:
    """`text` with each question of giving answered no (`_asked_no`) made `replacement`, when
    the answer ends its part (the text ends, or a separator or a bracket follows) or a vaccine
    name follows it (a code's display after the text): "Varicella vaccine given: no", not
    "Varivax given: no reaction"."""

    def answered(found: re.Match[str]) -> str:
        rest = found.string[found.end() : found.end() + 120]  # a name is shorter
        words = as_words(rest)
        if _ENDS_PART.match(rest) or any(
            words.startswith(normalised)
            for normalised, name in recognition.names
            if not name.case_sensitive
        ):
            return replacement
        return found.group(0)

    return recognition.asked_no.sub(answered, text)


_ENDS_PART = re.compile(r"\s*(?:$|[;,.)\]/+&:?!]|[-–]\s)")


def _plain_tokens(text: str, recognition: _Recognition) -> list[str]:
    tokens = words_of(_unasked(text, recognition, " ")).split()
    for phrase in recognition.not_given:
        for at in reversed(_find(tokens, phrase)):
            tokens[at : at + len(phrase)] = []
    return tokens


def _says_shot(text: str, recognition: _Recognition, *, outside: bool) -> bool:
    """Whether `text` (as written: a part outside its remarks, or its remarks) says a shot: an
    administration word not negated nor asked ("2 doses given", not "not given"), a dose number
    ("#2", "dose 2"), and outside a remark a vaccine word or a live brand."""
    if _DOSE_NUMBER.search(text):
        return True
    words = _unrefused_words(text, recognition)
    said = (*recognition.administration_words, *(recognition.vaccine_words if outside else ()))
    return any(word in words for word in said)


def _test_reading(part: str, recognition: _Recognition) -> str | None:
    """A part (as written) naming a test and no shot: "test"; a test beside a shot: "ambiguous"
    (whether the live vaccine was given is to be confirmed); else None. A test word outside a
    remark in brackets with a shot word outside it ("MMR booster for low rubella titer", "Rubella
    titer #2") or an administration word in the remark ("MMR IgG (2 doses given in childhood)")
    is ambiguous; with only a vaccine or a brand named in the remark it is a test ("Varicella
    titer (Varivax series complete)"). A test only in a remark beside a shot named outside it is
    the shot's reason (`_remarked_test`: "MMR #2 (titer negative)"), else a test ("Yellow fever
    (titer)"). A result word ("negative") counts as a test beside a shot word only ("Varivax to
    be given if negative")."""
    words = as_words(part)
    if not any(test in words for test in recognition.tests):
        outside = _REMARK.sub(" ", part)
        if any(result in as_words(outside) for result in recognition.results) and _says_shot(
            outside, recognition, outside=True
        ):
            return "ambiguous"
        return None
    if _remarked_test(part, recognition):
        return None
    outside = _REMARK.sub(" ", part)
    if not any(test in as_words(outside) for test in recognition.tests):
        return "test"  # a test in a remark, no shot outside: "Yellow fever (titer)"
    remarks = " ".join(_REMARK.findall(part))
    if _says_shot(outside, recognition, outside=True) or _says_shot(
        remarks, recognition, outside=False
    ):
        return "ambiguous"
    return "test"


def _only_given(part: str, recognition: _Recognition) -> bool:
    """Whether a part (as written) holds nothing but administration words and a dose number
    ("dose 2 given", "given"): it says of the shot of the part before it that it was given."""
    words = as_words(_DOSE_NUMBER.sub(" ", part))
    for word in (*recognition.given_words, *recognition.administration_words):
        words = words.replace(word, " ")
    return bool(part.strip()) and not words.strip() and _says_shot(part, recognition, outside=False)


BY_TEXT = "matched on the recorded text"  # how a vaccine named in text only was recognised
# A vaccination's words are read up to this many characters (a name and its few qualifiers fill
# far fewer; 150 records of 28,000 characters each took 80 s of CPU, red team 12), and quoted
# on a card up to LONGEST_TEXT_SHOWN.
LONGEST_TEXT_READ = 1000
LONGEST_TEXT_SHOWN = 200


def unconfirmed_reason(fact: ImmunizationFact, knowledge: Knowledge) -> str | None:
    """Why a live vaccine recorded as given (completed) may not have been: "not-given", its own
    part says so (`_refused`: "MMR: declined", "Varicella vaccine given: no"); "tested", it
    was named in text only, in a part naming a test beside a shot (`by_text_reading`: "MMR
    booster for low rubella titer"); None: nothing doubts the shot. A record coded with the live
    vaccine's code is never "tested"."""
    recognition = _Recognition.of(knowledge)
    if _refused(fact.text, recognition):
        return "not-given"
    if fact.recognised_by.startswith(BY_TEXT) and by_text_reading(fact.text, knowledge)[1]:
        return "tested"
    return None


_BRACKET = re.compile(r"[()\[\]]")
_DOSE_NUMBERS = re.compile(
    r"#\s*(\d+)|\bdose\s*#?\s*(\d+)|\b(\d+)\s*(?:st|nd|rd|th)\s+dose", re.IGNORECASE
)


@dataclasses.dataclass(frozen=True)
class _Named:
    """A name in a piece of a vaccination's words: its token span, and whose it is (("live",
    CVX) a live vaccine; ("other", words) a product not live or a test; None nobody's)."""

    start: int
    end: int
    owner: tuple[str, str]


def _refused(text: str, recognition: _Recognition) -> bool:
    """Whether the words of a vaccination (its text and displays) say that its live vaccine was
    not given: every live vaccine they name has a refusal of its own and no "given" (`_owners`);
    a text naming none (a coded record) is read whole. "MMR: declined", "FluMist declined, given
    IIV instead" are refused; "MMR; Tdap declined", "Varivax - patient refused Shingrix instead",
    "MMR - not declined", "MMR given after parent initially declined" are not."""
    text = _unasked(
        recognition.uninformative_displays.sub(" ", text[:LONGEST_TEXT_READ]),
        recognition,
        " not given ",
    )
    pieces = [
        piece
        for part in recognition.separators.split(text)[::2]
        for piece in _BRACKET.split(part)
        if piece.strip()
    ]
    named = [_names_in(piece, recognition) for piece in pieces]
    refusals: set[tuple[str, str] | None] = set()
    givens: set[tuple[str, str] | None] = set()
    for index, piece in enumerate(pieces):
        tokens = words_of(piece).split()
        said, given = _refusals_and_givens(tokens, recognition)
        for at in said:
            refusals.add(_owner(index, at, named, pieces))
        for at in given:
            givens.add(_owner(index, at, named, pieces))
    live = {name.owner for names in named for name in names if name.owner[0] == "live"}
    owners: set[tuple[str, str] | None] = set(live) if live else {None}
    return all(owner in refusals and owner not in givens for owner in owners)


def _names_in(piece: str, recognition: _Recognition) -> list[_Named]:
    """The live-vaccine names and other products a piece names, in order (a live name wins over
    a product inside it: "flu" in "nasal flu"); a live name in a test part is the test's."""
    lower, cased = words_of(piece).split(), cased_words(piece).split()
    present = set(lower) | set(cased)
    spans = [
        (at, at + len(words), name)
        for normalised, name in recognition.names
        if (words := tuple(normalised.split()))
        and words[0] in present
        and (not name.case_sensitive or len(cased) == len(lower))
        for at in _find(cased if name.case_sensitive else lower, words)
    ]
    tested = bool(spans) and _test_reading(piece, recognition) == "test"
    live = [
        _Named(start, end, ("other", "test") if tested else ("live", name.cvx))
        for start, end, name in spans
    ]
    others = [
        _Named(at, at + len(phrase), ("other", " ".join(phrase)))
        for phrase in recognition.other_products
        if phrase[0] in present
        for at in _find(lower, phrase)
        if not any(n.start < at + len(phrase) and at < n.end for n in live)
    ]
    return sorted([*live, *others], key=lambda n: (n.start, -n.end))


def _refusals_and_givens(
    tokens: list[str], recognition: _Recognition
) -> tuple[list[int], list[int]]:
    """Where a piece's words refuse (not negated: "not declined"; not lifted: "exemption
    withdrawn") and where they say given (not inside a refusal: "not given")."""
    taken = [False] * len(tokens)
    refusals = []
    # where the last lifting word starts: a refusal before it is lifted
    last_lift = max((at for lift in recognition.lifted for at in _find(tokens, lift)), default=-1)
    for phrase in recognition.not_given:
        for at in _find(tokens, phrase):
            if any(taken[at : at + len(phrase)]):
                continue
            taken[at : at + len(phrase)] = [True] * len(phrase)
            negated = phrase[0] != "not" and at > 0 and tokens[at - 1] in recognition.negations
            lifted = last_lift >= at + len(phrase)
            if not negated and not lifted:
                refusals.append(at)
    given_words = {word.strip() for word in recognition.given_words}
    givens = [at for at, token in enumerate(tokens) if token in given_words and not taken[at]]
    return refusals, givens


def _owner(
    index: int, at: int, named: list[list[_Named]], pieces: list[str]
) -> tuple[str, str] | None:
    """Whose a refusal or a "given" at token `at` of piece `index` is: the name before it in its
    piece; another dose's when its piece names other dose numbers than the named piece before
    it ("dose 2 - refused dose 1"); else the name after it in its piece; in a piece naming none,
    the last name of the pieces before, else the first name after; else nobody's (a text naming
    nothing)."""
    names = named[index]
    before = [name for name in names if name.start <= at]
    if before:
        return before[-1].owner
    earlier = next((e for e in range(index - 1, -1, -1) if named[e]), None)
    if earlier is not None:
        doses, theirs = _doses(pieces[index]), _doses(pieces[earlier])
        if doses and theirs and doses.isdisjoint(theirs):
            return ("other", "dose")
    if names:
        return names[0].owner
    if earlier is not None:
        return named[earlier][-1].owner
    later = next((names for names in named[index + 1 :] if names), None)
    return later[0].owner if later else None


def _doses(piece: str) -> set[str]:
    """The dose numbers a piece names ("#2", "dose 2", "2nd dose")."""
    return {
        number.lstrip("0")
        for found in _DOSE_NUMBERS.finditer(piece)
        for number in found.groups()
        if number
    }


def _find(tokens: list[str], phrase: tuple[str, ...]) -> list[int]:
    """Where `phrase` (words) starts in `tokens`."""
    size = len(phrase)
    return [at for at in range(len(tokens) - size + 1) if tuple(tokens[at : at + size]) == phrase]


def _joined(pieces: list[str], excluded: list[bool]) -> tuple[str, list[tuple[int, int]]]:
    """The pieces' words as one text of single-spaced words with a space at each end, and the
    spans the excluded pieces take in it."""
    text, spans = " ", []
    for words, left_out in zip(pieces, excluded, strict=True):
        words = " ".join(words.split())
        if words:
            if left_out:
                spans.append((len(text), len(text) + len(words)))
            text += words + " "
    return text, spans


def _spans(name: str, text: str) -> list[tuple[int, int]]:
    """Where `name` (words with a space at each end) is in `text`: its words' spans."""
    spans = []
    at = text.find(name)
    while at != -1:
        spans.append((at + 1, at + len(name) - 1))
        at = text.find(name, at + 1)
    return spans


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


def by_cpt(codes: frozenset[Code], knowledge: Knowledge) -> CptRow | None:
    """The live vaccine a CPT vaccine product code names (the CDC's CPT-to-CVX table)."""
    recognition = _Recognition.of(knowledge)
    return next(
        (
            recognition.cpt[code.strip()]
            for system, code in sorted(codes)
            if system.strip() == recognition.cpt_system and code.strip() in recognition.cpt
        ),
        None,
    )


def by_route(
    codes: frozenset[Code], route: frozenset[Code], knowledge: Knowledge, route_text: str = ""
) -> VaccineRouteRule | None:
    """The rule reading a CVX code of an unspecified formulation as its live form by the route
    it was given by (influenza, unspecified, given intranasally: live attenuated influenza): a
    route code of the rule, or one of its route words in the route as written (`route_text`:
    route.text and coding displays, "Intranasal")."""
    if not route and not route_text:
        return None
    recognition = _Recognition.of(knowledge)
    written = as_words(route_text)
    return next(
        (
            rule
            for rule, words in zip(recognition.routes, recognition.route_words, strict=True)
            if (CVX, rule.cvx) in codes
            and (
                any((r.system, r.code) in route for r in rule.routes)
                or any(word in written for word in words)
            )
        ),
        None,
    )


def _has_cvx(codes: frozenset[Code], knowledge: Knowledge) -> bool:
    """Whether a CVX code says which vaccine (999 "unknown" does not: then NDC and text count)."""
    uninformative = _Recognition.of(knowledge).uninformative
    return any(system == CVX and code not in uninformative for system, code in codes)


def _other_than_cvx(
    codes: frozenset[Code], text: str, knowledge: Knowledge, *, order: bool = False
) -> tuple[str, str] | None:
    """(CVX, how) of a live vaccine named by an NDC, a CPT code or the text (None: none; no
    text: by the codes only; `order`: the text of an order, `by_text`)."""
    row = by_ndc(codes, knowledge)
    if row is not None:
        return row.cvx, f"NDC {row.ndc} ({row.name}), mapped to CVX {row.cvx}"
    cpt = by_cpt(codes, knowledge)
    if cpt is not None:
        return cpt.cvx, f"CPT {cpt.cpt} ({cpt.name}), mapped to CVX {cpt.cvx}"
    name = by_text(text, knowledge, order=order) if text else None
    if name is not None:
        shown = text if len(text) <= LONGEST_TEXT_SHOWN else text[:LONGEST_TEXT_SHOWN] + "…"
        return name.cvx, f'{BY_TEXT} "{shown}"'
    return None


def _recognition(
    codes: frozenset[Code],
    text: str,
    knowledge: Knowledge,
    route: frozenset[Code],
    route_text: str = "",
    *,
    order: bool = False,
) -> tuple[frozenset[Code], str]:
    """`codes` (CVX aliases read as CVX) with the CVX code of a live vaccine recognised by route,
    NDC, CPT or name, and how it was recognised ("" when by a CVX code of the chart).

    A CVX code naming a live vaccine wins. A CVX code of a vaccine that is not live beside an
    NDC or CPT code naming a live one: the codes disagree, and (vaccine-recognition.yaml
    `disagreeing_codes_count_live`, the conservative default) the live one counts. Free text
    does not override a CVX code (Shingrix, CVX 187, typed "zoster live" stays Shingrix), unless
    it names no formulation (88 influenza, unspecified: `unspecified_formulation_cvx`): then the
    NDC, CPT, text and route decide, as with no CVX code. CVX 998 (no vaccine given) is never
    read as a live vaccine."""
    recognition = _Recognition.of(knowledge)
    codes = as_cvx(codes, knowledge)
    rule = by_route(codes, route, knowledge, route_text)
    if rule is not None:
        return codes | {(CVX, rule.as_cvx)}, (
            f"CVX {rule.cvx} given by the nasal route: {rule.name}, read as CVX {rule.as_cvx}"
        )
    if _has_cvx(codes, knowledge):
        if not codes.isdisjoint(recognition.vaccine_codes):
            return codes, ""
        if not knowledge.vaccine_recognition.disagreeing_codes_count_live or any(
            system == CVX and code in recognition.no_vaccine for system, code in codes
        ):
            return codes, ""
        found = _other_than_cvx(codes, "", knowledge)  # the text never overrides a CVX code
        if found is None:
            return codes, ""
        cvx, how = found
        written = ", ".join(sorted(code for system, code in codes if system == CVX))
        return codes | {(CVX, cvx)}, (
            f"{how}; its CVX code {written} names a vaccine that is "
            "not live: the codes disagree, counted as live"
        )
    found = _other_than_cvx(codes, text, knowledge, order=order)
    if found is None:
        return codes, ""
    cvx, how = found
    if how.startswith(BY_TEXT):
        unspecified = sorted(
            code for system, code in codes if system == CVX and code in recognition.unspecified
        )
        how += (
            f" (its CVX code {', '.join(unspecified)} names no formulation)"
            if unspecified
            else " (no code naming a vaccine)"
        )
    return codes | {(CVX, cvx)}, how


def recognised_codes(
    codes: frozenset[Code],
    text: str,
    knowledge: Knowledge,
    route: frozenset[Code] = frozenset(),
    route_text: str = "",
) -> frozenset[Code]:
    """`codes` with the CVX code of a live vaccine recognised by route, NDC, CPT or name: what an
    order for a vaccine (a MedicationRequest) is matched on (`_recognition`, its text read as
    an order's: `by_text`)."""
    return _recognition(codes, text, knowledge, route, route_text, order=True)[0]


def recognised(
    fact: ImmunizationFact,
    knowledge: Knowledge,
    route: frozenset[Code] = frozenset(),
    written: str | None = None,
    route_text: str = "",
) -> ImmunizationFact:
    """`fact` with the CVX code of a live vaccine recognised by route, NDC, CPT or name, and how
    (`_recognition`); `written`: its names as the chart wrote them (`concept_text`), when had;
    `route_text`: its route as written (`concept_text` of Immunization.route)."""
    codes, how = _recognition(fact.codes, written or fact.text, knowledge, route, route_text)
    if codes == fact.codes and not how:
        return fact
    return dataclasses.replace(fact, codes=codes, recognised_by=how or fact.recognised_by)


def worth_reading(raw: dict[str, Any], knowledge: Knowledge) -> bool:
    """On the raw JSON: might this Immunization be a live vaccine known by NDC, CPT, name or
    route, or by a CVX code under an alias (whitespace around the codes is not read)?"""
    concept = raw.get("vaccineCode")
    if not isinstance(concept, dict):
        return False
    codes = frozenset((system.strip(), code.strip()) for system, code in code_pairs(concept))
    codes = frozenset(
        (system, form) for system, code in codes for form in equivalent_codes(system, code)
    )
    route = frozenset(code_pairs(raw.get("route")))
    found = _recognition(
        codes, concept_text(concept), knowledge, route, concept_text(raw.get("route"))
    )[0]
    return not found.isdisjoint(_Recognition.of(knowledge).vaccine_codes)


# A dateTime written with a space for the "T" ("2026-02-24 10:00:00", as database exports write
# it), with or without a zone: read as its day (a whole day, as a FHIR date alone is).
_SPACED_TIME = re.compile(
    r"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])) +\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r" *(?:Z|[+-]\d{2}:?\d{2})?"
)


def tolerant(value: Any) -> Any:
    """`value` (JSON) with the format faults real feeds send and the vaccine check can read past:
    text around a string (a CVX code " 03") trimmed, an empty string ("text": "") taken as absent,
    and a dateTime written with a space read as its day. None when nothing is left."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        spaced = _SPACED_TIME.fullmatch(text)
        return spaced.group(1) if spaced else text
    if isinstance(value, list):
        items = [kept for item in value if (kept := tolerant(item)) is not None]
        return items or None
    if isinstance(value, dict):
        fields = {key: kept for key, item in value.items() if (kept := tolerant(item)) is not None}
        return fields or None
    return value


# What the live-vaccine check reads of an Immunization (`cds.fhir.read_models.Immunization`).
_IMMUNIZATION_READ = (
    "resourceType",
    "id",
    "status",
    "vaccineCode",
    "occurrenceDateTime",
    "occurrenceString",
)


def tolerant_immunization(raw: dict[str, Any]) -> dict[str, Any]:
    """The elements of an Immunization the check reads, read past format faults (`tolerant`). A
    date that still is no FHIR dateTime is kept as text (occurrenceString): a card says it could
    not be read."""
    kept = tolerant({k: raw[k] for k in _IMMUNIZATION_READ if k in raw}) or {}
    occurred = kept.get("occurrenceDateTime")
    if occurred is not None and not _is_fhir_datetime(occurred):
        kept.pop("occurrenceDateTime")
        kept.setdefault("occurrenceString", str(occurred))
    return kept


_FHIR_DATETIME = re.compile(
    r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)"
    r"(\.\d+)?)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))?)?)?)?"
)


def _is_fhir_datetime(value: Any) -> bool:
    """A FHIR dateTime, or one whose only fault is a missing UTC offset (read as its day by
    `cds.fhir.parsing`)."""
    return isinstance(value, str) and _FHIR_DATETIME.fullmatch(value) is not None


def unreadable_immunization(raw: dict[str, Any], knowledge: Knowledge) -> ImmunizationFact:
    """What can be told of an Immunization that may be a live vaccine and still cannot be read:
    its codes and names, its date as text, and its status ("" when it has none that can be read:
    the check then says the record could not be verified)."""
    kept = tolerant_immunization(raw)
    concept = kept.get("vaccineCode")
    concept = concept if isinstance(concept, dict) else {}
    codings = concept.get("coding")
    texts = [str(concept.get("text") or "")] + [
        str(c.get("display") or "")
        for c in (codings if isinstance(codings, list) else [])
        if isinstance(c, dict)
    ]
    status = kept.get("status")
    date_text = kept.get("occurrenceDateTime") or kept.get("occurrenceString")
    fact = ImmunizationFact(
        resource=f"Immunization/{raw.get('id', '?')}",
        codes=frozenset(code_pairs(concept)),
        when=None,
        status=status if status in _R4_STATUSES else "",
        text=" ".join(t for t in texts if t).lower(),
        date_text=str(date_text) if date_text is not None else None,
    )
    return recognised(
        fact,
        knowledge,
        frozenset(code_pairs(raw.get("route"))),
        concept_text(concept),
        concept_text(raw.get("route")),
    )


# Immunization.status in FHIR R4 (immunization-status): another value is no status.
_R4_STATUSES = frozenset({"completed", "entered-in-error", "not-done"})


def may_be_live_vaccine_order(raw: dict[str, Any], knowledge: Knowledge) -> bool:
    """On the raw JSON: might this MedicationRequest order a live vaccine (its medication's
    codes or names, or those of a contained Medication)?"""
    concepts: list[Any] = [raw.get("medicationCodeableConcept")]
    contained = raw.get("contained")
    for resource in contained if isinstance(contained, list) else []:
        if isinstance(resource, dict):
            concepts.append(resource.get("code"))
    return any(
        worth_reading({"vaccineCode": concept}, knowledge)
        for concept in concepts
        if isinstance(concept, dict)
    )


_ORDER_READ = (
    "resourceType",
    "id",
    "status",
    "intent",
    "medicationCodeableConcept",
    "subject",
    "authoredOn",
)


def tolerant_vaccine_orders(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Readings of a live-vaccine MedicationRequest that failed validation, best first: the whole
    order read past format faults (`tolerant`), then only what the live-vaccine check reads of
    it (its medication, status and date)."""
    whole = tolerant(raw) or {}
    least = {k: whole[k] for k in _ORDER_READ if k in whole}
    if not _is_fhir_datetime(least.get("authoredOn")):
        least.pop("authoredOn", None)
    least.setdefault("intent", "order")
    return [whole, least]
