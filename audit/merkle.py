"""RFC 9162 Merkle tree over the audit log: hashes, appends, proofs and their verification.

Pure functions without Django or a database, so an auditor can run them offline (like
:mod:`audit.chain`). Section numbers are RFC 9162's (Certificate Transparency 2.0, §2.1):

- §2.1.1 the Merkle Tree Hash (MTH) with domain-separated leaf (0x00) and node (0x01) hashes;
- §2.1.3 inclusion proofs: PATH (§2.1.3.1) and their verification (§2.1.3.2);
- §2.1.4 consistency proofs: PROOF (§2.1.4.1) and their verification (§2.1.4.2).

Storage model. The caller stores the hash of every *perfect* subtree under ``(level, index)``:
level 0 index i is leaf i's hash; level L index j covers leaves [j·2^L, (j+1)·2^L). Appending
never changes a stored hash; it only completes new perfect subtrees (:func:`frontier_append`
reports them). Every node of the tree of size n that is not perfect lies on the tree's right
edge, covers some [start, n), and is recomputed here from at most log2(n) perfect subtrees
(:func:`keys_for_range`). The *frontier* of a tree of size n is the list of perfect subtrees
covering [0, n), largest first: one per set bit of n.

Proof generation asks the caller's ``fetch`` for every stored hash it needs in one call, so
a proof costs one query of O(log n) keys. ``fetch`` is never called with an empty list: a
proof that needs no stored hash (tree of one leaf, equal sizes) makes no call at all.

Errors. Verification raises :class:`ProofError` for anything wrong or malformed and returns
``None`` only for a valid proof. The other functions raise ``TypeError`` or ``ValueError``
for invalid arguments, and ``KeyError`` when ``fetch`` omits a requested node.
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "ProofError",
    "consistency_proof",
    "frontier_append",
    "frontier_root",
    "inclusion_proof",
    "keys_for_range",
    "leaf_hash",
    "node_hash",
    "root_at",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

_HASH_SIZE = 32  # SHA-256
_MAX_SIZE = 2**64 - 1  # tree sizes and leaf indices are uint64 in RFC 9162's structures

_Key = tuple[int, int]  # (level, index) of a perfect subtree
_Fetch = Callable[[list[_Key]], Mapping[_Key, bytes]]

#: MTH({}) = HASH(), the root of the empty tree (§2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """An inclusion or consistency proof is wrong or malformed; the message says why."""


# --- Hashing (§2.1.1) -------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash of one log entry (§2.1.1)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"leaf data must be bytes, not {type(data).__name__}")
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node (§2.1.1).

    Both children must be 32-byte hashes.
    """
    return _node_hash(_hash_arg("left", left), _hash_arg("right", right))


def _node_hash(left: bytes, right: bytes) -> bytes:
    # Unchecked; callers pass validated 32-byte hashes.
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves, straight from the recursive definition of §2.1.1.

    The reference against which everything else is tested; O(n) hashes, for tests and
    small inputs.
    """
    leaves = [_hash_arg(f"leaf_hashes[{i}]", h) for i, h in enumerate(leaf_hashes)]

    def mth(start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return leaves[start]
        k = _split(n)
        return _node_hash(mth(start, start + k), mth(start + k, end))

    return mth(0, len(leaves))


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1): MTH splits D[n] into D[0:k], D[k:n]."""
    return 1 << ((n - 1).bit_length() - 1)


# --- Frontier: appending leaves ---------------------------------------------------------


