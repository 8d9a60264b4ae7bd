"""``audit.merkle`` against RFC 9162 §2.1: public vectors, every small tree, tampered proofs.

No test here touches the database. The vectors are transparency-dev/merkle's ``testdata``,
read from ``<repo>/../shared/testdata/merkle`` (or ``$TRACKLAYER_TESTDATA/merkle``); when
that folder is missing the vector tests fail rather than skip.
"""

import base64
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    frontier_append,
    frontier_root,
    inclusion_proof,
    keys_for_range,
    leaf_hash,
    node_hash,
    root_at,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTDATA = Path(os.environ.get("TRACKLAYER_TESTDATA") or REPO_ROOT.parent / "shared" / "testdata")
VECTORS = TESTDATA / "merkle"

# The leaves behind the vectors' happy paths (transparency-dev/merkle's testonly.LeafInputs,
# the RFC 6962 test data): generating proofs from them must give the vectors' bytes.
CT_LEAF_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]

# The one vector this verifier is stricter than: equal sizes, an empty proof and two equal
# 12-byte "roots" (base64 of "don't care 2"), expected to verify. transparency-dev/merkle
# never checks a root's length; audit.merkle refuses every hash that is not 32 bytes.
# test_consistency_vector checks the same case with real roots.
STRICTER_THAN_VECTOR = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


# --- Helpers -----------------------------------------------------------------------------


def largest_power_of_two_below(n):
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def reference_path(m, leaves):
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, written out over the leaf hashes themselves."""
    if len(leaves) == 1:
        return []
    k = largest_power_of_two_below(len(leaves))
    if m < k:
        return [*reference_path(m, leaves[:k]), root_from_leaf_hashes(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), root_from_leaf_hashes(leaves[:k])]


def reference_proof(m, leaves):
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1."""

    def subproof(m, leaves, b):
        if m == len(leaves):
            return [] if b else [root_from_leaf_hashes(leaves)]
        k = largest_power_of_two_below(len(leaves))
        if m <= k:
            return [*subproof(m, leaves[:k], b), root_from_leaf_hashes(leaves[k:])]
        return [*subproof(m - k, leaves[k:], False), root_from_leaf_hashes(leaves[:k])]

    return subproof(m, leaves, True)


def build_store(leaves):
    """Append the leaves one by one; return every perfect subtree reported, by (level, index)."""
    nodes, frontier = {}, []
    for size, leaf in enumerate(leaves):
        frontier, completed = frontier_append(frontier, size, leaf)
        for level, index, digest in completed:
            assert (level, index) not in nodes
            nodes[level, index] = digest
    return nodes


