"""The fast verifier gives exactly the answers of the straightforward one.

``audit.verify`` inlines the hashes of ``audit.chain`` and ``audit.merkle`` and builds the
tree block by block (``StreamingTree``); ``audit_verify`` reads rows through psycopg rather
than the ORM. Here both are held against references: RFC 9162's recursive root, and the
entry-by-entry walk verify_log used to be (``entry_hash``, ``leaf_hash``, ``frontier_append``).
"""

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import selectors, services
from audit.chain import entry_hash
from audit.merkle import frontier_append, frontier_root, leaf_hash, root_from_leaf_hashes
from audit.models import AuditCheckpoint, AuditEntry, AuditLogHead, AuditSigningKey
from audit.signed_note import Checkpoint, Signer, generate_signer, sign_checkpoint
from audit.verify import LEAF_BLOCK, StreamingTree, verify_log
from tests.audit.helpers import ACTOR, record_thing
from tests.audit.tampering import as_owner_without_triggers
from tests.factories import WorkspaceFactory

ORIGIN = "tracklayer.test/fast"


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]


def grow(tree: StreamingTree, hashes: list[bytes], pieces: list[int]) -> None:
    """Feed ``hashes`` to the tree in pieces of the given sizes (cycled)."""
    done, turn = 0, 0
    while done < len(hashes):
        width = pieces[turn % len(pieces)]
        tree.extend(b"".join(hashes[done : done + width]))
        done, turn = done + width, turn + 1


# --- StreamingTree against the RFC's definition --------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 300),
    pieces=st.lists(st.integers(1, 70), min_size=1, max_size=5),
    stops=st.sets(st.integers(0, 310), max_size=6),
)
def test_the_streaming_tree_is_the_merkle_tree_hash_at_every_recorded_size(n, pieces, stops):
    hashes = leaves(n)
    tree = StreamingTree(roots_at=stops)
    grow(tree, hashes, pieces)

    assert tree.size == n
    assert tree.root() == root_from_leaf_hashes(hashes)
    # Sizes it passed are recorded (never 0: no leaf is added to reach it); others are not.
    assert tree.roots_at == {
        size: root_from_leaf_hashes(hashes[:size]) for size in stops if 0 < size <= n
    }


@pytest.mark.parametrize("n", [LEAF_BLOCK - 1, LEAF_BLOCK, LEAF_BLOCK + 1, 3 * LEAF_BLOCK + 5])
def test_whole_blocks_and_their_remainders(n):
    hashes = leaves(n)
    stops = {1, LEAF_BLOCK // 2 + 3, LEAF_BLOCK, n}
    tree = StreamingTree(roots_at=stops)
    grow(tree, hashes, [LEAF_BLOCK])

    frontier: list[bytes] = []
    expected = {}
    for size, leaf in enumerate(hashes):
        frontier, _ = frontier_append(frontier, size, leaf)
        if size + 1 in stops:
            expected[size + 1] = frontier_root(frontier)
    assert tree.root() == frontier_root(frontier)
    assert tree.roots_at == expected


def test_leaf_hashes_must_be_whole():
    with pytest.raises(ValueError, match="32 bytes"):
        StreamingTree().extend(b"\x00" * 33)


# --- verify_log against the entry-by-entry walk ------------------------------------------


def reference_walk(rows) -> tuple[list[tuple], int, bytes]:
    """verify_log's entry walk as first written: (breaks, total, root)."""
    breaks, frontier, total = [], [], 0
    expected_idx, previous = 0, None
    for idx, prev_hash, digest, material in rows:
        prev_hash = None if prev_hash is None else bytes(prev_hash)
        digest, material = bytes(digest), bytes(material)
        if idx != expected_idx:
            breaks.append((idx, "gap", f"expected idx {expected_idx}"))
        if prev_hash != previous:
            breaks.append((idx, "prev_hash_mismatch", ""))
        if entry_hash(prev_hash, material) != digest:
            breaks.append((idx, "hash_mismatch", ""))
        frontier, _ = frontier_append(frontier, total, leaf_hash(material))
        total += 1
        expected_idx, previous = idx + 1, digest
    return breaks, total, frontier_root(frontier)


def chain(n: int) -> list[list]:
    rows, previous = [], None
    for idx in range(n):
        material = f'{{"idx":{idx},"n":"entry {idx}"}}'.encode()
        digest = entry_hash(previous, material)
        rows.append([idx, previous, digest, material])
        previous = digest
    return rows


def tamper(rows: list[list], rng: random.Random) -> None:
    """One of the things test_verify.py does through the database, on plain rows."""
    if not rows:
        return
    i = rng.randrange(len(rows))
    match rng.randrange(7):
        case 0:  # edit the material
            rows[i][3] += b" "
        case 1:  # remove an entry
            del rows[i]
        case 2:  # swap two neighbours
            if i + 1 < len(rows):
                rows[i], rows[i + 1] = rows[i + 1], rows[i]
        case 3:  # renumber
            rows[i][0] += rng.randint(1, 3)
        case 4:  # unlink (None and b"" are different links, with the same hash)
            rows[i][1] = rng.choice([None, b"", b"\x01" * 32])
        case 5:  # a hash of the wrong length
            rows[i][2] = rows[i][2][:5]
        case 6:  # rewrite from here on, rehashed: the chain holds, only roots tell
            previous = rows[i - 1][2] if i else None
            for row in rows[i:]:
                row[1], row[3] = previous, row[3] + b"!"
                row[2] = previous = entry_hash(previous, row[3])


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**32), edits=st.integers(0, 3))
def test_verify_log_finds_what_the_entry_by_entry_walk_finds(n, seed, edits):
    rng = random.Random(seed)
    rows = chain(n)
    for _ in range(edits):
        tamper(rows, rng)

    report = verify_log([tuple(row) for row in rows])

    breaks, total, root = reference_walk(rows)
    assert [(b.idx, b.reason, b.detail) for b in report.breaks] == breaks
    assert (report.total_events, report.root) == (total, root)