def frontier_append(
    frontier: list[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append the leaf hash ``leaf`` to the tree of ``size`` leaves whose frontier is given.

    Returns the frontier of the tree of ``size + 1`` leaves and every perfect subtree the
    append completes, as ``(level, index, hash)`` from the bottom up: the leaf itself
    ``(0, size, leaf)`` first, then one node per trailing 1 bit of ``size``. Storing all of
    them keeps the store complete. The input list is not modified.
    """
    size = _int_arg("size", size)
    leaf = _hash_arg("leaf", leaf)
    new = [_hash_arg(f"frontier[{i}]", h) for i, h in enumerate(frontier)]
    if len(new) != size.bit_count():
        raise ValueError(
            f"a tree of {size} leaves has a frontier of {size.bit_count()} hashes, not {len(new)}"
        )
    new.append(leaf)
    completed = [(0, size, leaf)]
    # Like binary addition of 1 to size: each trailing 1 bit of size is a perfect subtree of
    # that level, ending just before the new leaf, that now has an equal right neighbour;
    # the two merge into a perfect subtree one level up (the carry).
    level = 0
    while (size >> level) & 1:
        right = new.pop()
        left = new.pop()
        merged = _node_hash(left, right)
        level += 1
        new.append(merged)
        completed.append((level, size >> level, merged))
    return new, completed


def frontier_root(frontier: list[bytes]) -> bytes:
    """MTH of the tree whose frontier is given; EMPTY_ROOT for an empty frontier.

    The frontier's subtrees are the nodes of §2.1.1's recursion that split D[n] at each
    power of two: folding them from the right rebuilds the right edge up to the root.
    """
    return _fold([_hash_arg(f"frontier[{i}]", h) for i, h in enumerate(frontier)])


def _fold(hashes: list[bytes]) -> bytes:
    """Right fold with node_hash: MTH of consecutive perfect subtrees listed largest first."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = _node_hash(h, acc)
    return acc


# --- Proof generation from stored perfect subtrees (§2.1.3.1, §2.1.4.1) ------------------


def keys_for_range(start: int, end: int) -> list[tuple[int, int]]:
    """The stored perfect subtrees that make up leaves [start, end), largest first.

    Folding their hashes from the right (as :func:`frontier_root` does) gives
    MTH(D[start:end]). ``start`` must be a multiple of the largest power of two not above
    ``end - start`` — true of every node of a Merkle tree and of every prefix [0, n).
    """
    start, end = _int_arg("start", start), _int_arg("end", end)
    if start > end:
        raise ValueError(f"start ({start}) > end ({end})")
    width = end - start
    keys: list[_Key] = []
    # The binary digits of the width, highest first: one perfect subtree per set bit.
    for level in reversed(range(width.bit_length())):
        if (width >> level) & 1:
            if start % (1 << level):
                raise ValueError(f"[{start}, {end}) does not split into aligned perfect subtrees")
            keys.append((level, start >> level))
            start += 1 << level
    return keys


def root_at(size: int, fetch: _Fetch) -> bytes:
    """MTH of the first ``size`` leaves, from their frontier in stored nodes (one fetch)."""
    size = _int_arg("size", size)
    return _range_hashes([(0, size)], fetch)[0]


def inclusion_proof(index: int, size: int, fetch: _Fetch) -> list[bytes]:
    """PATH(index, D[size]) of §2.1.3.1, leaf's sibling first, from stored nodes (one fetch).

    Requires 0 <= index < size.
    """
    index, size = _int_arg("index", index), _int_arg("size", size)
    if index >= size:
        raise ValueError(f"index {index} is not below tree size {size}")
    return _range_hashes(_path(index, 0, size), fetch)


def consistency_proof(size1: int, size2: int, fetch: _Fetch) -> list[bytes]:
    """PROOF(size1, D[size2]) of §2.1.4.1, from stored nodes (one fetch).

    Requires 0 < size1 <= size2 (the RFC defines no proof from the empty tree); the proof
    for size1 == size2 is empty.
    """
    size1, size2 = _int_arg("size1", size1), _int_arg("size2", size2)
    if not 0 < size1 <= size2:
        raise ValueError(f"consistency proofs need 0 < size1 <= size2, got {size1}, {size2}")
    return _range_hashes(_subproof(size1, 0, size2, True), fetch)


def _path(m: int, start: int, end: int) -> list[tuple[int, int]]:
    """PATH(m, D[start:end]) of §2.1.3.1, as the leaf ranges whose MTHs form the proof.

    PATH(0, {d}) = {}; otherwise, with k = _split(n):
    PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])      for m < k,
    PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])  for m >= k.
    """
    n = end - start
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, start, start + k), (start + k, end)]
    return [*_path(m - k, start + k, end), (start, start + k)]


