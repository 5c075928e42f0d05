"""The vectors about what a verifier trusts: status lists, the trust set's roles, eligibility, adapter tables.

Each broken trust set is the `lite` (or `main`) alliance with one thing done wrong by the
party who could do it; the case names what must be refused and what still verifies.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from citycredit._gen.citycredit.v1 import status_pb2
from citycredit.adapters import load_registry
from citycredit.core import Tier, city_metadata, city_role, renew_timestamp, root_metadata, sign_metadata

from ._codes import Built
from ._deterministic import deflate_fixed
from ._fixtures import (
    AGREEMENTS,
    HANGZHOU,
    HUZHOU,
    ISSUED,
    JIAXING,
    OFFERS,
    PUBLISHED,
    QUZHOU,
    SHANGHAI,
    T0,
    XIAMEN,
    lite_alliance,
)
from ._format import FORMAT
from ._tables import adapter_rows
from ._trustsets import DAY, Alliance, CityConfig, StatusConfig, public_key
from ._writer import ADAPTER_SPEC, Step, VectorWriter

__all__ = ["adapter_layer", "eligibility_layer", "status_layer", "trust_layer"]

GRACE_S = 3 * DAY  # the alliance's default offline grace, which the protocol uses


def _hz(w: VectorWriter, name: str, **kwargs: Any) -> Built:
    return w.mint.issue(name, w.keys.hz_ed, HANGZHOU, issued=kwargs.pop("issued", ISSUED), **kwargs)


def _qz(w: VectorWriter, name: str, **kwargs: Any) -> Built:
    return w.mint.issue(name, w.keys.qz_ed, QUZHOU, issued=kwargs.pop("issued", ISSUED), **kwargs)


# --- status lists --------------------------------------------------------------------------------------


def status_layer(w: VectorWriter, lite: Alliance) -> None:
    k = w.keys
    entry = "SPEC 7.1, 7.6, 8.2 V14"

    def fail(name: str, description: str, code: Built, stage: str, *errors: str, case_spec: str = entry,
             **step: Any) -> None:
        w.verify("status", name, description, code, spec=case_spec, stage=stage, errors=errors, **step)

    def ok(name: str, description: str, code: Built, case_spec: str = entry, **step: Any) -> None:
        w.verify("status", name, description, code, spec=case_spec, **step)

    # Entries of the main trust set's Hangzhou list (two bits each, least significant first).
    fail("revoked_fail", "Hangzhou status index 1234 is REVOKED (1)", _hz(w, "status-1234", status_index=1234),
         "status", "CC_REVOKED")
    fail("suspended_fail", "Hangzhou status index 1240 is SUSPENDED (2): under appeal or a credit commitment",
         _hz(w, "status-1240", status_index=1240), "status", "CC_SUSPENDED")
    ok("neighbour_valid", "index 1235, next to a revoked entry, is VALID", _hz(w, "status-1235", status_index=1235))
    for index, value, name in ((0, 0, "index_0_valid"), (1, 1, "index_1_revoked_fail"),
                               (2, 2, "index_2_suspended_fail"), (3, 3, "index_3_reserved_fail"),
                               (4, 0, "index_4_valid")):
        what = (f"index {index}: byte 0 is E4 (entries 0, 1, 2, 3 = VALID, REVOKED, SUSPENDED, 3) read least "
                "significant bits first" if index < 4 else "index 4: the first entry of byte 1, VALID")
        code = _hz(w, f"status-bit-{index}", status_index=index)
        if value == 0:
            ok(name, what, code)
        elif value == 2:
            fail(name, what, code, "status", "CC_SUSPENDED")
        else:
            fail(name, what + (" (3 is reserved and reads REVOKED)" if value == 3 else ""), code, "status",
                 "CC_REVOKED")
    fail("last_index_revoked_fail", "index 131071, the last entry of the list, is REVOKED",
         _hz(w, "status-last", status_index=131_071), "status", "CC_REVOKED")
    beyond = w.mint.claims("status-beyond", HANGZHOU, issued=ISSUED, status_index=131_072)  # Issuer refuses it
    fail("index_beyond_list_fail", "index 131072, beyond the list, reads REVOKED (no issuer hands it out)",
         w.mint.sign(beyond, k.hz_ed), "status", "CC_REVOKED")
    ok("other_city_same_index_valid", "a Quzhou code at index 1234 (revoked in Hangzhou's list only)",
       _qz(w, "status-qz-1234", status_index=1234))
    fail("other_city_revoked_fail", "Quzhou status index 4321 is REVOKED", _qz(w, "status-qz-4321", status_index=4321),
         "status", "CC_REVOKED")

    # Versions: newer lists replace older ones; a verifier holding version N refuses anything older or forked.
    v1 = lite.clone()
    v1.set_status(HANGZHOU, StatusConfig(version=1, entries={1234: 1}))
    w.trust_set("lite_status_v1", v1, "The lite trust set with Hangzhou's status list at version 1 (older).")
    fork = lite.clone()
    fork.set_status(HANGZHOU, StatusConfig(version=2, entries={1234: 1, 1240: 2, 1500: 1}))
    w.trust_set("lite_status_fork", fork, "Hangzhou's status list at version 2 again, with other entries (a fork).")
    v3 = StatusConfig(version=3, entries={1234: 1, 2000: 1})
    reinstated = lite.clone()
    reinstated.set_status(HANGZHOU, v3)
    w.trust_set("lite_status_v3", reinstated, "Hangzhou's list at version 3: 1240 back to VALID, 2000 REVOKED.")
    code = _hz(w, "status-versions")
    suspended = _hz(w, "status-versions-1240", status_index=1240)
    versions = "SPEC 7.5 S4"
    w.case("status", "reinstated_valid", "index 1240 SUSPENDED in version 2, then VALID in version 3 (a later list "
           "reinstates it)", [Step(suspended, trust="lite", stage="status", errors=("CC_SUSPENDED",)),
                              Step(suspended, trust="lite_status_v3")], spec=versions, state=True)
    w.case("status", "list_rollback_fail", "the verifier holds Hangzhou's list version 2 and is offered version 1: "
           "exit 2, whatever the code", [Step(code, trust="lite"),
                                         Step(code, trust="lite_status_v1", stage="trust",
                                              errors=("CC_BUNDLE_ROLLBACK",))], spec=versions, state=True)
    ok("older_list_fresh_verifier_valid", "Hangzhou's list version 1 to a verifier that holds nothing: accepted",
       code, case_spec=versions, trust="lite_status_v1")
    w.case("status", "list_fork_fail", "the verifier holds version 2 and is offered a different list under "
           "version 2", [Step(code, trust="lite"), Step(code, trust="lite_status_fork", stage="trust",
                                                       errors=("CC_BUNDLE_ROLLBACK",))], spec=versions, state=True)
    w.case("status", "same_list_again_valid", "the same list offered again to a verifier that holds it",
           [Step(code, trust="lite"), Step(code, trust="lite")], spec=versions, state=True)
    # Deltas (SPEC 7.4) are not exercised: a trust directory's status/<city>.pb carries a whole list (SPEC 6.6).
    # Freshness: a list past its expiry plus the grace is stale for its own city only.
    stale = lite.clone()
    stale.set_status(HANGZHOU, StatusConfig(version=2, entries={1234: 1, 1240: 2}, issued_s=T0 - 5 * DAY,
                                            expires_s=T0 - 4 * DAY))
    w.trust_set("lite_status_stale", stale, "Hangzhou's status list expired four days before T0 (beyond the "
                "three-day grace); Quzhou's is fresh.")
    expired = lite.clone()
    expired.set_status(HANGZHOU, StatusConfig(version=2, entries={1234: 1, 1240: 2}, issued_s=T0 - DAY - 3600,
                                              expires_s=T0 - 3600))
    w.trust_set("lite_status_expired_1h", expired, "Hangzhou's status list expired an hour before T0 (inside "
                "the grace).")
    freshness = "SPEC 7.5 S5, 7.7, 8.2 V13"
    fail("stale_list_fail", "Hangzhou's list expired beyond the grace: a Hangzhou code cannot be judged (exit 2)",
         code, "status_list", "CC_BUNDLE_STALE", case_spec=freshness, trust="lite_status_stale")
    ok("stale_list_other_city_valid", "the same trust set: a Quzhou code still verifies (staleness is per city)",
       _qz(w, "status-stale-other"), case_spec=freshness, trust="lite_status_stale")
    w.case("status", "stale_update_keeps_held_list_valid", "the verifier holds Hangzhou's list version 1 (fresh) and "
           "is offered version 2 expired beyond the grace: the update is refused, the held list stays in use",
           [Step(code, trust="lite_status_v1"), Step(code, trust="lite_status_stale")], spec="SPEC 7.5 S5, 7.7",
           state=True)
    ok("expired_list_within_grace_valid", "Hangzhou's list expired an hour ago, inside the grace", code,
       case_spec="SPEC 7.5 S5, 9.4", trust="lite_status_expired_1h")
    missing = lite.clone()
    del missing.status_lists[HANGZHOU]
    w.trust_set("lite_status_missing", missing, "No status list of Hangzhou at all; Quzhou's is there.")
    fail("no_list_fail", "no status list of Hangzhou: its codes cannot be judged (exit 2)", code, "status_list",
         "CC_BUNDLE_STALE", case_spec="SPEC 7.7, 8.2 V13", trust="lite_status_missing")
    ok("no_list_other_city_valid", "the same trust set: a Quzhou code verifies", _qz(w, "status-missing-other"),
       case_spec="SPEC 7.7, 8.2 V13", trust="lite_status_missing")
    # Who signs: only one of the city's status keys.
    signer = "SPEC 7.3, 7.5 S2"
    for name, key, what in (("lite_status_signed_by_quzhou", k.status[QUZHOU], "Quzhou's status key"),
                            ("lite_status_signed_by_code_key", k.hz_ed, "Hangzhou's own code-signing key")):
        wrong = lite.clone()
        wrong.set_status(HANGZHOU, StatusConfig(version=2, entries={1234: 1, 1240: 2}, signer=key))
        w.trust_set(name, wrong, f"Hangzhou's status list signed by {what}, not by a status key of its keys part.")
    refused = ("CC_BUNDLE_MALFORMED", "CC_BUNDLE_STALE")
    fail("list_signed_by_other_city_fail", "Hangzhou's list signed by Quzhou's status key: refused, so no Hangzhou "
         "code can be judged", code, "trust", *refused, case_spec=signer, trust="lite_status_signed_by_quzhou")
    fail("list_signed_by_code_key_fail", "Hangzhou's list signed by Hangzhou's code key (not a status key)", code,
         "trust", *refused, case_spec=signer, trust="lite_status_signed_by_code_key")
    other = lite.clone()
    other.set_status(HANGZHOU, StatusConfig(version=2, entries={1234: 1}, city=QUZHOU))
    w.trust_set("lite_status_names_other_city", other, "Hangzhou's status file holds a head naming Quzhou, signed "
                "by Hangzhou's status key.")
    fail("list_names_other_city_fail", "Hangzhou's status file carries a list whose head names Quzhou", code, "trust",
         *refused, case_spec="SPEC 7.2, 7.5 S3", trust="lite_status_names_other_city")
    digest = lite.clone()
    update = status_pb2.StatusListUpdate()
    update.ParseFromString(digest.status_lists[HANGZHOU])
    update.list.list_zlib = deflate_fixed(bytes(131_072 // 4))  # every entry VALID: not the signed digest
    digest.status_lists[HANGZHOU] = update.SerializeToString(deterministic=True)
    w.trust_set("lite_status_digest_mismatch", digest, "Hangzhou's signed head, but a list (all VALID) whose SHA-256 "
                "is not the one it signs.")
    fail("list_digest_mismatch_fail", "Hangzhou's list does not match the digest its head signs (1234 would read "
         "VALID)", _hz(w, "status-digest-1234", status_index=1234), "trust", *refused, case_spec="SPEC 7.5 S7",
         trust="lite_status_digest_mismatch")


# --- the trust set --------------------------------------------------------------------------------------


def trust_layer(w: VectorWriter, lite: Alliance) -> None:
    k = w.keys
    spec, rotation = "SPEC 6.7", "SPEC 6.9, 6.7 T3"
    code, other = _hz(w, "trust-code"), _qz(w, "trust-other")

    def fail(name: str, description: str, trust: str, *errors: str, case_spec: str = spec, stage: str = "trust",
             built: Built = code, **step: Any) -> None:
        w.verify("trust", name, description, built, spec=case_spec, stage=stage, errors=errors, trust=trust, **step)

    def ok(name: str, description: str, trust: str, case_spec: str = spec, built: Built = code, **step: Any) -> None:
        w.verify("trust", name, description, built, spec=case_spec, trust=trust, **step)

    ok("lite_valid", "the lite trust set and a Hangzhou code", "lite")
    # Parts out of the chain anchor -> governance -> city authority -> part.
    foreign = lite.clone()
    foreign.publish_city(HANGZHOU, signer=k.authority[QUZHOU])
    w.trust_set("lite_city_signed_by_other_authority", foreign, "Hangzhou's role signed by Quzhou's authority key "
                "(the targets delegate it to Hangzhou's).")
    fail("city_role_signed_by_other_authority_fail", "Hangzhou's part signed by another city's authority key",
         "lite_city_signed_by_other_authority", "CC_BUNDLE_THRESHOLD", case_spec="SPEC 6.4, 6.7 T10")

    def edit_keys_part(directory: Path) -> None:
        [part] = (directory / "targets" / "cities" / f"{HANGZHOU:06d}").glob("*.keys.pb")
        data = bytearray(part.read_bytes())
        data[-1] ^= 1
        part.write_bytes(bytes(data))

    w.trust_set("lite_part_edited", lite, "The lite trust set with one byte of Hangzhou's keys part changed after "
                "its role signed it (the file keeps its name).", after=edit_keys_part)
    fail("part_edited_after_signing_fail", "Hangzhou's keys part no longer matches the hash its role signed",
         "lite_part_edited", "CC_BUNDLE_MALFORMED", case_spec="SPEC 6.7 T10")
    def drop(pattern: str) -> Any:
        def after(directory: Path) -> None:
            [found] = directory.glob(pattern)
            found.unlink()

        return after

    w.trust_set("lite_part_missing", lite, "The lite trust set without Hangzhou's keys part (its role lists it).",
                after=drop(f"targets/cities/{HANGZHOU:06d}/*.keys.pb"))
    fail("part_missing_fail", "a part its role lists is not in the trust set", "lite_part_missing",
         "CC_BUNDLE_MALFORMED", case_spec="SPEC 6.4, 6.7 T10")
    w.trust_set("lite_role_missing", lite, "The lite trust set without Hangzhou's role metadata (the snapshot names "
                "it).", after=drop(f"metadata/1.city-{HANGZHOU:06d}.json"))
    fail("role_file_missing_fail", "a role the snapshot names is not in the trust set: refused like any trust set "
         "that cannot be verified", "lite_role_missing", "CC_BUNDLE_MALFORMED", case_spec="SPEC 6.7")
    undelegated = lite.clone()
    shanghai = CityConfig(city=SHANGHAI, slug="shanghai", name_zh="上海", name_en="Shanghai",
                          authority=k.authority[SHANGHAI], status_key=k.status[SHANGHAI],
                          code_keys=[public_key(k.sh_ed, not_before=T0 - 365 * DAY)])
    keys_part, offers_part, policy_part = shanghai.parts()
    metadata, files = city_metadata(keys=keys_part, offers=offers_part, policy=policy_part, version=1, now_s=PUBLISHED)
    undelegated.publish_undelegated(city_role(SHANGHAI), sign_metadata(metadata, [k.authority[SHANGHAI]]), files)
    w.trust_set("lite_undelegated_role", undelegated, "The gateway's snapshot lists a role city-310000 (Shanghai, "
                "with its own key and parts) that the top-level targets do not delegate.")
    fail("undelegated_role_fail", "a Shanghai code whose key only an undelegated role lists: no such key",
         "lite_undelegated_role", "CC_KEY_UNKNOWN", stage="key", case_spec="SPEC 6.7, 4.3",
         built=w.mint.issue("trust-shanghai", k.sh_ed, SHANGHAI, issued=ISSUED))
    ok("undelegated_role_ignored_valid", "the same trust set: a Hangzhou code verifies (the stray role is ignored)",
       "lite_undelegated_role", case_spec="SPEC 6.7")
    kid_mismatch = lite.clone()
    kid_mismatch.cities[HANGZHOU].code_keys = [public_key(k.hz_ed, not_before=T0 - 365 * DAY, kid=b"\0" * 8)]
    kid_mismatch.publish_city(HANGZHOU)
    w.trust_set("lite_keys_kid_mismatch", kid_mismatch, "Hangzhou's keys part lists its key under a kid that is not "
                "the hash of its SPKI.")
    fail("keys_part_kid_mismatch_fail", "a keys part whose kid is not SHA-256(SPKI)[:8]", "lite_keys_kid_mismatch",
         "CC_BUNDLE_MALFORMED", case_spec="SPEC 4.2, 6.5")
    stray = lite.clone()
    stray.cities[HANGZHOU].offers.append(next(o for o in OFFERS if o.city == QUZHOU))
    stray.publish_city(HANGZHOU)
    w.trust_set("lite_offer_of_other_city", stray, "Hangzhou's offers part carries an offer of Quzhou.")
    fail("offer_of_other_city_fail", "a city's offers part with an offer of another host city",
         "lite_offer_of_other_city", "CC_BUNDLE_MALFORMED", case_spec="SPEC 6.5")
    # Signatures and thresholds of the top-level roles.
    one = lite.clone()
    one.publish(targets=one.signed_targets(k.governance[:1]))
    w.trust_set("lite_targets_one_signature", one, "Top-level targets signed by one governance key of the two "
                "root requires.")
    fail("targets_one_signature_fail", "top-level targets below the governance threshold", "lite_targets_one_signature",
         "CC_BUNDLE_THRESHOLD", case_spec="SPEC 6.7 T7")
    wrong_key = lite.clone()
    wrong_key.snapshot_key = k.timestamp
    wrong_key.publish()
    w.trust_set("lite_snapshot_by_timestamp_key", wrong_key, "The snapshot signed with the gateway's timestamp key "
                "(root names another key for snapshot).")
    fail("snapshot_wrong_key_fail", "the snapshot signed by the timestamp key", "lite_snapshot_by_timestamp_key",
         "CC_BUNDLE_THRESHOLD", case_spec="SPEC 6.7 T6")

    def edit_snapshot(directory: Path) -> None:
        [snapshot] = (directory / "metadata").glob("*.snapshot.json")
        snapshot.write_bytes(snapshot.read_bytes() + b" ")

    w.trust_set("lite_snapshot_edited", lite, "The lite trust set with a space appended to the snapshot file (its "
                "length no longer what the timestamp signed).", after=edit_snapshot)
    fail("snapshot_edited_fail", "the snapshot does not match the length and hash the timestamp signs",
         "lite_snapshot_edited", "CC_BUNDLE_MALFORMED", case_spec="SPEC 6.7 T6")
    foreign_root = sign_metadata(root_metadata(governance=k.foreign_governance, threshold=2, timestamp_key=k.rogue,
                                               snapshot_key=k.rogue, version=1, now_s=PUBLISHED),
                                 k.foreign_governance[:2])
    w.trust_set("lite_foreign_anchor", lite, "The lite trust set with an anchor.json of another alliance (its own "
                "governance, timestamp and snapshot keys).", anchor=foreign_root)
    fail("foreign_anchor_fail", "a trust set that does not chain to the pinned anchor", "lite_foreign_anchor",
         "CC_BUNDLE_THRESHOLD", case_spec="SPEC 6.9, 6.7 T5")
    # Rollback of one part through --state, and of the whole set.
    v2 = lite.clone()
    v2.cities[HANGZHOU].code_keys.append(public_key(k.hz_p256, not_before=T0 - 365 * DAY))
    v2.publish_city(HANGZHOU)
    w.trust_set("lite_city_v2", v2, "The lite trust set after Hangzhou published version 2 of its role (adding its "
                "P-256 key); snapshot and timestamp version 2.")
    rollback = lite.clone()
    rollback.publish()
    rollback.publish()
    w.trust_set("lite_city_rollback", rollback, "A gateway's snapshot and timestamp version 3 that list Hangzhou's "
                "role version 1 again (after version 2 was published).")
    w.case("trust", "city_part_rollback_fail", "the verifier accepted Hangzhou's role version 2; a newer snapshot "
           "offers version 1", [Step(code, trust="lite_city_v2"),
                                Step(code, trust="lite_city_rollback", stage="trust", errors=("CC_BUNDLE_ROLLBACK",))],
           spec="SPEC 6.7 T6", state=True)
    ok("city_part_rollback_fresh_verifier_valid", "the same trust set to a verifier that holds nothing: accepted "
       "(only the state shows the rollback)", "lite_city_rollback", case_spec="SPEC 6.7, 11.1")
    w.case("trust", "timestamp_rollback_fail", "the verifier accepted timestamp version 2; the older trust set "
           "(timestamp version 1) is offered",
           [Step(code, trust="lite_city_v2"), Step(code, trust="lite", stage="trust", errors=("CC_BUNDLE_ROLLBACK",))],
           spec="SPEC 6.7 T5", state=True)
    fork = lite.clone()
    fork.repository = renew_timestamp(dataclasses.replace(fork.repository, timestamp=b""), signer=k.timestamp,
                                      now_s=PUBLISHED + 60)
    w.trust_set("lite_timestamp_fork", fork, "The lite trust set with another timestamp version 1 (signed a minute "
                "later, so its bytes differ).")
    w.case("trust", "timestamp_fork_fail", "the verifier accepted timestamp version 1; a different timestamp under "
           "version 1 is offered", [Step(code, trust="lite"), Step(code, trust="lite_timestamp_fork", stage="trust",
                                                                     errors=("CC_BUNDLE_ROLLBACK",))],
           spec="SPEC 6.7 T5", state=True)
    w.case("trust", "newer_trust_set_valid", "the verifier accepted version 1 of everything; version 2 moves it "
           "forward", [Step(code, trust="lite"), Step(code, trust="lite_city_v2")], spec="SPEC 6.7 T5-T6", state=True)
    # Freshness of the timestamp (3-day grace) and of a city's role (its own codes only).
    stale = lite.clone()
    stale.renew_timestamp(now_s=T0 - 5 * DAY)
    w.trust_set("lite_timestamp_expired_4d", stale, "The timestamp expired four days before T0 (beyond the "
                "three-day grace).")
    late = lite.clone()
    late.renew_timestamp(now_s=T0 - DAY - 3600)
    w.trust_set("lite_timestamp_expired_1h", late, "The timestamp expired an hour before T0 (inside the grace).")
    fresh = "SPEC 6.7 T5, 6.8"
    fail("timestamp_stale_fail", "the timestamp expired beyond the offline grace: nothing can be judged (exit 2)",
         "lite_timestamp_expired_4d", "CC_BUNDLE_STALE", case_spec=fresh)
    ok("timestamp_within_grace_valid", "the timestamp expired an hour ago, inside the grace",
       "lite_timestamp_expired_1h", case_spec=fresh)
    city_stale = lite.clone()
    city_stale.publish_city(HANGZHOU, now_s=T0 - 35 * DAY)
    w.trust_set("lite_city_stale", city_stale, "Hangzhou's role expired five days before T0 (signed 35 days before, "
                "for 30 days); Quzhou's is fresh.")
    part_fresh = "SPEC 6.8, 8.2 V8"
    fail("city_part_stale_fail", "Hangzhou's part expired beyond the grace: its codes cannot be judged (exit 2)",
         "lite_city_stale", "CC_BUNDLE_STALE", case_spec=part_fresh, stage="city_part")
    ok("city_part_stale_other_city_valid", "the same trust set: a Quzhou code verifies", "lite_city_stale",
       case_spec=part_fresh, built=other)
    # Agreements: every city they bind signs, whatever the delegation says.
    agreement = next(a for a in AGREEMENTS if a.id == "hz-qz")
    half = lite.clone()
    half.publish_agreement(agreement, signers=[HANGZHOU])
    w.trust_set("lite_agreement_one_signature", half, "Agreement hz-qz (version 2) signed by Hangzhou only.")
    low = lite.clone()
    low.publish_agreement(agreement, signers=[HANGZHOU], threshold=1)
    w.trust_set("lite_agreement_threshold_1", low, "Agreement hz-qz delegated with a threshold of 1 (of its two "
                "cities) and signed by Hangzhou only.")
    visitor = _qz(w, "trust-visitor", audience=HANGZHOU, tier=Tier.EXCELLENT)
    agreements = "SPEC 6.4, 6.7 T11"
    for name, trust, what in (("agreement_missing_signature_fail", "lite_agreement_one_signature",
                               "agreement hz-qz lacks Quzhou's signature"),
                              ("agreement_low_threshold_fail", "lite_agreement_threshold_1",
                               "agreement hz-qz's role asks for one signature of two; only Hangzhou signed")):
        w.case("trust", name, f"{what}: a Quzhou visitor who needs it at a Hangzhou library gets a refusal, and "
               "the core refuses the whole trust set while opening it (exit 2)",
               [Step(visitor, trust=trust, command="check", offer="hz-library", stage="trust",
                     errors=("CC_BUNDLE_THRESHOLD",))], spec=agreements)
    # Governance rotation: the old threshold and the new one.
    g = k.governance
    for name, signers, about in (
            ("lite_rotated", [*g[:2], *g[3:5]], "Root version 2 rotates governance to keys 4-6, signed by two old "
                                                "and two new keys; targets signed by the new keys."),
            ("lite_rotation_old_only", g[:2], "Root version 2 (governance keys 4-6) signed by two old keys only."),
            ("lite_rotation_new_only", g[3:5], "Root version 2 (governance keys 4-6) signed by two new keys only.")):
        rotated = lite.clone()
        rotated.rotate_governance(g[3:6], signers=signers)
        w.trust_set(name, rotated, about)
    hidden = lite.clone()
    hidden.publish()
    hidden.publish()
    w.trust_set("lite_rotation_hidden", hidden, "The lite trust set renewed to timestamp version 3 without the "
                "rotation (root version 1 only): what a gateway hiding a rotation serves.")
    ok("rotation_valid", "root version 2 signed by the old threshold and the new one", "lite_rotated",
       case_spec=rotation)
    fail("rotation_old_keys_only_fail", "root version 2 signed by the old keys only (the new threshold is missing)",
         "lite_rotation_old_only", "CC_BUNDLE_THRESHOLD", case_spec=rotation)
    fail("rotation_new_keys_only_fail", "root version 2 signed by the new keys only (the old threshold is missing)",
         "lite_rotation_new_only", "CC_BUNDLE_THRESHOLD", case_spec=rotation)
    w.case("trust", "rotation_then_old_root_fail", "the verifier accepted the rotation (its state now holds root "
           "version 2); a trust set with root version 1 only is then refused",
           [Step(code, trust="lite_rotated"), Step(code, trust="lite_rotation_hidden", stage="trust",
                                                   errors=("CC_BUNDLE_ROLLBACK",))], spec="SPEC 6.9, 6.7 T8",
           state=True)
    ok("rotation_hidden_fresh_verifier_valid", "the trust set without the rotation, to a verifier that holds "
       "nothing: accepted", "lite_rotation_hidden", case_spec=rotation)
    gap = lite.clone()
    gap.rotate_governance(g[3:6], signers=[*g[:2], *g[3:5]])
    gap.rotate_governance(g[3:6], signers=g[3:5])

    def drop_root_2(directory: Path) -> None:
        (directory / "metadata" / "2.root.json").unlink()

    w.trust_set("lite_root_chain_gap", gap, "Roots 1 and 3 (governance keys 4-6 since root 2) with 2.root.json "
                "missing; targets signed by the new keys.", after=drop_root_2)
    fail("root_chain_gap_fail", "the rotation chain skips version 2: a reader takes newer roots until the first one "
         "absent (root 3 is never reached), and the targets the new keys signed do not verify under root 1",
         "lite_root_chain_gap", "CC_BUNDLE_THRESHOLD", case_spec="SPEC 6.6, 6.9, 6.7 T7")
    expired_root = lite_alliance(k, root_ttl_s=T0 - 5 * DAY - PUBLISHED)
    w.trust_set("lite_root_expired", expired_root, "The lite alliance whose only root expired five days before T0.")
    fail("root_expired_fail", "the root expired beyond the grace", "lite_root_expired", "CC_BUNDLE_STALE",
         case_spec="SPEC 6.7 T4")


# --- eligibility ------------------------------------------------------------------------------------------

_TEXTS = {o.id: o.benefit.text_zh for o in OFFERS}


def eligibility_layer(w: VectorWriter, lite: Alliance) -> None:
    k, mint = w.keys, w.mint
    steps = {"WRONG_AUDIENCE": "E2", "NO_RULES": "E3", "OFFER_NOT_ACTIVE": "E4", "NO_AGREEMENT": "E5",
             "OFFER_LOCAL_ONLY": "E5", "TIER_TOO_LOW": "E6", "QUOTA_EXHAUSTED": "E7", "OFFER_UNKNOWN": "E0"}

    def check(name: str, description: str, code: Built | str, offer: str, *, eligible: bool = False,
              reason: str | None = None, tier: Tier | None = None, local: bool = False, agreement: str | None = None,
              quota: int | None = None, stage: str | None = None, errors: tuple[str, ...] = (), at: int = T0,
              trust: str = "offers", exit_code: int | None = None) -> None:
        result: dict[str, Any] = {"eligible": eligible, "reason": reason, "offer": offer,
                                  "tier": None if tier is None else tier.name, "treated_as_local": local,
                                  "agreement": agreement, "quota_remaining": quota}
        if eligible:
            result["benefit"] = _TEXTS[offer]
        if stage == "trust":
            result = {}
        spec = (f"SPEC 8.5 {steps[reason]}" if reason in steps else "SPEC 8.6" if reason else
                "SPEC 8.6, 8.9" if stage == "trust" else "SPEC 8.5")
        w.case("eligibility", name, description, [Step(code, trust=trust, at=at, command="check", offer=offer,
                                                       stage=stage, errors=errors, result=result, exit=exit_code)],
               spec=spec)

    def code(name: str, city: int = HANGZHOU, tier: Tier = Tier.GOOD, **kwargs: Any) -> Built:
        return mint.issue(f"elig-{name}", k.code_key(city), city, tier=tier, issued=kwargs.pop("issued", ISSUED),
                          **kwargs)

    good = code("hz-good")
    check("resident_at_minimum_eligible", "a Hangzhou resident at the offer's minimum tier (GOOD)", good, "hz-library",
          eligible=True, tier=Tier.GOOD, local=True)
    check("resident_above_minimum_eligible", "a Hangzhou resident above the minimum (OUTSTANDING)",
          code("hz-outstanding", tier=Tier.OUTSTANDING), "hz-library", eligible=True, tier=Tier.OUTSTANDING, local=True)
    check("resident_tier_too_low_fail", "a Hangzhou resident one tier below the minimum",
          code("hz-fair", tier=Tier.FAIR), "hz-library", reason="TIER_TOO_LOW", tier=Tier.FAIR, local=True)
    check("restricted_tier_fail", "a RESTRICTED (失信) holder at an offer open from FAIR",
          code("hz-restricted", tier=Tier.RESTRICTED), "hz-parking", reason="TIER_TOO_LOW", tier=Tier.RESTRICTED,
          local=True)
    check("resident_local_only_eligible", "a Hangzhou resident at a local-only offer",
          code("hz-excellent", tier=Tier.EXCELLENT), "hz-housing-fund", eligible=True, tier=Tier.EXCELLENT, local=True)
    # Visitors: a code for the host city (its audience), an agreement in force, an offer open to visitors.
    qz_excellent = code("qz-excellent", QUZHOU, Tier.EXCELLENT, audience=HANGZHOU)
    check("visitor_agreement_eligible", "a Quzhou visitor (a code for Hangzhou) under the Hangzhou–Quzhou agreement",
          qz_excellent, "hz-library", eligible=True, tier=Tier.EXCELLENT, local=True, agreement="hz-qz")
    check("visitor_agreement_tier_too_low_fail", "a Quzhou visitor covered by the agreement, tier too low",
          code("qz-fair", QUZHOU, Tier.FAIR, audience=HANGZHOU), "hz-library", reason="TIER_TOO_LOW", tier=Tier.FAIR,
          local=True, agreement="hz-qz")
    check("visitor_local_only_fail", "a Quzhou visitor at Hangzhou's local-only housing-fund offer", qz_excellent,
          "hz-housing-fund", reason="OFFER_LOCAL_ONLY", tier=Tier.EXCELLENT)
    check("visitor_reverse_direction_eligible", "a Hangzhou visitor in Quzhou (a code for Quzhou): the agreement "
          "works both ways; the quota offer has 2 of 3 uses left after this one",
          code("hz-excellent-for-qz", tier=Tier.EXCELLENT, audience=QUZHOU), "qz-parking-free-3", eligible=True,
          tier=Tier.EXCELLENT, local=True, agreement="hz-qz", quota=2)
    check("visitor_no_agreement_fail", "a Jiaxing visitor in Hangzhou: no agreement between the two",
          code("jx-good", JIAXING, audience=HANGZHOU), "hz-library", reason="NO_AGREEMENT", tier=Tier.GOOD)
    hu_for_jx = code("hu-good", HUZHOU, audience=JIAXING)
    check("visitor_category_covered_eligible", "a Huzhou visitor at Jiaxing fitness (the tourism agreement covers it)",
          hu_for_jx, "jx-fitness", eligible=True, tier=Tier.GOOD, local=True, agreement="jx-hu-tourism")
    check("visitor_category_not_covered_fail", "a Huzhou visitor at a Jiaxing library: library is not covered",
          hu_for_jx, "jx-library", reason="NO_AGREEMENT", tier=Tier.GOOD)
    check("visitor_agreement_ended_fail", "a Xiamen visitor in Hangzhou: the agreement ended in June 2026",
          code("xm-good", XIAMEN, audience=HANGZHOU), "hz-library", reason="NO_AGREEMENT", tier=Tier.GOOD)
    check("visitor_agreement_not_yet_fail", "a Huzhou visitor in Hangzhou an hour before the agreement starts",
          code("hu-good-for-hz", HUZHOU, audience=HANGZHOU), "hz-library", reason="NO_AGREEMENT", tier=Tier.GOOD)
    check("visitor_agreement_first_second_eligible", "a Huzhou visitor in Hangzhou at the agreement's first second",
          code("hu-good-later", HUZHOU, audience=HANGZHOU, issued=T0 + 3600 - 60), "hz-library", eligible=True,
          tier=Tier.GOOD, local=True, agreement="hz-hu-soon", at=T0 + 3600)
    # Audience: a code is for one host city (pairwise pseudonyms), and only there.
    check("visitor_code_for_home_fail", "a Quzhou holder's code for Quzhou (its home) shown at a Hangzhou offer",
          code("qz-home", QUZHOU, Tier.EXCELLENT), "hz-library", reason="WRONG_AUDIENCE", tier=Tier.EXCELLENT)
    check("visitor_code_for_other_host_fail", "a Quzhou holder's code for Jiaxing shown in Hangzhou",
          code("qz-for-jx", QUZHOU, Tier.EXCELLENT, audience=JIAXING), "hz-library", reason="WRONG_AUDIENCE",
          tier=Tier.EXCELLENT)
    check("resident_code_for_other_city_fail", "a Hangzhou resident's code for Quzhou shown at home, in Hangzhou",
          code("hz-for-qz", tier=Tier.EXCELLENT, audience=QUZHOU), "hz-library", reason="WRONG_AUDIENCE",
          tier=Tier.EXCELLENT)
    check("wrong_audience_at_quota_offer_fail", "a Hangzhou code for Hangzhou at Quzhou's quota offer: no use is "
          "counted (3 left)", code("hz-at-qz", tier=Tier.EXCELLENT), "qz-parking-free-3", reason="WRONG_AUDIENCE",
          tier=Tier.EXCELLENT, quota=3)
    legacy = mint.claims("elig-legacy", HANGZHOU, issued=ISSUED)
    legacy.ClearField("audience")
    legacy_code = mint.sign(legacy, k.hz_ed)
    check("no_audience_at_home_eligible", "a code without an audience field (it is then for its issuing city) at home",
          legacy_code, "hz-library", eligible=True, tier=Tier.GOOD, local=True)
    legacy_qz = mint.claims("elig-legacy-qz", QUZHOU, tier=Tier.EXCELLENT, issued=ISSUED)
    legacy_qz.ClearField("audience")
    check("no_audience_visitor_fail", "a Quzhou code without an audience field shown in Hangzhou", mint.sign(
        legacy_qz, k.qz_ed), "hz-library", reason="WRONG_AUDIENCE", tier=Tier.EXCELLENT)
    for audience, city in ((HANGZHOU, "hangzhou"), (QUZHOU, "quzhou")):
        w.verify("eligibility", f"pairwise_pseudonym_for_{city}_valid", "holder-1 of Quzhou's code for "
                 f"{city.capitalize()}: its pseudonym is HMAC over the audience and the holder, so the two codes of "
                 "one holder share no identifier", code(f"qz-pairwise-{city}", QUZHOU, audience=audience),
                 spec="SPEC 3.5, 8.3")
    # Offers' windows, rules, ids.
    check("offer_not_yet_active_fail", "a resident two hours before the scenic-spot offer opens", good,
          "hz-scenic-later", reason="OFFER_NOT_ACTIVE", tier=Tier.GOOD)
    check("offer_first_second_eligible", "a resident at the scenic-spot offer's first second",
          code("hz-good-later", issued=T0 + 7200 - 60), "hz-scenic-later", eligible=True, tier=Tier.GOOD, local=True,
          at=T0 + 7200)
    check("offer_ended_fail", "a resident at the hotel offer's end (the window is half-open)", good, "hz-hotel-ended",
          reason="OFFER_NOT_ACTIVE", tier=Tier.GOOD)
    check("offer_last_second_eligible", "a resident one second before the hotel offer ends", good, "hz-hotel-ended",
          eligible=True, tier=Tier.GOOD, local=True, at=T0 - 1)
    check("no_tier_policy_fail", "an offer of a member with no tier policy (Xiamen here): no rules, an explicit no",
          code("xm-resident", XIAMEN), "xm-bike", reason="NO_RULES", tier=Tier.GOOD)
    check("offer_unknown_fail", "an offer id the trust set does not have: bad input (exit 2)", good, "hz-nothing",
          reason="OFFER_UNKNOWN", tier=Tier.GOOD, errors=("CC_OFFER_UNKNOWN",))
    check("quota_offer_eligible", "a Quzhou resident at its quota offer: 2 of 3 uses left after this one",
          code("qz-resident", QUZHOU, Tier.EXCELLENT), "qz-parking-free-3", eligible=True, tier=Tier.EXCELLENT,
          local=True, quota=2)
    # A refused code is a "no" naming why; a refused trust set is exit 2.
    expiring = code("hz-expiring")
    check("code_expired_fail", "an expired code is a no naming CODE_EXPIRED", expiring, "hz-library",
          reason="CODE_EXPIRED", stage="validity", errors=("CC_EXPIRED",), at=ISSUED + 300)
    check("code_not_yet_valid_fail", "a code used before its issue time", expiring, "hz-library",
          reason="CODE_NOT_YET_VALID", stage="validity", errors=("CC_NOT_YET_VALID",), at=ISSUED - 1)
    check("code_revoked_fail", "a revoked code (Hangzhou index 1234)", code("hz-revoked", status_index=1234),
          "hz-library", reason="CODE_REVOKED", stage="status", errors=("CC_REVOKED",))
    check("code_suspended_fail", "a suspended code (Hangzhou index 1240): a no naming CODE_SUSPENDED",
          code("hz-suspended", status_index=1240), "hz-library", reason="CODE_SUSPENDED", stage="status",
          errors=("CC_SUSPENDED",))
    check("code_tampered_fail", "a code whose signature does not verify",
          mint.wrap(good, signature=bytes([good.signature[0] ^ 1]) + good.signature[1:]), "hz-library",
          reason="CODE_INVALID", stage="signature", errors=("CC_SIGNATURE_INVALID",))
    check("code_unknown_kid_fail", "a code signed by a key in no trust set",
          mint.issue("elig-rogue", k.rogue, HANGZHOU, issued=ISSUED), "hz-library", reason="CODE_INVALID",
          stage="key", errors=("CC_KEY_UNKNOWN",))
    bound = code("hz-bound", device=k.device_p256)
    check("presented_code_eligible", "a device-bound code presented by its device", mint.present(
        bound, k.device_p256, at=T0), "hz-library", eligible=True, tier=Tier.GOOD, local=True)
    check("bare_bound_code_fail", "the same device-bound code shown bare: CODE_INVALID naming "
          "CC_DEVICE_PROOF_REQUIRED", bound, "hz-library", reason="CODE_INVALID", stage="device_proof",
          errors=("CC_DEVICE_PROOF_REQUIRED",))
    check("trust_stale_fail", "a trust set whose timestamp expired beyond the grace: the checker cannot judge "
          "(exit 2)", good, "hz-library", stage="trust", errors=("CC_BUNDLE_STALE",), trust="lite_timestamp_expired_4d")
    # Agreements withdrawn by a city, or stale.
    agreement = next(a for a in AGREEMENTS if a.id == "hz-qz")
    withdrawn = lite.clone()
    withdrawn.cities[HANGZHOU].withdrawals.append(("hz-qz", T0 - 3600))
    withdrawn.publish_city(HANGZHOU)
    w.trust_set("lite_withdrawn", withdrawn, "Hangzhou withdrew from agreement hz-qz an hour before T0 (its policy "
                "part, version 2).")
    future = lite.clone()
    future.cities[QUZHOU].withdrawals.append(("hz-qz", T0 + 3600))
    future.publish_city(QUZHOU)
    w.trust_set("lite_withdrawal_ahead", future, "Quzhou withdraws from agreement hz-qz an hour after T0.")
    agreement_stale = lite.clone()
    agreement_stale.publish_agreement(agreement, now_s=T0 - 400 * DAY)
    w.trust_set("lite_agreement_stale", agreement_stale, "Agreement hz-qz re-signed by both cities 400 days before "
                "T0 for a year: its role expired beyond the grace.")
    visitor = code("qz-visitor", QUZHOU, Tier.EXCELLENT, audience=HANGZHOU)
    check("visitor_withdrawn_agreement_fail", "a Quzhou visitor after Hangzhou withdrew from the agreement",
          visitor, "hz-library", reason="NO_AGREEMENT", tier=Tier.EXCELLENT, trust="lite_withdrawn")
    check("visitor_before_withdrawal_eligible", "the same visitor two hours earlier, before the withdrawal",
          code("qz-visitor-earlier", QUZHOU, Tier.EXCELLENT, audience=HANGZHOU, issued=T0 - 7200 - 60), "hz-library",
          eligible=True, tier=Tier.EXCELLENT, local=True, agreement="hz-qz", trust="lite_withdrawn", at=T0 - 7200)
    check("visitor_withdrawal_ahead_eligible", "a Quzhou visitor an hour before Quzhou's withdrawal takes effect",
          visitor, "hz-library", eligible=True, tier=Tier.EXCELLENT, local=True, agreement="hz-qz",
          trust="lite_withdrawal_ahead")
    check("visitor_agreement_stale_fail", "a Quzhou visitor while the agreement's role is stale: not in force",
          visitor, "hz-library", reason="NO_AGREEMENT", tier=Tier.EXCELLENT, trust="lite_agreement_stale")


# --- adapters ---------------------------------------------------------------------------------------------


def adapter_layer(w: VectorWriter) -> int:
    """One table per member city's scheme; returns the number of rows."""
    rows_written = 0
    for scheme in load_registry().schemes():
        doc = scheme.describe()
        rows = adapter_rows(doc)
        folder = f"adapter/{doc['slug']}"
        w.write_json(f"{folder}/vector.json", {
            "format": FORMAT, "name": folder, "layer": "adapter", "command": "adapter",
            "description": f"{doc['name_en']} {doc['scheme_name']} ({doc['kind']}): every band edge and "
                           "out-of-range record",
            "spec": ADAPTER_SPEC,
            "context": {"city": doc["city"], "scheme_id": doc["scheme_id"], "version": doc["version"],
                        "confirmed": doc["confirmed"]},
            "cases": rows})
        for row in rows:
            negative = row["name"].endswith("_fail")
            w.adapter_case(f"{folder}/{row['name']}", negative, row["description"],
                           row["expected"]["error"] if negative else None)
        rows_written += len(rows)
    return rows_written