class CountingFetch:
    """``fetch`` over a dict of stored nodes, recording the keys of every call."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.calls = []

    def __call__(self, keys):
        self.calls.append(list(keys))
        return {key: self.nodes[key] for key in keys}


def assert_one_small_fetch(fetch, size):
    """One call, distinct keys, O(log size) of them, all inside the first ``size`` leaves."""
    assert len(fetch.calls) == 1
    (keys,) = fetch.calls
    assert len(keys) == len(set(keys))
    assert len(keys) <= 2 * math.ceil(math.log2(size)) + 2
    assert all((index + 1) << level <= size for level, index in keys)


def flip_bit(digest, position=0):
    """``digest`` with one bit flipped (bit ``position`` mod 256)."""
    position %= 8 * len(digest)
    flipped = bytearray(digest)
    flipped[position // 8] ^= 1 << (position % 8)
    return bytes(flipped)


def tampered(proof):
    """Proofs that differ from ``proof``: one flipped bit per element, cut, lengthened, swapped."""
    variants = [[*proof[:i], flip_bit(h, 37 * i), *proof[i + 1 :]] for i, h in enumerate(proof)]
    variants += [proof[:-1], proof[1:]] if proof else []
    variants += [[*proof, leaf_hash(b"extra")], [leaf_hash(b"extra"), *proof]]
    variants += [[*proof, proof[-1]]] if proof else []
    variants += [
        [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]] for i in range(len(proof) - 1)
    ]
    return [v for v in variants if v != proof]


MAX_SIZE = 70
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(MAX_SIZE)]
NODES = build_store(LEAVES)
ROOTS = [root_from_leaf_hashes(LEAVES[:size]) for size in range(MAX_SIZE + 1)]


# --- Public test vectors -----------------------------------------------------------------


def vector_params(kind, only=None):
    """One param per JSON file under merkle/<kind>/ (the subtree* folders are siblings, so
    they are left out); one failing param if there is none."""
    folder = VECTORS / kind
    files = sorted(folder.rglob(only or "*.json")) if folder.is_dir() else []
    params = [pytest.param(path, id=path.relative_to(VECTORS).as_posix()) for path in files]
    return params or [pytest.param(None, id=f"{kind}-vectors-missing")]


def load_vector(path, kind):
    if path is None:
        pytest.fail(
            f"no {kind} test vectors in {VECTORS}: CI clones the repository with shared/ beside "
            "it; elsewhere set TRACKLAYER_TESTDATA to the folder holding merkle/"
        )
    case = json.loads(path.read_text())
    for field in ("root", "root1", "root2", "leafHash"):
        if field in case:
            case[field] = base64.b64decode(case[field], validate=True)
    # "proof": null means no hashes.
    case["proof"] = [base64.b64decode(h, validate=True) for h in case["proof"] or []]
    case["rel"] = path.relative_to(VECTORS).as_posix()
    return case


@pytest.mark.parametrize("path", vector_params("inclusion"))
def test_inclusion_vector(path):
    case = load_vector(path, "inclusion")
    args = (case["leafHash"], case["leafIdx"], case["treeSize"], case["proof"], case["root"])
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        assert verify_inclusion(*args) is None


@pytest.mark.parametrize("path", vector_params("consistency"))
def test_consistency_vector(path):
    case = load_vector(path, "consistency")
    args = (case["size1"], case["size2"], case["proof"], case["root1"], case["root2"])
    if case["rel"] in STRICTER_THAN_VECTOR:
        assert not case["wantErr"]
        with pytest.raises(ProofError, match="must be 32 bytes, not 12"):
            verify_consistency(*args)
        root = leaf_hash(b"a real root")
        assert verify_consistency(case["size1"], case["size2"], case["proof"], root, root) is None
    elif case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        assert verify_consistency(*args) is None


@pytest.fixture(scope="module")
def ct_store():
    return build_store([leaf_hash(data) for data in CT_LEAF_INPUTS])


@pytest.mark.parametrize("path", vector_params("inclusion", only="happy-path.json"))
def test_generated_inclusion_proofs_are_the_vectors_bytes(path, ct_store):
    """PATH built from stored nodes equals the vectors' proofs byte for byte."""
    case = load_vector(path, "inclusion")
    index, size = case["leafIdx"], case["treeSize"]
    assert case["leafHash"] == ct_store[0, index]
    assert case["root"] == root_at(size, CountingFetch(ct_store))
    assert inclusion_proof(index, size, CountingFetch(ct_store)) == case["proof"]


@pytest.mark.parametrize("path", vector_params("consistency", only="happy-path.json"))
def test_generated_consistency_proofs_are_the_vectors_bytes(path, ct_store):
    """PROOF built from stored nodes equals the vectors' proofs byte for byte."""
    case = load_vector(path, "consistency")
    size1, size2 = case["size1"], case["size2"]
    assert case["root1"] == root_at(size1, CountingFetch(ct_store))
    assert case["root2"] == root_at(size2, CountingFetch(ct_store))
    assert consistency_proof(size1, size2, CountingFetch(ct_store)) == case["proof"]


def test_known_answers():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == base64.b64decode("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=")
    assert root_from_leaf_hashes([leaf_hash(data) for data in CT_LEAF_INPUTS]).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    left, right = leaf_hash(b"l"), leaf_hash(b"r")
    assert node_hash(left, right) == root_from_leaf_hashes([left, right])


# --- Every tree of up to 70 leaves -------------------------------------------------------


