"""Status lists (SPEC 7): two bits an entry, least significant first, signed heads, deltas, and how they grow."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import zlib
from collections.abc import Callable

import pytest
from citycredit import Tier
from citycredit._gen.citycredit.v1 import status_pb2
from citycredit.core import (
    MAX_STATUS_LIST_SIZE,
    MIN_STATUS_LIST_SIZE,
    STATUS_CONTEXT,
    Algorithm,
    SigningKey,
    Status,
    StatusBitmap,
    StatusList,
    grown_size,
    open_status_update,
    pick_status_index,
    sign_part,
    status_delta,
)
from citycredit.errors import (
    BundleError,
    BundleMalformedError,
    BundleRollbackError,
    BundleStaleError,
    CodeRevokedError,
    CodeSuspendedError,
    InvalidArgumentError,
    UnavailableError,
)
from citycredit.testing import InMemoryAlliance
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.conftest import NOW_S

HANGZHOU, QUZHOU = 330100, 330800
DAY = 86400


# --- the entry layout (SPEC 7.1, A.5) -------------------------------------------------------------------


def test_entry_zero_is_the_low_two_bits_of_byte_zero() -> None:
    bitmap = StatusBitmap()
    bitmap.set(0, Status.REVOKED)
    assert bitmap.data[0] == 0b0000_0001
    bitmap.set(1, Status.SUSPENDED)
    assert bitmap.data[0] == 0b0000_1001
    bitmap.set(3, Status.REVOKED)
    assert bitmap.data[0] == 0b0100_1001
    bitmap.set(0, Status.VALID)
    assert bitmap.data[0] == 0b0100_1000 and bitmap.data[1:] == bytes(len(bitmap.data) - 1)
    bitmap.set(4, Status.SUSPENDED)
    assert bitmap.data[1] == 0b0000_0010
    assert [bitmap.get(i) for i in range(6)] == [0, 2, 0, 1, 2, 0]


def test_the_worked_example_of_the_spec() -> None:
    data = bytearray(MIN_STATUS_LIST_SIZE // 4)
    data[5] = 0x9C  # 10 01 11 00
    listed = StatusList(city=HANGZHOU, version=1, size=MIN_STATUS_LIST_SIZE, issued_at_s=0, expires_at_s=1, ttl_s=0,
                        head=b"", data=bytes(data))
    assert [listed.status(i) for i in (20, 21, 22, 23)] == [0, 3, 1, 2]
    data[32767] = 0b1000_0000
    listed = dataclasses.replace(listed, data=bytes(data))
    assert listed.status(MIN_STATUS_LIST_SIZE - 1) == 2 and listed.status(MIN_STATUS_LIST_SIZE) == 1


def test_issuers_write_only_valid_revoked_or_suspended_inside_the_list() -> None:
    bitmap = StatusBitmap()
    for index, status in ((0, 3), (0, -1), (-1, 1), (MIN_STATUS_LIST_SIZE, 1)):
        with pytest.raises(InvalidArgumentError):
            bitmap.set(index, status)
    with pytest.raises(InvalidArgumentError):
        bitmap.grow(MIN_STATUS_LIST_SIZE - 4)
    for size in (MIN_STATUS_LIST_SIZE - 4, MIN_STATUS_LIST_SIZE + 2, MAX_STATUS_LIST_SIZE + 4):
        with pytest.raises(BundleMalformedError):
            StatusBitmap(size)


def test_growing_keeps_entries_and_adds_valid_ones() -> None:
    bitmap = StatusBitmap()
    bitmap.set(MIN_STATUS_LIST_SIZE - 1, Status.SUSPENDED)
    bitmap.grow(2 * MIN_STATUS_LIST_SIZE)
    assert bitmap.size == 2 * MIN_STATUS_LIST_SIZE and len(bitmap.data) == bitmap.size // 4
    assert bitmap.get(MIN_STATUS_LIST_SIZE - 1) == 2 and bitmap.get(MIN_STATUS_LIST_SIZE) == 0
    assert bitmap.count(Status.SUSPENDED) == 1 and bitmap.count(Status.VALID) == bitmap.size - 1


# --- what a verifier makes of an entry (SPEC 7.6, V14) ----------------------------------------------------


@pytest.fixture
def lists() -> InMemoryAlliance:
    return InMemoryAlliance(now_s=NOW_S)


def test_valid_revoked_suspended_and_reinstated_codes(lists: InMemoryAlliance) -> None:
    code = lists.issue(QUZHOU, status_index=4242).code
    neighbour = lists.issue(QUZHOU, status_index=4243).code
    other_city = lists.issue(HANGZHOU, status_index=4242).code
    assert lists.verifier().verify(code).status_index == 4242
    lists.set_status(QUZHOU, 4242, Status.REVOKED)
    with pytest.raises(CodeRevokedError):
        lists.verifier().verify(code)
    lists.set_status(QUZHOU, 4242, Status.SUSPENDED)
    with pytest.raises(CodeSuspendedError) as suspended:
        lists.verifier().verify(code)
    assert suspended.value.code == "CC_SUSPENDED" and "信用承诺" in suspended.value.title_zh + suspended.value.title
    lists.set_status(QUZHOU, 4242, Status.VALID)
    verifier = lists.verifier()
    assert verifier.verify(code).status_index == 4242
    assert verifier.verify(neighbour).status_index == 4243
    assert verifier.verify(other_city).city == HANGZHOU  # each city has its own list


def test_the_reserved_value_reads_revoked(lists: InMemoryAlliance) -> None:
    code = lists.issue(QUZHOU, status_index=9).code
    data = bytearray(MIN_STATUS_LIST_SIZE // 4)
    data[2] = 0b0000_1100  # entry 9: bits 3..2 of byte 2 = 3
    lists.status_lists[QUZHOU] = _signed_list(lists, QUZHOU, bytes(data), version=2)
    with pytest.raises(CodeRevokedError):
        lists.verifier().verify(code)


def test_an_index_beyond_the_list_reads_revoked(lists: InMemoryAlliance) -> None:
    issuer = dataclasses.replace(lists.issuer(QUZHOU), status_list_size=2 * MIN_STATUS_LIST_SIZE)
    code = issuer.issue(holder_ref="h", tier=Tier.GOOD, band="", now_s=NOW_S, status_index=MIN_STATUS_LIST_SIZE).code
    with pytest.raises(CodeRevokedError):
        lists.verifier().verify(code)


def test_an_expired_code_is_never_reported_revoked(lists: InMemoryAlliance) -> None:
    code = lists.issue(QUZHOU, status_index=5, ttl_s=60).code
    lists.set_status(QUZHOU, 5, Status.REVOKED)
    from citycredit.errors import CodeExpiredError

    with pytest.raises(CodeExpiredError):
        lists.verifier(now_s=NOW_S + 60).verify(code)


# --- accepting an update (SPEC 7.5) ---------------------------------------------------------------------


def _head(city: int, data: bytes, *, version: int, size: int | None = None, issued_s: int = NOW_S,
          expires_s: int | None = None, bits: int = 2, digest: bytes | None = None) -> bytes:
    return status_pb2.StatusListHead(
        city=city, version=version, bits=bits, size=len(data) * 4 if size is None else size,
        list_sha256=hashlib.sha256(data).digest() if digest is None else digest, issued_at=issued_s,
        expires_at=issued_s + DAY if expires_s is None else expires_s, ttl_s=900).SerializeToString(deterministic=True)


def _signed_list(alliance: InMemoryAlliance, city: int, data: bytes, *, version: int,
                 key: SigningKey | None = None, compressed: bytes | None = None, **head: object) -> bytes:
    signed = sign_part(_head(city, data, version=version, **head), key or alliance.status_keys[city],  # type: ignore[arg-type]
                       STATUS_CONTEXT)
    return status_pb2.StatusListUpdate(list=status_pb2.SignedStatusList(
        head=signed, list_zlib=zlib.compress(data) if compressed is None else compressed)).SerializeToString()


def _delta(alliance: InMemoryAlliance, city: int, old: bytes, new: bytes, *, version: int, from_version: int,
           change: Callable[[status_pb2.StatusListDelta], None] | None = None, **head: object) -> bytes:
    indexes, statuses = status_delta(old, new)
    delta = status_pb2.StatusListDelta(
        head=sign_part(_head(city, new, version=version, **head), alliance.status_keys[city], STATUS_CONTEXT),  # type: ignore[arg-type]
        from_version=from_version, indexes=indexes, statuses=statuses)
    if change is not None:
        change(delta)
    return status_pb2.StatusListUpdate(delta=delta).SerializeToString()


def _open(alliance: InMemoryAlliance, update: bytes, previous: StatusList | None = None, *, city: int = QUZHOU,
          now_s: int = NOW_S, grace_s: int = 0) -> StatusList:
    keys = {alliance.status_keys[city].kid: alliance.status_keys[city].verifying_key()}
    return open_status_update(update, city=city, status_keys=keys, previous=previous, now_s=now_s, grace_s=grace_s)


EMPTY = bytes(MIN_STATUS_LIST_SIZE // 4)


def _with(data: bytes, changes: dict[int, int], size: int | None = None) -> bytes:
    bitmap = StatusBitmap(len(data) * 4, data)
    if size is not None:
        bitmap.grow(size)
    for index, status in changes.items():
        bitmap.set(index, status)
    return bytes(bitmap.data)


def test_a_whole_list_is_accepted_and_read(lists: InMemoryAlliance) -> None:
    data = _with(EMPTY, {7: 1, 8: 2})
    held = _open(lists, _signed_list(lists, QUZHOU, data, version=3))
    assert (held.city, held.version, held.size, held.ttl_s) == (QUZHOU, 3, MIN_STATUS_LIST_SIZE, 900)
    assert (held.status(6), held.status(7), held.status(8)) == (0, 1, 2)


def test_a_delta_applies_to_the_held_list_and_is_checked_against_the_signed_digest(lists: InMemoryAlliance) -> None:
    v1 = _with(EMPTY, {7: 1})
    held = _open(lists, _signed_list(lists, QUZHOU, v1, version=1))
    v2 = _with(v1, {7: 0, 9: 2, MIN_STATUS_LIST_SIZE + 5: 1}, size=2 * MIN_STATUS_LIST_SIZE)  # and the list grows
    newer = _open(lists, _delta(lists, QUZHOU, v1, v2, version=2, from_version=1), held)
    assert newer.version == 2 and newer.size == 2 * MIN_STATUS_LIST_SIZE and newer.data == v2
    assert (newer.status(7), newer.status(9), newer.status(MIN_STATUS_LIST_SIZE + 5)) == (0, 2, 1)

    def lie(delta: status_pb2.StatusListDelta) -> None:
        delta.statuses = bytes([1]) * len(delta.statuses)  # what the head signed is not what arrives

    with pytest.raises(BundleMalformedError, match="signed digest"):
        _open(lists, _delta(lists, QUZHOU, v1, v2, version=2, from_version=1, change=lie), held)


@pytest.mark.parametrize("change", [
    pytest.param(lambda d: setattr(d, "from_version", 7), id="from another version"),
    pytest.param(lambda d: None, id="no held list"),
    pytest.param(lambda d: setattr(d, "statuses", d.statuses[:-1]), id="fewer statuses than indexes"),
    pytest.param(lambda d: d.indexes.reverse(), id="indexes not ascending"),
    pytest.param(lambda d: d.indexes.append(d.indexes[-1]), id="an index twice"),
    pytest.param(lambda d: setattr(d, "statuses", bytes([3]) * len(d.statuses)), id="the reserved value"),
    pytest.param(lambda d: d.indexes.__setitem__(-1, 2 * MIN_STATUS_LIST_SIZE), id="an index beyond the list"),
])
def test_malformed_deltas(lists: InMemoryAlliance, change, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    v1 = EMPTY
    held = None if "no held list" in request.node.name else _open(lists, _signed_list(lists, QUZHOU, v1, version=1))
    v2 = _with(v1, {3: 1, 11: 2})
    with pytest.raises(BundleMalformedError):
        _open(lists, _delta(lists, QUZHOU, v1, v2, version=2, from_version=1, change=change), held)


def test_a_delta_cannot_shrink_the_list(lists: InMemoryAlliance) -> None:
    big = bytes(2 * MIN_STATUS_LIST_SIZE // 4)
    held = _open(lists, _signed_list(lists, QUZHOU, big, version=1))
    with pytest.raises(BundleMalformedError):
        _open(lists, _delta(lists, QUZHOU, EMPTY, _with(EMPTY, {1: 1}), version=2, from_version=1), held)


def test_rollback_and_fork_are_refused_and_the_same_list_is_kept(lists: InMemoryAlliance) -> None:
    first = _signed_list(lists, QUZHOU, EMPTY, version=1)
    second = _signed_list(lists, QUZHOU, _with(EMPTY, {1: 1}), version=2)
    held = _open(lists, second)
    with pytest.raises(BundleRollbackError):
        _open(lists, first, held)
    assert _open(lists, second, held) is held  # the very version again: kept, nothing re-checked
    fork = _signed_list(lists, QUZHOU, _with(EMPTY, {2: 1}), version=2)  # another list under the same version
    with pytest.raises(BundleRollbackError):
        _open(lists, fork, held)


def test_a_list_stale_beyond_the_grace_is_refused(lists: InMemoryAlliance) -> None:
    update = _signed_list(lists, QUZHOU, EMPTY, version=1, issued_s=NOW_S - 2 * DAY)  # expired a day ago
    with pytest.raises(BundleStaleError):
        _open(lists, update)
    assert _open(lists, update, grace_s=DAY).version == 1  # the expiry-plus-grace second is still inside
    with pytest.raises(BundleStaleError):
        _open(lists, update, grace_s=DAY - 1)


@pytest.mark.parametrize("signer", ["another city's status key", "the city's code key", "a stranger"])
def test_only_the_citys_status_keys_sign_its_list(lists: InMemoryAlliance, signer: str) -> None:
    key = {"another city's status key": lists.status_keys[HANGZHOU],
           "the city's code key": lists.keys[(QUZHOU, Algorithm.ED25519)],
           "a stranger": SigningKey.generate()}[signer]
    with pytest.raises(BundleMalformedError, match=r"status key|signature"):
        _open(lists, _signed_list(lists, QUZHOU, EMPTY, version=1, key=key))  # type: ignore[arg-type]


def test_a_list_for_another_city_is_refused(lists: InMemoryAlliance) -> None:
    update = _signed_list(lists, HANGZHOU, EMPTY, version=1, key=lists.status_keys[QUZHOU])
    with pytest.raises(BundleMalformedError, match="was offered for"):
        _open(lists, update)


@pytest.mark.parametrize("head", [
    {"bits": 1}, {"bits": 8}, {"size": MIN_STATUS_LIST_SIZE - 4}, {"size": MIN_STATUS_LIST_SIZE + 2},
    {"size": MAX_STATUS_LIST_SIZE + 4}, {"expires_s": NOW_S}, {"digest": bytes(32)},
])
def test_malformed_heads(lists: InMemoryAlliance, head: dict[str, object]) -> None:
    with pytest.raises(BundleMalformedError):
        _open(lists, _signed_list(lists, QUZHOU, EMPTY, version=1, **head))  # type: ignore[arg-type]


@pytest.mark.parametrize("compressed", [
    pytest.param(zlib.compress(bytes(10 * len(EMPTY))), id="a zip bomb"),
    pytest.param(zlib.compress(EMPTY)[:-3], id="truncated"),
    pytest.param(zlib.compress(EMPTY) + b"tail", id="trailing bytes"),
    pytest.param(zlib.compress(EMPTY[:-1]), id="one byte short"),
    pytest.param(b"not zlib at all", id="not zlib"),
    pytest.param(zlib.compress(EMPTY, wbits=-15), id="raw deflate"),
])
def test_the_whole_list_inflates_to_exactly_its_size(lists: InMemoryAlliance, compressed: bytes) -> None:
    with pytest.raises(BundleMalformedError):
        _open(lists, _signed_list(lists, QUZHOU, EMPTY, version=1, compressed=compressed))


def test_an_update_that_carries_nothing_is_malformed(lists: InMemoryAlliance) -> None:
    with pytest.raises(BundleMalformedError):
        _open(lists, b"")
    with pytest.raises(BundleMalformedError):
        _open(lists, b"\xff\xff\xff")


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_arbitrary_update_bytes_give_only_bundle_errors(data: bytes) -> None:
    try:
        _open(_LISTS, data)
    except BundleError as exc:
        assert exc.code.startswith("CC_BUNDLE_")


_LISTS = InMemoryAlliance(now_s=NOW_S, cities=[(QUZHOU, "quzhou", "衢州", "Quzhou")])


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 4 * MIN_STATUS_LIST_SIZE - 1), st.integers(0, 2), max_size=40),
       st.sampled_from([1, 2, 4]))
def test_a_delta_reproduces_the_new_list(changes: dict[int, int], growth: int) -> None:
    old = _with(EMPTY, {5: 1, 77: 2})
    size = growth * MIN_STATUS_LIST_SIZE
    new = _with(old, {i: s for i, s in changes.items() if i < size}, size=size)
    indexes, statuses = status_delta(old, new)
    assert indexes == sorted(set(indexes)) and len(indexes) == len(statuses) and set(statuses) <= {0, 1, 2}
    held = _open(_LISTS, _signed_list(_LISTS, QUZHOU, old, version=1))
    assert _open(_LISTS, _delta(_LISTS, QUZHOU, old, new, version=2, from_version=1), held).data == new


# --- sizing and allocation (SPEC 7.9) --------------------------------------------------------------------


@given(st.integers(0, 2**31), st.sampled_from([MIN_STATUS_LIST_SIZE * 2**k for k in range(8)]))
def test_grown_size_keeps_at_least_half_the_list_free_doubling_only_as_needed(used: int, size: int) -> None:
    grown = grown_size(size, used)
    assert grown >= max(size, MIN_STATUS_LIST_SIZE) and grown >= 2 * used and grown % MIN_STATUS_LIST_SIZE == 0
    assert (grown // MIN_STATUS_LIST_SIZE).bit_count() == 1  # the minimum times a power of two
    assert grown == size or grown // 2 < 2 * used  # it doubled only as far as it had to
    assert grown_size(grown, used) == grown


def test_grown_size_refuses_more_than_the_largest_list() -> None:
    assert grown_size(MIN_STATUS_LIST_SIZE, 2**31) == MAX_STATUS_LIST_SIZE
    with pytest.raises(InvalidArgumentError):
        grown_size(MIN_STATUS_LIST_SIZE, 2**31 + 1)


class _Rng:
    """A seeded random source with the `secrets` interface the core takes."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def randbelow(self, exclusive_upper_bound: int) -> int:
        return self._random.randrange(exclusive_upper_bound)

    def token_bytes(self, nbytes: int | None = None) -> bytes:
        return self._random.randbytes(nbytes or 32)


