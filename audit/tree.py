"""Reading the stored Merkle tree: the completed subtree hashes ``audit.merkle`` asks for.

Shared by the writer (``audit.services``: the consistency proof checked before signing) and
the readers (``audit.selectors``: inclusion and consistency proofs), so that neither imports
the other. Reads only; the nodes are written by ``audit.services._append``.
"""

from django.db import connection


def fetch_nodes(workspace, keys) -> dict[tuple[int, int], bytes]:
    """Subtree hashes by (level, index), in one index join. (Django's composite ``pk__in``
    becomes one OR-ed probe per key, whose planning alone cost ~1 ms at 25 keys.)"""
    keys = list(keys)
    if not keys:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.level, n.index, n.hash"
            " FROM unnest(%s::smallint[], %s::bigint[]) AS k(level, index)"
            " JOIN audit_auditmerklenode n"
            " ON n.workspace_id = %s AND n.level = k.level AND n.index = k.index",
            [[level for level, _ in keys], [index for _, index in keys], workspace.pk],
        )
        return {(level, index): bytes(node) for level, index, node in cursor.fetchall()}


def node_fetcher(workspace):
    """``fetch(keys)`` for ``audit.merkle``: the requested subtree hashes, in one query."""
    return lambda keys: fetch_nodes(workspace, keys)


def with_prefetched_nodes(workspace, compute):
    """Run ``compute(fetch)`` reading every node it needs in a single query.

    Which nodes a proof or root needs depends only on the sizes and indices, never on the
    hashes, so a first dry run with placeholder hashes collects the keys; one query fetches
    them; the real run then reads from that result."""
    wanted: set[tuple[int, int]] = set()

    def record(keys):
        wanted.update(keys)
        return dict.fromkeys(keys, bytes(32))

    compute(record)
    nodes = fetch_nodes(workspace, sorted(wanted))
    return compute(lambda keys: {key: nodes[key] for key in keys})