def test_frontier_append_reports_every_perfect_subtree_and_keeps_the_root():
    frontier, stored = [], {}
    assert frontier_root(frontier) == EMPTY_ROOT
    for size, leaf in enumerate(LEAVES):
        before = list(frontier)
        new_frontier, completed = frontier_append(frontier, size, leaf)
        assert frontier == before  # the input is left alone
        assert completed[0] == (0, size, leaf)
        for level, index, digest in completed:
            assert digest == root_from_leaf_hashes(LEAVES[index << level : (index + 1) << level])
            stored[level, index] = digest
        frontier = new_frontier
        assert frontier_root(frontier) == ROOTS[size + 1]
        assert frontier == [stored[key] for key in keys_for_range(0, size + 1)]
        assert len(frontier) == (size + 1).bit_count()
        # Exactly the perfect subtrees inside the first size + 1 leaves are stored.
        assert set(stored) == {
            (level, index)
            for level in range((size + 1).bit_length())
            for index in range((size + 1) >> level)
        }


@pytest.mark.parametrize("size", range(MAX_SIZE + 1))
def test_root_at(size):
    fetch = CountingFetch(NODES)
    assert root_at(size, fetch) == ROOTS[size]
    assert fetch.calls == ([] if size == 0 else [keys_for_range(0, size)])


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_inclusion_proof(size):
    for index in range(size):
        fetch = CountingFetch(NODES)
        proof = inclusion_proof(index, size, fetch)
        assert proof == reference_path(index, LEAVES[:size])
        assert verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size]) is None
        if size == 1:
            assert proof == []
            assert fetch.calls == []  # nothing to fetch
        else:
            assert_one_small_fetch(fetch, size)


@pytest.mark.parametrize("size2", range(1, MAX_SIZE + 1))
def test_every_consistency_proof(size2):
    for size1 in range(1, size2 + 1):
        fetch = CountingFetch(NODES)
        proof = consistency_proof(size1, size2, fetch)
        assert proof == reference_proof(size1, LEAVES[:size2])
        assert verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2]) is None
        if size1 == size2:
            assert proof == []
            assert fetch.calls == []
        else:
            assert len(proof) <= math.ceil(math.log2(size2)) + 1  # §2.1.4.1's bound
            assert_one_small_fetch(fetch, size2)


# --- Tampering ---------------------------------------------------------------------------

TAMPER_SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70]


@pytest.mark.parametrize("size", TAMPER_SIZES)
def test_tampered_inclusion_proofs_are_rejected(size):
    root = ROOTS[size]
    for index in range(size):
        leaf = LEAVES[index]
        proof = inclusion_proof(index, size, CountingFetch(NODES))
        for bad in tampered(proof):
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, bad, root)
        for bad_leaf, bad_root in [(flip_bit(leaf), root), (leaf, flip_bit(root, 255))]:
            with pytest.raises(ProofError):
                verify_inclusion(bad_leaf, index, size, proof, bad_root)
        for other_index in [i for i in range(size + 1) if i != index]:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, other_index, size, proof, root)
        # Another size, with that size's true root.
        for other_size in [s for s in range(MAX_SIZE + 1) if s != size]:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, other_size, proof, ROOTS[other_size])


@pytest.mark.parametrize("size2", [s for s in TAMPER_SIZES if s > 1])
def test_tampered_consistency_proofs_are_rejected(size2):
    root2 = ROOTS[size2]
    for size1 in range(1, size2):
        root1 = ROOTS[size1]
        proof = consistency_proof(size1, size2, CountingFetch(NODES))
        for bad in [*tampered(proof), []]:
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, bad, root1, root2)
        for bad_root1, bad_root2 in [
            (flip_bit(root1), root2),
            (root1, flip_bit(root2, 200)),
            (root2, root1),
            (root1, root1),
            (root2, root2),
        ]:
            with pytest.raises(ProofError):
                verify_consistency(size1, size2, proof, bad_root1, bad_root2)
        # Other sizes nearby, with their true roots.
        for other1 in range(max(size1 - 2, 0), min(size1 + 3, MAX_SIZE + 1)):
            for other2 in range(max(size2 - 2, 0), min(size2 + 3, MAX_SIZE + 1)):
                if (other1, other2) != (size1, size2):
                    with pytest.raises(ProofError):
                        verify_consistency(other1, other2, proof, ROOTS[other1], ROOTS[other2])