def test_pick_status_index_only_returns_free_indexes() -> None:
    taken = set(range(0, MIN_STATUS_LIST_SIZE, 2))
    rng = _Rng(1)
    picks = [pick_status_index(MIN_STATUS_LIST_SIZE, lambda i: i not in taken, len(taken), rng) for _ in range(500)]
    assert all(p % 2 for p in picks) and len(set(picks)) > 450  # random, not the first free one


def test_pick_status_index_in_a_nearly_full_list_still_finds_the_last_free_one() -> None:
    size = MIN_STATUS_LIST_SIZE
    assert pick_status_index(size, lambda i: i == 77_777, size - 1, _Rng(2)) == 77_777
    with pytest.raises(UnavailableError):
        pick_status_index(size, lambda i: False, size, _Rng(3))
    with pytest.raises(UnavailableError):  # the count says one is free, none is: a clear error, not a loop
        pick_status_index(size, lambda i: False, size - 1, _Rng(4))


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(live=st.integers(8_380_000, 10_000_000), issued=st.integers(1, 20_000), seed=st.integers(0, 2**32))
@example(live=8_388_000, issued=2_000, seed=7)  # crosses 2^23 live codes: the list doubles to 2^25 entries
def test_a_city_with_ten_million_live_codes_grows_its_list_and_keeps_indexes_unique(live: int, issued: int,
                                                                                    seed: int) -> None:
    """The issuer's allocation (`grown_size` + `pick_status_index`, as `CityOffice.issue` calls them) on a model
    of the register: a byte per list entry saying whether a live code holds it, `live` of them set at random
    (what earlier issues left), then `issued` more codes. Modelled: the register's "index taken by a live code"
    and the live count; not modelled: signatures, expiry and revocation (see the state machine below)."""
    rng = _Rng(seed)
    size = grown_size(MIN_STATUS_LIST_SIZE, live)
    taken = bytearray(random.Random(seed).randbytes(size))
    threshold = round(256 * live / size)  # each entry taken with probability live/size
    taken = bytearray(taken.translate(bytes(int(b < threshold) for b in range(256))))
    live = taken.count(1)
    sizes = {size}
    for _ in range(issued):
        grown = grown_size(size, live + 1)
        if grown != size:
            taken.extend(bytes(grown - size))
            size = grown
            sizes.add(size)
        index = pick_status_index(size, lambda i: not taken[i], live, rng)
        assert not taken[index], "two live codes on one index"
        taken[index] = 1
        live += 1
        assert size >= 2 * live
    assert taken.count(1) == live and live >= 8_380_001
    if live > 2**23:  # a list of 2^24 entries holds 2^23 live codes: past that it doubled
        assert max(sizes) == 2**25


