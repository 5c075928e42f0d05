"""A national simulation: what merchants download, what the gateway serves, and what an update costs a verifier,
for the retired whole-bundle sync and for the new delta sync, in one run.

The alliance (stated assumptions, all in `Model`):
- 300 member cities; 1,000,000,000 holders' live codes spread over them by a Zipf law (city of
  rank r holds a share 1/r of the total, normalised: rank 1 about 15.9 %, rank 300 about 0.05 %);
  one live code (hence one status entry) per holder;
- each city's list sized by the core's own rule (`grown_size`: at least 131,072 entries, doubling
  until at most half is in use);
- 10,000,000 revocations a year at a steady rate, spread by city size; a revoked entry stays set
  for a year (printed long-lived codes: the densest lists, the worst case for both syncs);
- every revocation is one new list version (the city's issuer signs one per change, as
  `CityOffice.set_status` does), and every list is re-signed twice a day (`status_update` renews
  at half its 24 h expiry);
- each city changes its TUF part (offers, keys) once a week; the gateway renews its timestamp hourly;
- 1,000,000 merchant devices, each syncing every 15 minutes (the lists' `ttl`), keeping every
  city's list (visitors come from anywhere).

Old whole-bundle sync: today's retired single `TrustBundle` carrying every member, key, offer,
agreement and every city's list (its own 1-bit-per-entry `StatusList`, the same number of
entries), re-downloaded whenever anything changed (an ETag 304 otherwise). New delta sync:
per 15 minutes a conditional GET of `timestamp.json` (and, when a part changed, the new
snapshot, the city's role and its parts), and one conditional GET per city status list:
304 when its version did not move, else what the gateway serves (`TrustPublisher.status_list`):
a delta from the held version when that version is inside the `STATUS_HISTORY_S` it keeps the
changes of and the delta is the smaller, else the whole list. Versions behind after 15 minutes are
Poisson.

Sizes come from real encodings, sampled and scaled: every city's list is sampled as a real
`StatusBitmap` of `sample_entries` entries (or the whole list when smaller) with that city's
density of revoked entries set at random, compressed by the core (zlib 9), and its compressed
size multiplied by entries ÷ sampled entries (one mid-size city is also built whole to check
the scaling: `national.sample_scaling`). Deltas are real `StatusListUpdate`s from `status_delta`
with a real signed head, their indexes spread over the city's true list size; their size is fitted
as fixed + per-entry from 1 and 32 changed entries. TUF sizes are the real files of the national
trust set (`benchmarks.national_set`); the retired bundle is really encoded with that content plus
every city's scaled list. HTTP response heads (status line and headers) are measured on the running
gateway (304 and 200, for timestamp.json and a status list).
"""

from __future__ import annotations

import math
import random
import re
import statistics
import zlib
from dataclasses import dataclass

from citycredit import Algorithm
from citycredit._gen.citycredit.v1 import bundle_pb2, status_pb2
from citycredit.core import (
    MIN_STATUS_LIST_SIZE,
    SigningKey,
    StatusBitmap,
    grown_size,
    open_status_update,
)

from benchmarks.fixtures import Context
from benchmarks.gateway_common import gateway_unavailable
from benchmarks.harness import AT_MOST, Figure, Spec, time_calls, value_figure
from benchmarks.loadgen import http_get_raw
from benchmarks.national_set import open_single_bundle, single_bundle
from benchmarks.status_lists import delta_update, flag_random, whole_update

try:
    from citycredit.gateway.config import GatewayConfig
    from citycredit.gateway.publishing import STATUS_HISTORY_S
except ImportError:  # without the gateway extra: the values it ships with
    STATUS_HISTORY_S = 7 * 86400
    TIMESTAMP_RENEW_S = 3600
else:
    TIMESTAMP_RENEW_S = int(GatewayConfig.model_fields["timestamp_renew_s"].default)

NAME = "national"
DAY_S, YEAR_S = 86400, 365 * 86400
TARGET_BYTES = AT_MOST(1 / 20)
FIGURES = (
    Spec("national.merchant_bytes_per_day", "bytes/day", TARGET_BYTES),
    Spec("national.gateway_bytes_per_day", "bytes/day"),
    Spec("national.merchant_bytes_per_day.deltas_only", "bytes/day"),
    Spec("national.apply_update.typical", "ms"),
    Spec("national.apply_update.largest_city", "ms"),
    Spec("national.sample_scaling", "ratio"),
)
# HTTP response heads when no gateway runs here (a 304 and a 200 of uvicorn with the gateway's headers).
_NONZERO = re.compile(rb"[^\x00]")
_DEFAULT_HEADS = {"ts_304": 150, "ts_200": 200, "list_304": 170, "list_200": 230, "bundle_304": 150,
                  "bundle_200": 200}


