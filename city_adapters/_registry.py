"""The registry of member cities' schemes: bundled data files, then a city office's overrides."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from citycredit.errors import CityUnknownError, SchemeInvalidError

from ._scheme import Scheme, parse_scheme

__all__ = ["SchemeRegistry", "load_registry", "load_scheme_file"]


class SchemeRegistry:
    """Schemes by city, found by GB/T 2260 code, slug or city name."""

    def __init__(self, schemes: Iterable[Scheme]) -> None:
        self._by_city: dict[int, Scheme] = {}
        self._by_name: dict[str, Scheme] = {}
        for scheme in sorted(schemes, key=lambda s: s.city):
            if scheme.city in self._by_city:
                raise SchemeInvalidError(f"two schemes for city {scheme.city}")
            self._by_city[scheme.city] = scheme
            for name in {scheme.slug, scheme.name_zh, scheme.name_en.lower()}:
                other = self._by_name.setdefault(name, scheme)
                if other is not scheme:
                    raise SchemeInvalidError(f"cities {other.city} and {scheme.city} are both called {name!r}")

    def resolve_city(self, name_or_code: str | int) -> Scheme:
        """The scheme of a city given as 330100, "330100", "hangzhou", "Hangzhou" or "杭州"."""
        if isinstance(name_or_code, int) and not isinstance(name_or_code, bool):
            found = self._by_city.get(name_or_code)
        elif isinstance(name_or_code, str):
            key = name_or_code.strip()
            found = self._by_city.get(int(key)) if key.isascii() and key.isdigit() else \
                self._by_name.get(key.lower())
        else:
            found = None
        if found is None:
            known = ", ".join(f"{s.slug} ({s.city})" for s in self._by_city.values())
            raise CityUnknownError(f"no member city {name_or_code!r}; known: {known}")
        return found

    def schemes(self) -> list[Scheme]:
        """Every scheme, sorted by city code."""
        return list(self._by_city.values())

    def __iter__(self) -> Iterator[Scheme]:
        return iter(self.schemes())

    def __len__(self) -> int:
        return len(self._by_city)

    def __contains__(self, city: object) -> bool:
        return city in self._by_city


def load_scheme_file(path: Path | Traversable) -> Scheme:
    """Read and validate one scheme data file; raises SchemeInvalidError."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SchemeInvalidError(f"{path.name}: cannot read the scheme file: {err}") from None
    return parse_scheme(doc, origin=path.name)


def bundled_schemes() -> list[Scheme]:
    """The schemes shipped in `city_adapters/schemes/`."""
    folder = resources.files("citycredit.adapters.schemes")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return [load_scheme_file(f) for f in files]


def load_registry(overrides_dir: Path | None = None) -> SchemeRegistry:
    """The bundled schemes, then each `*.json` in `overrides_dir` replacing or adding a city.

    An override that keeps a city's scheme id must raise its version (unless it is
    byte-for-byte the same scheme), so that a (scheme, version) pair in the trust
    bundle always names one mapping.
    """
    by_city = {s.city: s for s in bundled_schemes()}
    if overrides_dir is not None:
        if not overrides_dir.is_dir():
            raise SchemeInvalidError(f"{overrides_dir}: the scheme overrides folder does not exist")
        seen: dict[int, str] = {}
        for path in sorted(overrides_dir.glob("*.json")):
            scheme = load_scheme_file(path)
            if scheme.city in seen:
                raise SchemeInvalidError(f"{path.name}: city {scheme.city} is also overridden by {seen[scheme.city]}")
            seen[scheme.city] = path.name
            old = by_city.get(scheme.city)
            if (old is not None and old.scheme_id == scheme.scheme_id and old.digest != scheme.digest
                    and scheme.version <= old.version):
                raise SchemeInvalidError(
                    f"{path.name}: changes {scheme.scheme_id} version {old.version} without raising its version")
            by_city[scheme.city] = scheme
    return SchemeRegistry(by_city.values())
