"""Which stored stimulus name means which ACTD protocol: a mapping kept in a data file a user can extend.

Rigs name their stimuli differently: ACTD's NWB 1 files say ``"Long Square"``, the Allen
pipeline's NWB 2 files carry MIES codes such as ``"C1LSCOARSE150216_DA_0"``, and a lab's own
converter writes whatever its protocols are called. The defaults live in ``stimulus_names.yml``
beside this module (its header documents the layout); a user adds names in a file of the same
layout, passed as ``--stimulus-map FILE``, whose patterns are tried first.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["PROTOCOLS", "IGNORE", "DEFAULT_STIMULUS_MAP", "StimulusMapError", "StimulusMap", "load_stimulus_map"]

#: The protocols features are extracted from, in the order their patterns are tried.
PROTOCOLS: tuple[str, ...] = ("long_square", "short_square", "ramp", "noise")
#: Known names that are deliberately not used (test pulses, searches, other protocols).
IGNORE = "ignore"
DEFAULT_STIMULUS_MAP: Path = Path(__file__).with_name("stimulus_names.yml")


class StimulusMapError(ValueError):
    """A stimulus-map file that cannot be used; the message names the file and the problem."""


def _normalise(text: str) -> str:
    return " ".join(str(text).split()).lower()


@dataclass(frozen=True)
class StimulusMap:
    """Ordered ``(protocol, pattern)`` rules; the first match decides.

    Attributes
    ----------
    rules : tuple of (str, str)
        Protocol (one of :data:`PROTOCOLS` or ``"ignore"``) and a case-insensitive shell pattern.
    sources : tuple of Path
        The files the rules came from, the user's first.
    """

    rules: tuple[tuple[str, str], ...]
    sources: tuple[Path, ...]

    def protocol_of(self, stimulus_name: str) -> str | None:
        """The protocol ``stimulus_name`` belongs to, ``"ignore"``, or None when no pattern matches."""
        name = _normalise(stimulus_name)
        for protocol, pattern in self.rules:
            if fnmatch.fnmatchcase(name, pattern):
                return protocol
        return None


def _read_rules(path: Path) -> list[tuple[str, str]]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StimulusMapError(f"{path}: stimulus map not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StimulusMapError(f"{path}: cannot read the stimulus map ({error})") from None
    except yaml.YAMLError as error:
        raise StimulusMapError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if content is None:
        return []
    if not isinstance(content, dict):
        raise StimulusMapError(f"{path}: a stimulus map is a mapping of protocol -> list of names; "
                               f"got a {type(content).__name__}")
    known = (*PROTOCOLS, IGNORE)
    rules: list[tuple[str, str]] = []
    for protocol in content:
        if protocol not in known:
            raise StimulusMapError(f"{path}: unknown protocol {protocol!r}; use {', '.join(known)}")
    for protocol in known:  # a fixed order, whatever the file's
        patterns = content.get(protocol) or []
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list):
            raise StimulusMapError(f"{path}: {protocol}: expected a list of names; got {patterns!r}")
        for pattern in patterns:
            if not isinstance(pattern, (str, int, float)) or not str(pattern).strip():
                raise StimulusMapError(f"{path}: {protocol}: {pattern!r} is not a stimulus name")
            rules.append((protocol, _normalise(pattern)))
    return rules


def load_stimulus_map(extra: Path | str | None = None, *, defaults: Path | str = DEFAULT_STIMULUS_MAP) -> StimulusMap:
    """The default stimulus names, with a user's file tried first.

    Parameters
    ----------
    extra : path-like, optional
        A YAML file laid out like ``stimulus_names.yml``.
    defaults : path-like
        The default mapping (the packaged ``stimulus_names.yml``).

    Returns
    -------
    StimulusMap

    Raises
    ------
    StimulusMapError
        A missing file, invalid YAML, an unknown protocol or a pattern that is not text.
    """
    sources = [Path(extra)] if extra is not None else []
    sources.append(Path(defaults))
    rules: list[tuple[str, str]] = []
    for source in sources:
        rules += _read_rules(source)
    return StimulusMap(rules=tuple(rules), sources=tuple(sources))