@dataclass(frozen=True)
class Model:
    cities: int = 300
    holders: float = 1e9
    zipf_s: float = 1.0
    revocations_per_year: float = 1e7
    revoked_kept_s: int = YEAR_S
    list_renewals_per_day: float = 2.0
    part_changes_per_city_per_day: float = 1 / 7
    merchants: float = 1e6
    sync_s: int = 900


@dataclass
class City:
    rank: int
    live: float
    size: int
    flagged: float  # entries not VALID at steady state
    versions_per_sync: float
    whole_new: float  # bytes of the whole StatusListUpdate (scaled)
    list_old: float  # bytes of the retired 1-bit StatusList's zlib (scaled)
    delta_fixed: float
    delta_per_entry: float

    def delta(self, entries: float) -> float:
        return self.delta_fixed + self.delta_per_entry * entries


def _poisson(lam: float, k: int) -> float:
    return math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) if lam > 0 else float(k == 0)


def _sample(size: int, flagged: float, entries: int, rng: random.Random) -> StatusBitmap:
    sample = StatusBitmap(min(size, entries))
    flag_random(sample, round(flagged * sample.size / size), rng)
    return sample


def _old_zlib(bitmap: StatusBitmap) -> bytes:
    """The retired format of the same entries: one bit each, set when the entry is not VALID."""
    bits = bytearray(bitmap.size // 8)
    data = bytes(bitmap.data)
    for found in _NONZERO.finditer(data):
        offset, byte = found.start(), data[found.start()]
        for k in range(4):
            if byte >> (2 * k) & 3:
                index = offset * 4 + k
                bits[index >> 3] |= 1 << (index & 7)
    return zlib.compress(bytes(bits), 9)


def _cities(model: Model, sample_entries: int, key: SigningKey, now_s: int) -> list[City]:
    rng = random.Random(300)
    harmonic = sum(r ** -model.zipf_s for r in range(1, model.cities + 1))
    out = []
    for rank in range(1, model.cities + 1):
        share = rank ** -model.zipf_s / harmonic
        live = model.holders * share
        size = grown_size(MIN_STATUS_LIST_SIZE, math.ceil(live))
        flagged = model.revocations_per_year * share * model.revoked_kept_s / YEAR_S
        per_day = model.revocations_per_year * share / 365 + model.list_renewals_per_day
        sample = _sample(size, flagged, sample_entries, rng)
        scale = size / sample.size
        whole = whole_update(sample, city=110000, version=2, key=key, now_s=now_s)
        list_zlib = status_pb2.StatusListUpdate.FromString(whole).list.list_zlib
        whole_new = len(whole) - len(list_zlib) + len(list_zlib) * scale
        fixed, per_entry = _delta_fit(sample, size, key, now_s, rng)
        out.append(City(rank=rank, live=live, size=size, flagged=flagged,
                        versions_per_sync=per_day * model.sync_s / DAY_S, whole_new=whole_new,
                        list_old=len(_old_zlib(sample)) * scale, delta_fixed=fixed, delta_per_entry=per_entry))
    return out


def _delta_fit(sample: StatusBitmap, size: int, key: SigningKey, now_s: int, rng: random.Random) -> tuple[float, float]:
    """Bytes of a real delta of 1 and of 32 changed entries, indexes spread over the city's true list."""
    stretch = size // sample.size
    lengths = []
    for entries in (1, 32):
        new = sample.copy()
        flag_random(new, entries, rng)
        update = status_pb2.StatusListUpdate.FromString(delta_update(sample, new, city=110000, from_version=1,
                                                                     version=2, key=key, now_s=now_s))
        spread = [i * stretch + rng.randrange(stretch) for i in update.delta.indexes]
        del update.delta.indexes[:]
        update.delta.indexes.extend(spread)
        lengths.append(len(update.SerializeToString(deterministic=True)))
    per_entry = (lengths[1] - lengths[0]) / 31
    return lengths[0] - per_entry, per_entry


def _heads(ctx: Context) -> tuple[dict[str, int], str]:
    """Response heads as the running gateway sends them (status line and headers, bytes)."""
    if gateway_unavailable():
        return dict(_DEFAULT_HEADS), "HTTP heads: fixed estimates (no gateway here)"
    from benchmarks.gateway_common import LoadLoop  # noqa: PLC0415 - optional: needs the gateway extra

    port = ctx.gateway().server.http_port
    load = LoadLoop(ctx)
    heads: dict[str, int] = {}
    for label, path in (("ts", "/v1/trust/timestamp.json"), ("list", "/v1/cities/330100/status-list"),
                        ("bundle", "/v1/trust/timestamp.json")):
        status, head, _ = load.run(http_get_raw(port, path))
        etag = next((line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                     if line.lower().startswith(b"etag:")), '"x"')
        heads[f"{label}_200"] = len(head)
        status_304, head_304, _ = load.run(http_get_raw(port, path, {"If-None-Match": etag}))
        if status != 200 or status_304 != 304:
            raise RuntimeError(f"{path}: expected 200 then 304, got {status} and {status_304}")
        heads[f"{label}_304"] = len(head_304)
    return heads, (f"HTTP heads measured on the gateway: timestamp 200 {heads['ts_200']} B / 304 {heads['ts_304']} B, "
                   f"status list 200 {heads['list_200']} B / 304 {heads['list_304']} B")


def _versions_kept(city: City, model: Model) -> int:
    """How many versions back the gateway serves a delta from: those of its history window."""
    return int(city.versions_per_sync * STATUS_HISTORY_S / model.sync_s)


def _sync_bytes(model: Model, cities: list[City], heads: dict[str, int], tuf: dict[str, float], bundle: float,
                ) -> dict[str, float]:
    """Expected bytes one merchant downloads per day: old, new as served, new with deltas always."""
    syncs = DAY_S / model.sync_s
    part_changes = model.part_changes_per_city_per_day * model.cities
    p_ts = 1 - math.exp(-(DAY_S / TIMESTAMP_RENEW_S + part_changes) / syncs)
    p_snap = 1 - math.exp(-part_changes / syncs)
    tuf_sync = (p_ts * (heads["ts_200"] + tuf["timestamp"]) + (1 - p_ts) * heads["ts_304"]
                + p_snap * (3 * heads["ts_200"] + tuf["snapshot"] + tuf["role"] + tuf["parts"]))
    served = deltas = 0.0
    for city in cities:
        lam = city.versions_per_sync
        unchanged = _poisson(lam, 0) * heads["list_304"]
        # Deltas from any version of the history window; past 30 standard deviations the Poisson tail is 0.
        reach = min(_versions_kept(city, model), math.ceil(lam + 30 * math.sqrt(lam) + 30))
        kept = sum(_poisson(lam, k) * (heads["list_200"] + min(city.delta(k), city.whole_new))
                   for k in range(1, reach + 1))
        beyond = max(0.0, 1 - sum(_poisson(lam, k) for k in range(reach + 1)))
        served += unchanged + kept + beyond * (heads["list_200"] + city.whole_new)
        deltas += unchanged + (1 - _poisson(lam, 0)) * heads["list_200"] + city.delta(lam)
    changes_per_day = (model.revocations_per_year / 365 + model.list_renewals_per_day * model.cities + part_changes)
    p_bundle = 1 - math.exp(-changes_per_day / syncs)
    old = p_bundle * (heads["bundle_200"] + bundle) + (1 - p_bundle) * heads["bundle_304"]
    return {"old": old * syncs, "new": (tuf_sync + served) * syncs, "deltas": (tuf_sync + deltas) * syncs,
            "p_bundle": p_bundle, "tuf": tuf_sync * syncs}


def _old_bundle_bytes(ctx: Context, cities: list[City]) -> tuple[float, float]:
    """The retired bundle with the national content and every city's scaled 1-bit list; and its list bytes."""
    national = ctx.national()
    alliance = national.alliance
    members = sorted(alliance.members)
    lists = {city: bundle_pb2.StatusList(size=cities[i % len(cities)].size, updated_at=alliance.now_s)
             for i, city in enumerate(members)}
    encoded = single_bundle(alliance, national.offers, national.agreements, SigningKey.generate(), now_s=alliance.now_s,
                            status_lists=lists)
    # The content of a national set as built (fewer cities with --quick), scaled to the model's cities.
    per_city = len(encoded) / len(members)
    list_bytes = sum(c.list_old + 2 + (c.list_old >= 128) + (c.list_old >= 16384) + (c.list_old >= 1 << 21)
                     for c in cities)
    return per_city * len(cities) + list_bytes, list_bytes


def _apply_costs(ctx: Context, model: Model, cities: list[City], bundle_bytes: float, key: SigningKey,
                 ) -> tuple[Figure, Figure]:
    """Time to apply one update at a verifier: new (a real delta at the median city's size; the largest city's
    update as served, scaled from a 16,777,216-entry list) and old (opening the whole retired bundle)."""
    rng = random.Random(5)
    keys = {key.kid: key.verifying_key()}
    now = ctx.now_s
    samples = max(3, ctx.settings.rounds)

    def update_cost(size: int, flagged: float, changes: int, whole: bool) -> float:
        old = StatusBitmap(size)
        flag_random(old, round(flagged), rng)
        held = open_status_update(whole_update(old, city=110000, version=1, key=key, now_s=now), city=110000,
                                  status_keys=keys, previous=None, now_s=now, grace_s=0)
        new = old.copy()
        flag_random(new, changes, rng)
        data = whole_update(new, city=110000, version=2, key=key, now_s=now) if whole else \
            delta_update(old, new, city=110000, from_version=1, version=2, key=key, now_s=now)
        return statistics.median(time_calls(lambda: open_status_update(
            data, city=110000, status_keys=keys, previous=held, now_s=now, grace_s=0), samples))

    median_city = cities[len(cities) // 2]
    typical_changes = max(1, round(median_city.versions_per_sync))
    sampled = min(median_city.size, 1 << 24)
    typical = update_cost(sampled, median_city.flagged * sampled / median_city.size, typical_changes, False) \
        * median_city.size / sampled
    top = cities[0]
    as_served_whole = top.versions_per_sync > _versions_kept(top, model)
    probe = min(top.size, 1 << 24 if not ctx.settings.quick else 1 << 20)
    top_cost = update_cost(probe, top.flagged * probe / top.size, max(1, round(top.versions_per_sync)),
                           as_served_whole) * top.size / probe

    # The old update: the one signature over the whole bundle, parsing it, and inflating every list.
    national = ctx.national()
    content = statistics.median(time_calls(lambda: open_single_bundle(national.bundle, national.bundle_key), 3))
    content *= model.cities / len(national.alliance.members)
    message = bytes(1 << 24)
    signature = key.sign(message)
    verifier = key.verifying_key()
    sign_s = statistics.median(time_calls(lambda: verifier.verify(signature, message), 3)) * bundle_bytes / len(message)
    one_bit = bytearray((1 << 24) // 8)
    for index in rng.sample(range(1 << 24), int(top.flagged * (1 << 24) / top.size)):
        one_bit[index >> 3] |= 1 << (index & 7)
    packed = zlib.compress(bytes(one_bit), 9)
    inflate_s = statistics.median(time_calls(lambda: zlib.decompress(packed), 3))
    raw_bytes = sum(c.size / 8 for c in cities)
    old_s = content + sign_s + inflate_s * raw_bytes / len(one_bit)
    old_note = (f"old: open the whole retired bundle ({bundle_bytes / 1e6:,.1f} MB): parse and convert the content "
                f"{content * 1e3:,.0f} ms, one Ed25519 verify over it {sign_s * 1e3:,.0f} ms, inflate every list "
                f"({raw_bytes / 1e6:,.0f} MB) {inflate_s * raw_bytes / len(one_bit) * 1e3:,.0f} ms (each measured on "
                "a real sample and scaled by bytes)")
    return (
        value_figure("national.apply_update.typical", typical * 1e3, "ms", baseline=old_s * 1e3,
                     baseline_name="old: whole bundle",
                     note=f"new: open_status_update of a real {typical_changes}-entry delta to the median city's "
                          f"{median_city.size:,}-entry list (measured at {sampled:,} entries, scaled by size); "
                          + old_note),
        value_figure("national.apply_update.largest_city", top_cost * 1e3, "ms", baseline=old_s * 1e3,
                     baseline_name="old: whole bundle",
                     note=f"new: the largest city ({top.size:,} entries, {top.versions_per_sync:.1f} versions per "
                          f"15 min) as the gateway serves it: "
                          + ("the whole list (more versions behind than the gateway keeps)" if as_served_whole
                             else "a delta") + f", measured at {probe:,} entries and scaled by size"),
    )


def _scaling_check(model: Model, cities: list[City], sample_entries: int, key: SigningKey,
                   now_s: int) -> Figure:
    """One city built whole: its real compressed list against the sampled-and-scaled estimate."""
    limit = sample_entries * 8
    city = next((c for c in cities if sample_entries < c.size <= limit), cities[-1])
    rng = random.Random(9)
    whole = StatusBitmap(city.size)
    flag_random(whole, round(city.flagged), rng)
    real = len(whole_update(whole, city=110000, version=2, key=key, now_s=now_s))
    return value_figure("national.sample_scaling", city.whole_new / real, "ratio", baseline=1.0,
                        baseline_name="real = 1",
                        note=f"city of rank {city.rank} ({city.size:,} entries, {round(city.flagged):,} flagged): "
                             f"scaled estimate {city.whole_new:,.0f} B vs {real:,} B built whole")


def run(ctx: Context) -> list[Figure]:
    model = Model()
    sample_entries = 1 << 17 if ctx.settings.quick else 1 << 22
    key = SigningKey.generate(Algorithm.ED25519)
    cities = _cities(model, sample_entries, key, ctx.now_s)
    heads, heads_note = _heads(ctx)
    national = ctx.national()
    files = national.files()
    alliance = national.alliance
    part_files = [d for p, d in files.targets_files.items() if p.startswith("cities/")]
    tuf = {"timestamp": len(files.timestamp), "snapshot": len(files.snapshot) * model.cities / len(alliance.members),
           "role": statistics.mean(len(d) for n, d in files.roles.items() if n.startswith("city-")),
           "parts": sum(len(d) for d in part_files) / len(alliance.members)}
    bundle, list_bytes = _old_bundle_bytes(ctx, cities)
    per_day = _sync_bytes(model, cities, heads, tuf, bundle)
    top = cities[0]
    shape = (f"{model.cities} cities, {model.holders:,.0f} live codes (Zipf s={model.zipf_s:g}: the largest city "
             f"{top.live:,.0f} codes in a {top.size:,}-entry list, the smallest {cities[-1].live:,.0f} in "
             f"{cities[-1].size:,}), {model.revocations_per_year:,.0f} revocations a year kept set a year, "
             f"{model.merchants:,.0f} merchants syncing every {model.sync_s // 60} min")
    sizes = (f"retired bundle {bundle / 1e6:,.2f} MB ({list_bytes / 1e6:,.2f} MB of lists), changed in "
             f"{per_day['p_bundle']:.1%} of syncs; TUF per day {per_day['tuf'] / 1e3:,.0f} kB (timestamp "
             f"{tuf['timestamp']} B, snapshot {tuf['snapshot']:,.0f} B); largest city's whole list "
             f"{top.whole_new / 1e3:,.0f} kB, delta {top.delta_fixed:.0f} B + {top.delta_per_entry:.1f} B/entry; "
             f"the gateway serves deltas from the versions of the last {STATUS_HISTORY_S // 86400} days "
             f"({_versions_kept(top, model):,} of the largest city's); {heads_note}")
    figures = [
        value_figure("national.merchant_bytes_per_day", per_day["new"], "bytes/day", baseline=per_day["old"],
                     baseline_name="old whole-bundle sync", target=TARGET_BYTES, note=f"{shape}; {sizes}"),
        value_figure("national.gateway_bytes_per_day", per_day["new"] * model.merchants, "bytes/day",
                     baseline=per_day["old"] * model.merchants, baseline_name="old whole-bundle sync",
                     note=f"{model.merchants:,.0f} merchants × the bytes each downloads (no CDN, no cache)"),
        value_figure("national.merchant_bytes_per_day.deltas_only", per_day["deltas"], "bytes/day",
                     baseline=per_day["old"], baseline_name="old whole-bundle sync",
                     note="the new sync if the gateway could always answer with a delta (no version window)"),
    ]
    figures += _apply_costs(ctx, model, cities, bundle, key)
    figures.append(_scaling_check(model, cities, sample_entries, key, ctx.now_s))
    return figures