def test_memoryview_and_bytearray_rows_verify_like_bytes():
    rows = chain(10)
    rows[4][3] += b" "
    views = [
        (idx, None if prev is None else memoryview(prev), bytearray(digest), memoryview(material))
        for idx, prev, digest, material in rows
    ]

    as_bytes, as_views = verify_log([tuple(row) for row in rows]), verify_log(views)

    assert as_views.breaks == as_bytes.breaks == verify_log(rows).breaks
    assert as_views.root == as_bytes.root


def test_checkpoints_at_every_kind_of_size_across_blocks():
    """Sizes inside a block, on a block's edge and at the end; an edit between them."""
    n = 2 * LEAF_BLOCK + 17
    rows = chain(n)
    signer_key, vkey = generate_signer(ORIGIN)
    signer = Signer.from_key(signer_key)
    all_leaves = [leaf_hash(row[3]) for row in rows]
    sizes = [1, 5, LEAF_BLOCK, LEAF_BLOCK + 1, n]
    notes = [
        sign_checkpoint(Checkpoint(ORIGIN, size, root_from_leaf_hashes(all_leaves[:size])), signer)
        for size in sizes
    ]

    valid = verify_log(rows, checkpoints=notes, verifier_keys=[vkey], origin=ORIGIN)
    assert valid.valid
    assert (valid.checkpoint.size, valid.checkpoint.consistent) == (n, True)

    rows[LEAF_BLOCK][3] += b" "  # entry idx LEAF_BLOCK: the last of the first LEAF_BLOCK + 1
    broken = verify_log(rows, checkpoints=notes, verifier_keys=[vkey], origin=ORIGIN)
    assert [(b.idx, b.reason) for b in broken.breaks] == [
        (LEAF_BLOCK, "hash_mismatch"),
        (None, "checkpoint_root_mismatch"),  # LEAF_BLOCK + 1
        (None, "checkpoint_root_mismatch"),  # n
    ]


# --- audit_verify reads exactly the ORM's rows --------------------------------------------


@pytest.fixture
def log(db):
    """A workspace's log with a signed checkpoint over its first entries, and more after it."""
    workspace = WorkspaceFactory(owner=None)
    for n in range(9):
        if n == 6:
            services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
        record_thing(workspace, n)
    return workspace


def orm_rows(workspace) -> list[tuple]:
    return list(
        AuditEntry.objects.filter(workspace=workspace)
        .order_by("idx")
        .values_list("idx", "prev_hash", "hash", "material")
    )


def test_audit_verify_streams_the_rows_the_orm_reads(log):
    """Swapped entries and an edited one: the same rows, so the same breaks."""
    edited, first, second = AuditEntry.objects.filter(workspace=log).order_by("idx")[2:5]
    as_owner_without_triggers(
        ("UPDATE audit_auditentry SET idx = 1000000 WHERE id = %s", [first.pk]),
        ("UPDATE audit_auditentry SET idx = %s WHERE id = %s", [first.idx, second.pk]),
        ("UPDATE audit_auditentry SET idx = %s WHERE id = %s", [second.idx, first.pk]),
        ("UPDATE audit_auditentry SET material = material || ' ' WHERE id = %s", [edited.pk]),
    )

    streamed = list(selectors._entry_rows(log))
    assert streamed == orm_rows(log)
    assert all(type(value) is bytes for row in streamed for value in row[2:])

    result = selectors.audit_verify(workspace=log)
    notes = AuditCheckpoint.objects.filter(workspace=log).values_list("note", flat=True)
    vkeys = AuditSigningKey.objects.filter(workspace=log).values_list("verifier_key", flat=True)
    origin = AuditLogHead.objects.get(workspace=log).origin
    expected = verify_log(
        orm_rows(log), checkpoints=list(notes), verifier_keys=list(vkeys), origin=origin
    )
    # The same breaks, then the database's own check: its stored tree is not the entries'.
    assert [b["reason"] for b in result["broken_events"]][-1] == "head_root_mismatch"
    assert result["broken_events"][:-1] == [b.as_dict() for b in expected.breaks]
    assert {"hash_mismatch", "prev_hash_mismatch", "checkpoint_root_mismatch"} <= {
        b["reason"] for b in result["broken_events"]
    }
