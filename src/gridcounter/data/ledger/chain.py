"""The entries' hash chain: sealing new entries and checking every link (`domain.ledger.entry_digest`).

Each customer account's journal entries form one chain, in the order they were sealed: seq 1, 2, … with each
link the digest of the previous link and the entry. Writers seal their entries in the entry's own transaction,
holding the account's lock (the ledger's lock order), right after writing them and their postings.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Max

from gridcounter.domain.ledger import CHAIN_START, SEALED_FIELDS, entry_digest

CHUNK = 5000


def _models(apps=None):
    if apps is None:
        from gridcounter.data.ledger.models import EntrySeal, JournalEntry, Posting
        return JournalEntry, Posting, EntrySeal
    return apps.get_model("ledger", "JournalEntry"), apps.get_model("ledger", "Posting"), apps.get_model(
        "ledger", "EntrySeal")


def _postings(Posting, entry_ids) -> dict[int, list[tuple[str, int | None, int]]]:
    out: dict[int, list] = defaultdict(list)
    for entry_id, code, account_id, amount in Posting.objects.filter(entry_id__in=entry_ids).values_list(
            "entry_id", "ledger_account", "account_id", "amount_fen"):
        out[entry_id].append((code, account_id, amount))
    return out


def _heads(EntrySeal, account_ids) -> dict[int, tuple[int, str]]:
    """(seq, digest) of each account's last link."""
    maxima = dict(EntrySeal.objects.filter(account_id__in=account_ids).values("account_id")
                  .annotate(last=Max("seq")).values_list("account_id", "last"))
    if not maxima:
        return {}
    heads = {}
    for account_id, seq, digest in EntrySeal.objects.filter(
            account_id__in=list(maxima), seq__in=set(maxima.values())).values_list("account_id", "seq", "digest"):
        if maxima[account_id] == seq:
            heads[account_id] = (seq, digest)
    return heads


def read_entries(JournalEntry, Posting, entry_ids: list[int]) -> tuple[list[dict], dict[int, list]]:
    """The entries (SEALED_FIELDS, in account and id order) and their postings, as stored."""
    entries = list(JournalEntry.objects.filter(pk__in=entry_ids).order_by("account_id", "id").values(*SEALED_FIELDS))
    return entries, _postings(Posting, entry_ids)


def links(entries: list[dict], postings: dict[int, list], *, heads: dict[int, tuple[int, str]], key: bytes
          ) -> list[tuple[int, int, int, str]]:
    """(entry id, account id, seq, digest) of each entry appended to its account's chain after `heads`, in the
    order given (each account's entries in ascending id). Updates `heads`."""
    out = []
    for entry in entries:
        account_id = entry["account_id"]
        seq, previous = heads.get(account_id, (0, CHAIN_START))
        digest = entry_digest(key=key, previous=previous, entry=entry, postings=postings[entry["id"]])
        heads[account_id] = (seq + 1, digest)
        out.append((entry["id"], account_id, seq + 1, digest))
    return out


def unsealed(EntrySeal, entry_ids: list[int]) -> list[int]:
    done = set()
    for start in range(0, len(entry_ids), CHUNK):
        done.update(EntrySeal.objects.filter(entry_id__in=entry_ids[start:start + CHUNK]).values_list(
            "entry_id", flat=True))
    return [i for i in entry_ids if i not in done]


def heads_of(EntrySeal, account_ids) -> dict[int, tuple[int, str]]:
    """(seq, digest) of the last link of each of `account_ids` that has a chain."""
    ids = sorted(set(account_ids))
    out: dict[int, tuple[int, str]] = {}
    for start in range(0, len(ids), CHUNK):
        out.update(_heads(EntrySeal, ids[start:start + CHUNK]))
    return out