def _subproof(m: int, start: int, end: int, b: bool) -> list[tuple[int, int]]:
    """SUBPROOF(m, D[start:end], b) of §2.1.4.1, as leaf ranges.

    SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}; for m < n, with
    k = _split(n):
    SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          for m <= k,
    SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  for m > k.
    """
    n = end - start
    if m == n:
        return [] if b else [(start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, start, start + k, b), (start + k, end)]
    return [*_subproof(m - k, start + k, end, False), (start, start + k)]


def _range_hashes(ranges: list[tuple[int, int]], fetch: _Fetch) -> list[bytes]:
    """MTH(D[start:end]) for each range, fetching every stored node needed in one call.

    Each range is a node of the tree (so keys_for_range applies): a perfect subtree needs
    one key; a range on the right edge needs one per set bit of its width, and a PATH or
    PROOF holds at most one such range (below it, every node is inside a perfect subtree).
    """
    parts = [keys_for_range(start, end) for start, end in ranges]
    keys = [key for part in parts for key in part]  # distinct: the ranges are disjoint
    if not keys:
        return [EMPTY_ROOT for _ in ranges]  # only [0, 0) needs no key
    stored = fetch(keys)
    hashes: dict[_Key, bytes] = {}
    for key in keys:
        if key not in stored:
            raise KeyError(f"fetch() returned no hash for stored node {key}")
        hashes[key] = _hash_arg(f"stored node {key}", stored[key])
    return [_fold([hashes[key] for key in part]) for part in parts]


