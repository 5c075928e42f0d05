"""City adapters: each city's local credit scheme mapped onto the alliance's portable tiers.

Every member city is one data file in `schemes/` read by the class of its kind
(score bands, colours, grades). A city office overrides or adds a scheme with
one data file, no code::

    from citycredit.adapters import load_registry

    registry = load_registry()                      # or load_registry(Path("my-overrides"))
    scheme = registry.resolve_city("hangzhou")      # or 330100, "330100", "杭州"
    scheme.map({"score": 720})                      # Rating(tier=Tier.EXCELLENT, band='钱江分·优秀')

`demo_catalogue()` gives the demonstration alliance's offers and agreements.
"""

from ._catalogue import demo_catalogue, load_catalogue
from ._kinds import Band, ColourScheme, GradeScheme, ScoreScheme
from ._registry import SchemeRegistry, load_registry, load_scheme_file
from ._scheme import MAX_LABEL_CHARS, Rating, Scheme, parse_scheme, scheme_kinds, validate_scheme

__all__ = [
    "MAX_LABEL_CHARS",
    "Band",
    "ColourScheme",
    "GradeScheme",
    "Rating",
    "Scheme",
    "SchemeRegistry",
    "ScoreScheme",
    "demo_catalogue",
    "load_catalogue",
    "load_registry",
    "load_scheme_file",
    "parse_scheme",
    "scheme_kinds",
    "validate_scheme",
]