def test_the_size_is_bound_to_the_root_by_the_tree_head_not_by_the_proof():
    """Pins an RFC 9162 property (shared with transparency-dev/merkle), not a bug: PATH(0,
    D[3]) = [leaf 1, leaf 2] also passes as a proof for a tree of 4 leaves whose root is
    claimed to be the 3-leaf root, since a 4-leaf PATH(0) is [leaf 1, MTH(leaves 2..3)].
    So size and root must come from the same trusted tree head."""
    proof = inclusion_proof(0, 3, CountingFetch(NODES))
    verify_inclusion(LEAVES[0], 0, 4, proof, ROOTS[3])
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 4, proof, ROOTS[4])


# --- Special cases and argument checks ---------------------------------------------------


def test_consistency_special_cases():
    root = ROOTS[5]
    assert verify_consistency(5, 5, [], root, root) is None
    assert verify_consistency(5, 5, (), root, root) is None
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(5, 5, [root], root, root)
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(5, 5, [], root, ROOTS[4])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, [], EMPTY_ROOT, root)
    with pytest.raises(ProofError, match="greater than"):
        verify_consistency(6, 5, [], ROOTS[6], root)
    with pytest.raises(ProofError, match="proof has 0 hashes"):
        verify_consistency(4, 5, [], ROOTS[4], root)


def test_proof_generation_refuses_impossible_requests():
    fetch = CountingFetch(NODES)
    for index, size in [(0, 0), (5, 5), (6, 5)]:
        with pytest.raises(ValueError, match="not below"):
            inclusion_proof(index, size, fetch)
    for size1, size2 in [(0, 0), (0, 5), (6, 5)]:
        with pytest.raises(ValueError, match="0 < size1 <= size2"):
            consistency_proof(size1, size2, fetch)
    assert fetch.calls == []


@pytest.mark.parametrize("bad", [True, False, -1, 2**64, 1.0, "1", None])
def test_sizes_and_indices_must_be_plain_ints_in_range(bad):
    leaf, root = LEAVES[0], ROOTS[1]
    with pytest.raises(ProofError):
        verify_inclusion(leaf, bad, 1, [], root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 0, bad, [], root)
    with pytest.raises(ProofError):
        verify_consistency(bad, 1, [], root, root)
    with pytest.raises(ProofError):
        verify_consistency(1, bad, [], root, root)
    fetch = CountingFetch(NODES)
    for call in [
        lambda: inclusion_proof(bad, 2, fetch),
        lambda: inclusion_proof(0, bad, fetch),
        lambda: consistency_proof(bad, 2, fetch),
        lambda: consistency_proof(1, bad, fetch),
        lambda: root_at(bad, fetch),
        lambda: keys_for_range(bad, 2),
        lambda: frontier_append([], bad, leaf),
    ]:
        with pytest.raises((TypeError, ValueError)):
            call()
    assert fetch.calls == []


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "0" * 32, None, 0])
def test_hashes_must_be_32_bytes(bad):
    leaf, root = LEAVES[0], ROOTS[2]
    proof = inclusion_proof(0, 2, CountingFetch(NODES))
    for args in [(bad, 0, 2, proof, root), (leaf, 0, 2, [bad], root), (leaf, 0, 2, proof, bad)]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    cproof = consistency_proof(1, 2, CountingFetch(NODES))
    for args in [
        (1, 2, [bad], ROOTS[1], root),
        (1, 2, cproof, bad, root),
        (1, 2, cproof, leaf, bad),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    with pytest.raises(ProofError):
        verify_consistency(1, 1, [], bad, bad)
    for call in [
        lambda: node_hash(bad, leaf),
        lambda: node_hash(leaf, bad),
        lambda: frontier_append([], 0, bad),
        lambda: frontier_append([bad], 1, leaf),
        lambda: frontier_root([bad]),
        lambda: root_from_leaf_hashes([leaf, bad]),
    ]:
        with pytest.raises((TypeError, ValueError)):
            call()


@pytest.mark.parametrize("bad", [LEAVES[0], bytearray(LEAVES[0]), "proof", None, 3])
def test_proof_must_be_a_sequence_of_hashes(bad):
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 2, bad, ROOTS[2])
    with pytest.raises(ProofError):
        verify_consistency(1, 2, bad, ROOTS[1], ROOTS[2])


