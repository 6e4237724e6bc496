"""The dependency direction, checked on the import graph (grimp, import-linter's graph):
no import cycles anywhere, and db/ imports from pipeline/ only its declared leaves."""

from __future__ import annotations

import grimp

# The modules of pipeline/ that db/ may import: stdlib-only data and names.
DB_MAY_IMPORT = {"pipeline.states", "pipeline.errors", "pipeline.request_meta", "pipeline.catalog"}
LEAVES_IMPORT_ONLY = {"pipeline.states": {"pipeline.errors"}}


def graph() -> grimp.ImportGraph:
    return grimp.build_graph("pipeline", "db", "workers", "migrations")


def import_cycles(g: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(g.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(g.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_there_are_no_import_cycles() -> None:
    assert import_cycles(graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for m in ("a", "b", "c"):
        g.add_module(m)
    g.add_import(importer="a", imported="b")
    g.add_import(importer="b", imported="a")
    g.add_import(importer="b", imported="c")
    assert import_cycles(g) == [["a", "b"]]


def test_db_imports_only_the_declared_leaves_of_pipeline() -> None:
    g = graph()
    used = {
        imported
        for m in g.modules
        if m == "db" or m.startswith("db.")
        for imported in g.find_modules_directly_imported_by(m)
        if imported.startswith("pipeline")
    }
    assert used <= DB_MAY_IMPORT, sorted(used - DB_MAY_IMPORT)
    for leaf in DB_MAY_IMPORT:  # and the leaves stay leaves
        ours = {x for x in g.find_modules_directly_imported_by(leaf) if x.split(".")[0] in
                {"pipeline", "db", "workers"}}  # fmt: skip
        assert ours <= LEAVES_IMPORT_ONLY.get(leaf, set()), (leaf, ours)