# --- Verification (§2.1.3.2, §2.1.4.2) ---------------------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``proof`` shows leaf ``index`` with hash ``leaf_hash`` is in the tree of
    ``size`` leaves whose MTH is ``root``, by §2.1.3.2's algorithm. Returns None or raises
    ProofError.

    ``size`` and ``root`` must come from the same trusted tree head: the proof binds the
    leaf to the root, and only the tree head binds the root to a size.
    """
    index, size = _int_arg("index", index, ProofError), _int_arg("size", size, ProofError)
    leaf = _hash_arg("leaf_hash", leaf_hash, ProofError)
    root = _hash_arg("root", root, ProofError)
    path = _proof_arg(proof)
    # 1. leaf_index must be below tree_size.
    if index >= size:
        raise ProofError(f"index {index} is not below tree size {size}")
    # Redundant with steps 4a and 5 below, which fail on a wrong length too; checked first
    # only to give a plain reason.
    if len(path) != (want := len(_path(index, 0, size))):
        raise ProofError(f"proof has {len(path)} hashes, PATH({index}, D[{size}]) has {want}")
    # 2. fn = leaf_index, sn = tree_size - 1: the positions of the leaf and of the last leaf
    #    on the current level. 3. r = hash.
    fn, sn = index, size - 1
    r = leaf
    # 4. For each p in inclusion_path:
    for p in path:
        # a. sn == 0 means r is already the root.
        if sn == 0:
            raise ProofError("proof is longer than the path to the root")
        # b. fn is a right child (LSB set) or the last node of its level (fn == sn), so p is
        #    its left sibling.
        if fn & 1 or fn == sn:
            r = _node_hash(p, r)
            # ii. On the right edge, skip the levels where the node has no right sibling.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node_hash(r, p)
        # c. One level up.
        fn >>= 1
        sn >>= 1
    # 5. The path must reach the root, and r must be it.
    if sn != 0:
        raise ProofError("proof ends below the root")
    if r != root:
        raise ProofError("proof does not lead to the given root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that ``proof`` shows the tree of ``size1`` leaves with MTH ``root1`` is a
    prefix of the tree of ``size2`` leaves with MTH ``root2``, by §2.1.4.2's algorithm.
    Returns None or raises ProofError.

    §2.1.4.2 covers 0 < size1 < size2. Outside it: size1 == size2 is consistent exactly when
    the proof is empty and the roots are equal; size1 == 0 is always rejected, even with
    size2 == 0, as RFC 9162 defines no consistency proof from the empty tree.
    """
    size1, size2 = _int_arg("size1", size1, ProofError), _int_arg("size2", size2, ProofError)
    root1 = _hash_arg("root1", root1, ProofError)
    root2 = _hash_arg("root2", root2, ProofError)
    path = _proof_arg(proof)
    if size1 > size2:
        raise ProofError(f"size1 ({size1}) is greater than size2 ({size2})")
    if size1 == 0:
        raise ProofError("no consistency proof exists from the empty tree (size1 == 0)")
    if size1 == size2:
        if path:
            raise ProofError("sizes are equal, so the proof must be empty")
        if root1 != root2:
            raise ProofError("sizes are equal but the roots differ")
        return
    # Redundant with steps 1, 6a and 7 below, which fail on a wrong length too; checked first
    # only to give a plain reason.
    if len(path) != (want := len(_subproof(size1, 0, size2, True))):
        raise ProofError(f"proof has {len(path)} hashes, PROOF({size1}, D[{size2}]) has {want}")
    # 1. An empty consistency_path fails.
    if not path:
        raise ProofError("proof is empty")
    # 2. If first is an exact power of 2, the old root is itself a node of the new tree and
    #    starts the path.
    if size1 & (size1 - 1) == 0:
        path = [root1, *path]
    # 3. fn = first - 1, sn = second - 1: the last old leaf and the last new leaf.
    fn, sn = size1 - 1, size2 - 1
    # 4. Climb while fn is a right child: those levels are inside the subtree path[0] covers.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr rebuilds the old root, sr the new one, both from path[0].
    fr = sr = path[0]
    # 6. For each subsequent c in consistency_path:
    for c in path[1:]:
        # a. sn == 0 means sr is already the new root.
        if sn == 0:
            raise ProofError("proof is longer than the path to the root")
        # b. c is a left sibling, in both trees.
        if fn & 1 or fn == sn:
            fr = _node_hash(c, fr)
            sr = _node_hash(c, sr)
            # iii. On the old tree's right edge, skip levels without a right sibling.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        # Otherwise c is a right sibling, which exists only in the new tree.
        else:
            sr = _node_hash(sr, c)
        # c. One level up.
        fn >>= 1
        sn >>= 1
    # 7. Both roots must match and the path must reach the new root.
    if sn != 0:
        raise ProofError("proof ends below the root")
    if fr != root1:
        raise ProofError("proof does not lead to root1")
    if sr != root2:
        raise ProofError("proof does not lead to root2")


# --- Argument checks ---------------------------------------------------------------------


def _int_arg(name: str, value: object, error: type[Exception] | None = None) -> int:
    """An int in [0, 2^64): bool (an int subclass) and other types are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise (error or TypeError)(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _MAX_SIZE:
        raise (error or ValueError)(f"{name} must be in [0, 2**64), got {value}")
    return value


def _hash_arg(name: str, value: object, error: type[Exception] | None = None) -> bytes:
    """A 32-byte hash as bytes (bytearray and memoryview, as drivers return, are copied)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise (error or TypeError)(f"{name} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if len(value) != _HASH_SIZE:
        raise (error or ValueError)(f"{name} must be {_HASH_SIZE} bytes, not {len(value)}")
    return value


def _proof_arg(proof: Sequence[bytes]) -> list[bytes]:
    """The proof as a list of 32-byte hashes; a single bytes or str value is refused."""
    if not isinstance(proof, Sequence) or isinstance(proof, bytes | bytearray | str):
        raise ProofError(f"proof must be a sequence of hashes, not {type(proof).__name__}")
    return [_hash_arg(f"proof[{i}]", h, ProofError) for i, h in enumerate(proof)]
