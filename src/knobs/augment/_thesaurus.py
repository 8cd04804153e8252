"""Synonyms for EDA from WordNet 3.0 read offline from a distribution package, never downloaded.

Where WordNet is looked for, in order: the ``path`` given, the ``KNOBS_WORDNET`` environment
variable, Debian/Ubuntu's ``wordnet-base`` package (``/usr/share/wordnet``), and an NLTK data
folder (``~/nltk_data/corpora/wordnet``, ``/usr/share/nltk_data/corpora/wordnet``). A folder
counts when it holds WordNet's ``index.noun`` and ``data.noun``. None found: one ``DataError``
saying how to install it.

Why NLTK's reader: it implements WordNet's morphology (``running`` → ``run``) and file format.
Two details of the Debian files need bridging, both in ``_Reader``: the package ships no
``lexnames`` file (the fixed table of WordNet 3.0's 45 lexicographer files, below, from the
``lexnames(5WN)`` manual page), and NLTK's mapping between WordNet versions serves only the
multilingual data, which an offline English thesaurus does not load.

Example:
    >>> wordnet = load_wordnet()                            # doctest: +SKIP
    >>> wordnet.synonyms("film")[:3]                        # doctest: +SKIP
    ['celluloid', 'cinema', 'flick']
"""

from __future__ import annotations

import functools
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from knobs.errors import ConfigError, DataError

__all__ = ["WordNet", "find_wordnet", "load_wordnet", "as_thesaurus", "ENV_VAR", "INSTALL_HINT"]

ENV_VAR = "KNOBS_WORDNET"
SEARCHED = ("/usr/share/wordnet", "~/nltk_data/corpora/wordnet", "/usr/share/nltk_data/corpora/wordnet")
INSTALL_HINT = ("install WordNet 3.0 with `apt-get install -y wordnet-base` (Debian/Ubuntu; files in "
                "/usr/share/wordnet), or set KNOBS_WORDNET to a WordNet dict folder holding index.noun "
                "and data.noun")
# NOTE: WordNet 3.0's lexicographer files, numbered 0-44 (lexnames(5WN)); NLTK reads this table
# at start-up and Debian's wordnet-base does not ship it as a file.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
    "adj.ppl"
).split()
_SYNTACTIC = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
_LETTERS = re.compile(r"[a-z]+(?: [a-z]+)*")


def _is_wordnet(folder: Path) -> bool:
    return (folder / "index.noun").is_file() and (folder / "data.noun").is_file()


def find_wordnet(path: str | os.PathLike | None = None) -> Path:
    """The WordNet dict folder to read: ``path``, else ``$KNOBS_WORDNET``, else the usual places.

    Raises:
        DataError: ``path`` or ``$KNOBS_WORDNET`` is not a WordNet folder, or none was found;
            the message says how to install it.
    """
    for given, source in ((path, "path"), (os.environ.get(ENV_VAR) or None, ENV_VAR)):
        if given is not None:
            folder = Path(given).expanduser()
            if not _is_wordnet(folder):
                raise DataError(f"{source}: {folder} is not a WordNet dict folder (no index.noun and "
                                f"data.noun in it); {INSTALL_HINT}")
            return folder.resolve()
    for candidate in SEARCHED:
        folder = Path(candidate).expanduser()
        if _is_wordnet(folder):
            return folder.resolve()
    raise DataError(f"EDA synonyms need WordNet, found none ({ENV_VAR} unset; looked in "
                    f"{', '.join(SEARCHED)}); {INSTALL_HINT}")


def _reader_class() -> type:
    try:
        import nltk
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError as err:
        raise ConfigError(f"EDA synonyms need nltk's WordNet reader ({err}); install it with "
                          f"`pip install nltk` (or `pip install 'knobs[augment]'`)") from None

    class _Reader(WordNetCorpusReader):
        def open(self, file: str) -> Any:
            if file == "lexnames" and not Path(self._root.path, "lexnames").is_file():
                return io.StringIO("".join(f"{i:02d}\t{name}\t{_SYNTACTIC[name.split('.')[0]]}\n"
                                           for i, name in enumerate(LEXNAMES)))
            return super().open(file)

        def map_wn(self, version: str = "wordnet") -> None:
            return None  # only the multilingual (OMW) lookups use the version map

    return nltk, _Reader


class WordNet:
    """A thesaurus: ``synonyms(word)``, the other lemmas of every synset of ``word``, sorted.

    Args:
        path: a WordNet dict folder; None finds one (see ``find_wordnet``).
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = path

    def load(self) -> "WordNet":
        """Find and open WordNet (about 2 s: NLTK indexes every lemma); return ``self``."""
        folder = find_wordnet(self.path)
        nltk, reader = _reader_class()
        # NOTE: NLTK reads only folders on its data path (its guard against planted corpora);
        # the folder found above is the one we mean to read, so it is added there.
        if str(folder) not in map(str, nltk.data.path):
            nltk.data.path.append(str(folder))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": intended
            self.reader_ = reader(str(folder), None)
        self.folder_ = folder
        self._synonyms = functools.lru_cache(maxsize=None)(self._lookup)
        return self

    def synonyms(self, word: str) -> list[str]:
        """Synonyms of ``word`` (any part of speech), lowercase letters and spaces, sorted.

        Sorted so that a seeded choice among them does not depend on Python's hash seed.
        """
        if not hasattr(self, "reader_"):
            self.load()
        return self._synonyms(word)

    def _lookup(self, word: str) -> list[str]:
        found = set()
        for synset in self.reader_.synsets(word):
            for lemma in synset.lemmas():
                name = lemma.name().replace("_", " ").replace("-", " ").lower()
                if _LETTERS.fullmatch(name) and name != word:
                    found.add(name)
        return sorted(found)


class _MappingThesaurus:
    """Synonyms from a dict ``{word: [synonyms]}`` (a domain glossary, or tests)."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table

    def synonyms(self, word: str) -> list[str]:
        return sorted(set(self.table.get(word, ())) - {word})


def load_wordnet(path: str | os.PathLike | None = None) -> WordNet:
    """A loaded ``WordNet`` (found as ``find_wordnet`` does), shared per folder so a process
    indexes it once."""
    return _loaded(str(find_wordnet(path)))


@functools.lru_cache(maxsize=4)
def _loaded(folder: str) -> WordNet:
    return WordNet(folder).load()


def as_thesaurus(thesaurus: Any) -> Any:
    """An object with ``synonyms(word)``: the one given, a dict wrapped, or WordNet for None.

    Raises:
        ConfigError: not None, a dict, or an object with a ``synonyms`` method.
    """
    if thesaurus is None:
        return load_wordnet()
    if isinstance(thesaurus, Mapping):
        return _MappingThesaurus(thesaurus)
    if callable(getattr(thesaurus, "synonyms", None)):
        return thesaurus
    raise ConfigError(f"thesaurus: expected None (WordNet), a dict {{word: [synonyms]}} or an object "
                      f"with a synonyms(word) method, got {type(thesaurus).__name__}")
