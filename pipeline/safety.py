"""Offline content-safety gate: checks queries before NLU and lessons before speech.

It declines requests for harm (making weapons, explosives, poisons or drugs; violence
against people; sexual content), not science that sounds dangerous ("why does a gun
recoil", "how do nuclear reactors work", "what are suicide genes in apoptosis").
Self-harm is its own outcome: the student is pointed to a trusted adult and a crisis
line, and the school's counselling workflow is told (by the nlu stage, without the
student's words).

Text is folded before matching, so lookalikes do not slip through: NFKC (fullwidth
forms), Cyrillic and Greek homoglyphs, leetspeak inside words ("b0mb", "k!ll"), and
letters spaced or dotted apart ("b.o.m.b"). Messages name the category, never the
student's words. The labelled set in tests/data/safety_labelled.csv measures it.
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.lesson import Lesson
from pipeline.providers.protocols import SafetyVerdict
from pipeline.regex_factors import Prefilter, words_of
from pipeline.text import STOPWORDS

SELF_HARM = "self_harm"

SELF_HARM_MESSAGE = (
    "It sounds like you might be going through something really hard, and you deserve "
    "support. Please talk to a trusted adult today (a parent, a teacher or your school "
    "counsellor), or call or text 988 (the Suicide & Crisis Lifeline) at any time; if "
    "you are in danger right now, call 911."
)

# Lookalikes that NFKC leaves alone: Cyrillic and Greek letters drawn like Latin ones.
_HOMOGLYPHS = str.maketrans(
    {
        **dict(zip("аввсԁеёһіїјкӏмнорԛѕтуўхүʏɡ", "abbcdeehiijklmhopqstyyxyyg", strict=True)),
        **dict(zip("αβεηικμνορτυχωϲ", "abenikuvoptuxwc", strict=True)),
    }
)
# Leetspeak, applied only inside words that also have letters ("b0mb", not "1905").
_LEET = str.maketrans("013457@$!|+8", "oieastasiltb")
_LEET_WORD = re.compile(r"[a-z0-9@$!|+]*[a-z][a-z0-9@$!|+]*|[0-9@$!|+]+[a-z][a-z0-9@$!|+]*")
# "b.o.m.b", "b-o-m-b": three or more single letters, one separator between each;
# "b o m b": four or more.
_SPACED = re.compile(r"\b[a-z]([.\-_*])[a-z](?:\1[a-z])+\b|\b[a-z](?: [a-z]){3,}\b")
_SENTENCE_END = re.compile(r"([a-z0-9'\")\]])[.!?;:]+(?=\s|$)")
# In text written in leetspeak (two or more disguised words), short runs of digits are
# letters too: "70" is "to", "4" is "a".
_LEET_SHORT = re.compile(r"(?<![\w.])[0-9@$!|+]{1,3}(?![\w.])")

# Science senses of alarming words, removed before matching.
_SCIENCE = re.compile(
    r"\bsuicide (?:genes?|inhibit\w*|substrates?|enzymes?|bags?|mechanisms?|proteins?)"
    r"|\b(?:cell(?:ular)?|programmed|altruistic|cell-mediated) suicide\b"
    r"|\bsexual (?:reproduction|selection|dimorphism)\b"
    r"|\bkill (?:a|the) (?:process|task|job|thread)\b"
    r"|\bbomb (?:calorimet\w*|cyclones?)\b",
)
_SCIENCE_FILTER = Prefilter(_SCIENCE.pattern, STOPWORDS)

_ME = r"(?:myself|my self|me|my life|my wrists?|my arms?|my legs?)"
_PERSON = (
    r"(?:someone|somebody|some ?one|people|a person|anyone|everyone|him|her|them|"
    r"my (?:\w+ ){0,2}(?:teacher|classmate|roommate|brother|sister|mom|mum|dad|stepdad|"
    r"stepmom|friend|neighbou?r|boyfriend|girlfriend|ex|coach|principal|family|parents?|"
    r"grandma|grandpa|boss|cousin|uncle|aunt)|the (?:teacher|principal|coach)|"
    r"[a-z]+ after school|kids at school|students)\b"
)
_MAKE = (
    r"(?:make|making|made|build|building|assemble|assembling|construct|create|cook|cooking|"
    r"brew|synthesi[sz]e|synthesi[sz]ing|produce|extract|extracting|homemade|home made|diy|"
    r"3d print|print|recipe|instructions|ingredients|step by step|blueprint|convert|"
    r"extraction|synthesis)"
)
_ACQUIRE = r"(?:get|buy|order|obtain|score|where (?:can|do|to) (?:i|you) (?:get|buy|find))"
_EXPLOSIVE = (
    r"(?:bombs?|pipe ?bombs?|nail ?bombs?|explosives?|explosive devices?|ieds?|grenades?|"
    r"napalm|molotovs?(?: cocktails?)?|thermite|detonators?|tatp|semtex|c-?4|black powder|"
    r"dynamite|landmines?|car bombs?)"
)
_WEAPON = (
    rf"(?:{_EXPLOSIVE}|ghost guns?|untraceable guns?|guns?|silencers?|suppressors?|"
    r"full auto|automatic rifles?|flamethrowers?)"
)
_POISON = (
    r"(?:ricin|cyanide|arsenic|sarin|vx|nerve (?:agent|gas)|chlorine gas|mustard gas|"
    r"polonium|botulinum|strychnine|thallium|poison|poisons|toxic gas|anthrax)"
)
_DRUG = (
    r"(?:meth|methamphetamine|crystal meth|fentanyl|heroin|cocaine|crack cocaine|crack rocks?|"
    r"lsd|acid tabs|mdma|ecstasy pills|dmt|ketamine|ghb|magic mushrooms|shrooms|psilocybin|"
    r"marijuana|cannabis|opioids?|oxycodone|xanax|pcp|mescaline|drugs)"
)
_GET_HIGH = (
    r"(?:get|getting) (?:high|stoned|wasted|drunk)\b"
    r"(?! (?:blood|pressure|grades?|scores?|marks|enough|temperatures?|up))"
)

_PATTERNS: dict[str, list[str]] = {
    SELF_HARM: [
        rf"\b(?:kill|hurt|harm|cut|cutting|burn|burning|starve|starving|hang|drown|poison|"
        rf"stab|shoot|punish)(?:ing)? {_ME}\b",
        r"\bunalive\b",
        r"\bsuicid(?:e|al)\b",
        r"\b(?:end|ending|take|taking) (?:my|it all|my own) ?(?:life|own life)?\b[^#]{0,20}"
        r"|\bend it all\b",
        r"\b(?:want|wanna|going|ready|plan|planning) to (?:die|end it|disappear forever)\b",
        r"\b(?:don'?t|do not|no longer) (?:want to|wanna) (?:live|be alive|exist|wake up)\b",
        r"\b(?:i|me|myself|my)\b[^#]{0,40}\b(?:overdose|od)\b|\boverdose\b[^#]{0,30}\b(?:myself|me)\b",
        r"\bhow (?:many|much)\b[^#]{0,40}\b(?:to|would|will) (?:overdose|od|die|kill)\b",
        r"\b(?:painless|easiest|quickest|fastest) way to die\b",
        r"\blethal dose\b[^#]{0,30}\b(?:for me|for myself|to die)\b",
        r"\bself[- ]?harm(?:ing)?\b",
        r"\b(?:kms|kys myself)\b",
        r"\bbetter off (?:dead|without me)\b",
        r"\bno reason to (?:live|keep going)\b",
        r"\bjump (?:off|from) (?:a|the) (?:bridge|roof|building)\b",
        r"\b(?:hurting|cutting|harming|burning) myself\b",
    ],
    "weapons": [
        rf"\b{_MAKE}\b[^#]{{0,60}}\b{_WEAPON}\b",
        rf"\b{_ACQUIRE}\b[^#]{{0,60}}\b{_EXPLOSIVE}\b",
        rf"\b{_WEAPON}\b[^#]{{0,40}}\b(?:recipe|instructions|at home|tutorial|blueprints?|"
        rf"step by step|to (?:hurt|kill|blow up))\b",
        r"\b(?:blow up|bomb|shoot up) (?:a|the|my) (?:car|school|house|building|bus|mall|class)\b",
        r"\bimprovised explosive\b",
    ],
    "poisons": [
        rf"\b(?:{_MAKE}|{_ACQUIRE})\b[^#]{{0,60}}\b{_POISON}\b",
        r"\bpoison (?:the|a|our|their|his|her) (?:school |class |team )?"
        r"(?:lunch|food|drinks?|water|coffee|well)\b",
        rf"\b{_POISON}\b[^#]{{0,30}}\buse on {_PERSON}",
        rf"\b{_POISON}\b[^#]{{0,60}}\b(?:to (?:hurt|kill|use on|put in|gas)|without (?:anyone|them|"
        rf"getting|being)|undetect\w*|untrace\w*|in (?:someone'?s|his|her|their) (?:drink|food))",
        rf"\b(?:poison|gas|drug)\b[^#]{{0,10}}{_PERSON}",
        r"\bhow much\b[^#]{0,30}\bwould kill (?:a person|someone|him|her|a human)\b",
        r"\buntraceable poison\b",
        r"\bmix\b[^#]{0,40}\b(?:bleach|ammonia)\b[^#]{0,40}\bto (?:gas|hurt|kill)\b",
    ],
    "drugs": [
        rf"\b(?:{_MAKE}|{_ACQUIRE})\b[^#]{{0,50}}\b{_DRUG}\b",
        rf"\b(?:grow|growing|smoke|smoking|snort|snorting|inject|injecting|shoot up|dose|"
        rf"dosing|hide|hiding|sell|selling|score|scoring)\b[^#]{{0,30}}\b(?:{_DRUG}|weed|crack)\b",
        rf"\b{_GET_HIGH}\b",
        rf"\b{_DRUG}\b[^#]{{0,30}}\bwithout (?:a )?prescription\b",
    ],
    "violence": [
        rf"\b(?:kill|murder|stab|shoot|strangle|choke|beat up|attack|hurt|harm|punch|"
        rf"knock out|assault|kidnap|torture)\b[^#]{{0,10}}\b{_PERSON}",
        r"\bget away with (?:murder|killing)\b",
        r"\b(?:school|mass) shooting\b[^#]{0,30}\b(?:plan|how|do|carry|commit)\b"
        r"|\bplan(?:ning)? (?:a|the) (?:school|mass) shooting\b",
        r"\bshoot up (?:my|the|a) (?:school|class)\b",
        r"\bwhere to (?:hit|stab|punch) (?:someone|a person|him|her)\b",
        r"\b(?:hurt|kill|blow up|attack) (?:people|kids|students) at (?:school|church|the mall)\b",
        r"\bhow (?:do|can|could|should|would) (?:i|we) (?:murder|strangle)\b",
    ],
    "sexual content": [
        r"\b(?:porn|porno|pornography|nudes?|naked (?:pics?|pictures?|photos?|girls?|boys?)|"
        r"sexting|sext|hentai|onlyfans|xxx|nsfw)\b",
        r"\b(?:sex|sexual|erotic|explicit) (?:story|stories|scene|scenes|chat|roleplay|pics?|"
        r"pictures?|videos?|acts?|positions?)\b",
        rf"\b(?:have sex|sleep) with\b[^#]{{0,10}}{_PERSON}",
    ],
}
# A lesson is checked before speech, on the hot path: each expression runs only if the
# literal words every match of it holds are in the text (most lessons hold none of a
# category's), which spares a scan that tries every alternative at every position.
_COMPILED = {
    cat: [(Prefilter(p, STOPWORDS), re.compile(p)) for p in pats] for cat, pats in _PATTERNS.items()
}
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff\ufe20-\ufe2f]")
_MIXED = re.compile(r"[a-z][0-9@$!|+]|[0-9@$!|+][a-z]")


def fold(text: str) -> str:
    """The text as the gate reads it: NFKC, lower case, homoglyphs and leetspeak folded,
    spaced-out letters joined, separators collapsed."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_HOMOGLYPHS)
    # Combining marks added to disguise letters (b̶o̶m̶b̶, bómb) are dropped.
    text = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    text = _SENTENCE_END.sub(r"\1 # ", text)  # no pattern reaches across a sentence
    if _MIXED.search(text):
        leet = _LEET_WORD.sub(lambda m: m.group().translate(_LEET), text)
        disguised = sum(a != b for a, b in zip(text.split(), leet.split(), strict=False))
        if disguised >= 2:
            leet = _LEET_SHORT.sub(lambda m: m.group().translate(_LEET), leet)
        text = leet
    text = _SPACED.sub(lambda m: re.sub(r"[\s.\-_*]", "", m.group()), text)
    text = re.sub(r"[^\w\s'?#-]+", " ", text)
    text = " ".join(text.split())  # str.split's whitespace is re's \s
    if _SCIENCE_FILTER.could_match(text, words_of(text)):
        text = _SCIENCE.sub(" ", text)
    return text.strip()