class RegisterModel(RuleBasedStateMachine):
    """A city's register over time: issue, revoke, suspend, reinstate, expire, re-sign. No live code ever shares
    an index with another, and a new code never lands on an entry that is not VALID (it would be born revoked)."""

    @initialize(seed=st.integers(0, 2**32))
    def start(self, seed: int) -> None:
        self.rng = _Rng(seed)
        self.now = NOW_S
        self.bitmap = StatusBitmap()
        self.codes: dict[int, tuple[int, int]] = {}  # code number -> (index, expires_at)
        self.next_code = 0

    def _live(self) -> dict[int, int]:
        return {n: index for n, (index, expires) in self.codes.items() if expires > self.now}

    @rule(ttl=st.integers(1, 600))
    def issue(self, ttl: int) -> None:
        live = self._live()
        taken = set(live.values())
        size = grown_size(self.bitmap.size, len(live) + 1)
        if size != self.bitmap.size:
            self.bitmap.grow(size)
        index = pick_status_index(size, lambda i: self.bitmap.get(i) == 0 and i not in taken, len(live), self.rng)
        assert index not in taken and self.bitmap.get(index) == 0
        self.codes[self.next_code] = (index, self.now + ttl)
        self.next_code += 1

    @precondition(lambda self: bool(self._live()))
    @rule(which=st.integers(0, 10**6), status=st.sampled_from([Status.REVOKED, Status.SUSPENDED, Status.VALID]))
    def change(self, which: int, status: Status) -> None:
        live = sorted(self._live().items())
        self.bitmap.set(live[which % len(live)][1], status)

    @rule(seconds=st.integers(1, 400))
    def wait(self, seconds: int) -> None:
        self.now += seconds

    @rule()
    def resign(self) -> None:
        """Entries whose codes have all expired go back to VALID (SPEC 7.9)."""
        live = set(self._live().values())
        for index, _expires in self.codes.values():
            if index not in live:
                self.bitmap.set(index, Status.VALID)

    @invariant()
    def indexes_are_unique_among_live_codes(self) -> None:
        live = list(self._live().values())
        assert len(live) == len(set(live))


TestRegisterModel = RegisterModel.TestCase
TestRegisterModel.settings = settings(max_examples=30, stateful_step_count=40, deadline=None)