def test_bytes_like_hashes_are_accepted():
    """psycopg may return bytea as memoryview; hashes in any bytes-like form verify."""
    proof = [memoryview(h) for h in inclusion_proof(3, 7, CountingFetch(NODES))]
    verify_inclusion(bytearray(LEAVES[3]), 3, 7, proof, memoryview(ROOTS[7]))
    stored_as_memoryview = {key: memoryview(digest) for key, digest in NODES.items()}
    assert root_at(7, CountingFetch(stored_as_memoryview)) == ROOTS[7]
    assert all(type(h) is bytes for h in inclusion_proof(3, 7, CountingFetch(stored_as_memoryview)))


def test_fetch_must_return_every_key_as_a_32_byte_hash():
    with pytest.raises(KeyError, match="no hash for stored node"):
        inclusion_proof(0, 5, lambda keys: {})
    with pytest.raises(ValueError, match="must be 32 bytes"):
        consistency_proof(2, 5, lambda keys: dict.fromkeys(keys, b"short"))


def test_frontier_must_match_the_size():
    with pytest.raises(ValueError, match="frontier of 2 hashes, not 1"):
        frontier_append([LEAVES[0]], 3, LEAVES[3])
    with pytest.raises(ValueError, match="frontier of 0 hashes, not 1"):
        frontier_append([LEAVES[0]], 0, LEAVES[1])


def test_keys_for_range():
    assert keys_for_range(0, 0) == []
    assert keys_for_range(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert keys_for_range(8, 13) == [(2, 2), (0, 12)]
    assert keys_for_range(12, 14) == [(1, 6)]
    assert keys_for_range(64, 70) == [(2, 16), (1, 34)]
    for start, end in [(1, 3), (2, 6), (4, 12), (3, 2)]:
        with pytest.raises(ValueError):
            keys_for_range(start, end)


def test_module_imports_without_django():
    code = (
        "import sys; before = set(sys.modules); import audit.merkle; "
        "new = set(sys.modules) - before; "
        "assert not [m for m in new if m.split('.')[0] == 'django'], sorted(new)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True)


# --- Properties on larger trees ----------------------------------------------------------

BIG_SIZE = 2**11 + 37
BIG_LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(BIG_SIZE)]
BIG_NODES = build_store(BIG_LEAVES)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_proofs_in_random_trees_verify_and_reject_a_flipped_bit(data):
    size2 = data.draw(st.integers(1, BIG_SIZE), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    index = data.draw(st.integers(0, size2 - 1), label="index")
    root1 = root_from_leaf_hashes(BIG_LEAVES[:size1])
    root2 = root_from_leaf_hashes(BIG_LEAVES[:size2])
    bit = data.draw(st.integers(0, 255), label="bit")

    fetch = CountingFetch(BIG_NODES)
    proof = inclusion_proof(index, size2, fetch)
    assert len(proof) <= math.ceil(math.log2(size2))
    verify_inclusion(BIG_LEAVES[index], index, size2, proof, root2)
    if proof:
        assert_one_small_fetch(fetch, size2)
        at = data.draw(st.integers(0, len(proof) - 1), label="element")
        proof[at] = flip_bit(proof[at], bit)
        with pytest.raises(ProofError):
            verify_inclusion(BIG_LEAVES[index], index, size2, proof, root2)

    fetch = CountingFetch(BIG_NODES)
    proof = consistency_proof(size1, size2, fetch)
    assert len(proof) <= math.ceil(math.log2(size2)) + 1
    verify_consistency(size1, size2, proof, root1, root2)
    if proof:
        assert_one_small_fetch(fetch, size2)
        at = data.draw(st.integers(0, len(proof) - 1), label="element")
        proof[at] = flip_bit(proof[at], bit)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, root1, root2)

    assert root_at(size2, CountingFetch(BIG_NODES)) == root2