def seal_entries(entry_ids: Iterable[int], *, key: bytes, apps=None) -> int:
    """Append the entries not sealed yet to their accounts' chains, in ascending id, read back as stored (the
    migration that sealed the entries written before seals existed). Returns how many were sealed."""
    JournalEntry, Posting, EntrySeal = _models(apps)
    sealed = 0
    ids = sorted(set(entry_ids))
    for start in range(0, len(ids), CHUNK):
        todo = unsealed(EntrySeal, ids[start:start + CHUNK])
        if not todo:
            continue
        entries, postings = read_entries(JournalEntry, Posting, todo)
        made = links(entries, postings, heads=heads_of(EntrySeal, {e["account_id"] for e in entries}), key=key)
        EntrySeal.objects.bulk_create([EntrySeal(entry_id=e, account_id=a, seq=q, digest=d) for e, a, q, d in made],
                                      batch_size=2000)
        sealed += len(made)
    return sealed


@dataclass(frozen=True)
class BrokenLink:
    entry_id: int
    account_id: int
    seq: int | None
    problem: str  # CHANGED, UNSEALED, MISSING (a link's entry is gone), GAP (links before this one are gone),
    #               MOVED (sealed under another account)


def check_chain(*, key: bytes, apps=None) -> tuple[int, list[BrokenLink]]:
    """Recompute every link. Returns (links checked, broken links in entry order). A changed entry breaks its own
    link only (the next link is checked against the stored previous digest), so each broken link names an entry
    changed, added or removed outside the ledger's rules."""
    JournalEntry, Posting, EntrySeal = _models(apps)
    broken: list[BrokenLink] = []
    checked = 0
    accounts = sorted(set(JournalEntry.objects.values_list("account_id", flat=True).distinct())
                      | set(EntrySeal.objects.values_list("account_id", flat=True).distinct()))
    for start in range(0, len(accounts), 500):
        chunk = accounts[start:start + 500]
        entries = {e["id"]: e for e in JournalEntry.objects.filter(account_id__in=chunk).values(*SEALED_FIELDS)}
        seals = list(EntrySeal.objects.filter(account_id__in=chunk).order_by("account_id", "seq").values_list(
            "entry_id", "account_id", "seq", "digest"))
        postings = _postings(Posting, list(entries))
        previous: dict[int, tuple[int, str]] = {}
        for entry_id, account_id, seq, digest in seals:
            checked += 1
            last_seq, last_digest = previous.get(account_id, (0, CHAIN_START))
            previous[account_id] = (seq, digest)
            entry = entries.pop(entry_id, None)
            if entry is None:
                broken.append(BrokenLink(entry_id, account_id, seq, "MISSING"))
            elif entry["account_id"] != account_id:
                broken.append(BrokenLink(entry_id, account_id, seq, "MOVED"))
            elif seq != last_seq + 1:
                broken.append(BrokenLink(entry_id, account_id, seq, "GAP"))
            elif digest != entry_digest(key=key, previous=last_digest, entry=entry,
                                                                postings=postings[entry_id]):
                broken.append(BrokenLink(entry_id, account_id, seq, "CHANGED"))
        broken += [BrokenLink(entry_id, e["account_id"], None, "UNSEALED") for entry_id, e in entries.items()]
    return checked, sorted(broken, key=lambda b: b.entry_id)


def heads(*, apps=None) -> dict[int, tuple[int, str]]:
    """Every account's last link (seq, digest): to be kept outside the database, and compared later
    (`missing_heads`) to find an account's last entries removed together with their seals."""
    _, _, EntrySeal = _models(apps)
    accounts = sorted(set(EntrySeal.objects.values_list("account_id", flat=True).distinct()))
    out: dict[int, tuple[int, str]] = {}
    for start in range(0, len(accounts), 2000):
        out.update(_heads(EntrySeal, accounts[start:start + 2000]))
    return out


def missing_heads(saved: dict[int, tuple[int, str]], *, apps=None) -> list[tuple[int, int]]:
    """(account id, seq) of each saved head no longer in its chain with the same digest."""
    _, _, EntrySeal = _models(apps)
    gone = []
    items = sorted(saved.items())
    for start in range(0, len(items), 2000):
        chunk = dict(items[start:start + 2000])
        found = {(a, q): d for a, q, d in EntrySeal.objects.filter(account_id__in=list(chunk)).filter(
            seq__in={q for q, _ in chunk.values()}).values_list("account_id", "seq", "digest")}
        gone += [(a, q) for a, (q, d) in chunk.items() if found.get((a, q)) != d]
    return gone