# Violence against a named person: a first-person intent, a harm verb, then a word that
# is not a common word or a thing (so, a name: "how do I hurt Jake", "help me poison
# Mr. Smith"; not "how do I stab a straw", "how can we kill bacteria").
_NAMED_VIOLENCE = re.compile(
    r"(?:\b(?:i|we)\b[^#]{0,20}\b(?:want|wanna|gonna|going|plan|planning|will|need)\b"
    r"[^#]{0,10}\bto |\bhow (?:do|can|could|should|would) (?:i|we) |\bhelp me )"
    r"(?:kill|murder|stab|strangle|poison|beat up|punch|attack|hurt|shoot) "
    r"(?:(?:mr|mrs|ms|miss|dr) (?:# )?)?(?P<who>[a-z]+)\b"
)
_NAMED_VIOLENCE_FILTER = Prefilter(_NAMED_VIOLENCE.pattern, STOPWORDS)
_NOT_PEOPLE = frozenset(
    """bacteria germs weeds cells viruses virus process processes time pain less more
    cancer tumors tumours mold mould pests bugs insects ants roaches flies mosquitoes
    straw potato balloon ball basketball football hoops free throw target targets
    zombies monster monsters boss dragon enemies enemy mobs creeper""".split()
)


def category_of(text: str) -> str | None:
    """The first harm category the text falls in (self-harm first), or None."""
    folded = fold(text)
    words = words_of(folded)
    for category, patterns in _COMPILED.items():
        if any(f.could_match(folded, words) and p.search(folded) for f, p in patterns):
            return category
    named = _NAMED_VIOLENCE_FILTER.could_match(folded, words) and _NAMED_VIOLENCE.search(folded)
    if named and named["who"] not in STOPWORDS and named["who"] not in _NOT_PEOPLE:
        return "violence"
    return None


class KeywordSafetyGate:
    def check_query(self, query: str) -> SafetyVerdict:
        category = category_of(query)
        if category is None:
            return SafetyVerdict(True)
        if category == SELF_HARM:
            return SafetyVerdict(False, SELF_HARM_MESSAGE, SELF_HARM)
        return SafetyVerdict(
            False,
            f"The question was declined by the content-safety check ({category}); "
            "ask about the science instead, or talk to a trusted adult if you need help.",
            category,
        )

    def check_lesson(self, lesson: Lesson) -> SafetyVerdict:
        category = category_of(" ".join([lesson.title, *lesson.narration_parts()]))
        if category is None:
            return SafetyVerdict(True)
        return SafetyVerdict(
            False, f"The generated script failed the content-safety check ({category}).", category
        )
