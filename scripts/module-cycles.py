#!/usr/bin/env python3
"""Import cycles between the modules of each of the host's crates (host/src, crates/*/src).

Cargo refuses cycles between crates; this finds them between the modules inside one crate.
A module is one .rs file (`trigger/http.rs` is `trigger::http`, a `mod.rs` its directory). An
edge A -> B is any `crate::...` or `super::...` path in A that names B or something in B; edges
between a module and its own submodules or ancestors do not count. Prints every strongly
connected set of two or more modules, with the references that tie it together, and exits 1 if
there is one (0 when the graph is acyclic).

Usage: scripts/module-cycles.py [SRC_DIR...]   (default: host/src and crates/*/src)
"""
import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(root: Path, file: Path) -> tuple:
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def expand(prefix: list, text: str, out: list):
    """Paths in a `use` tree such as `{a, b::{c, d}}` after `prefix`."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        depth, start = 0, 1
        for i, ch in enumerate(text[1:-1], 1):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                expand(prefix, text[start:i], out)
                start = i + 1
        expand(prefix, text[start:-1], out)
        return
    head, sep, rest = text.partition("::")
    head = head.split(" as ")[0].strip()
    if not head or head in ("self", "*"):
        out.append(prefix)
        return
    if sep and rest.strip():
        expand(prefix + [head], rest, out)
    else:
        out.append(prefix + [head])


def references(source: str, here: tuple) -> list:
    source = re.sub(r"//[^\n]*", "", source)
    found = []
    # `use crate::{...}` / `use super::{...}` trees, then every other `crate::a::b` path.
    for m in re.finditer(r"\buse\s+(crate|super(?:::super)*)::([^;]+);", source):
        base = resolve(m.group(1), here)
        paths = []
        expand([], m.group(2), paths)
        found += [base + p for p in paths]
    for m in re.finditer(rf"\b(crate|super(?:::super)*)((?:::{IDENT})+)", source):
        base = resolve(m.group(1), here)
        found.append(base + [p for p in m.group(2).split("::") if p])
    return found


def resolve(anchor: str, here: tuple) -> list:
    if anchor == "crate":
        return []
    ups = anchor.count("super")
    return list(here[: len(here) - ups])


def target(path: list, modules: set):
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in modules:
            return tuple(path[:n])
    return None


def related(a: tuple, b: tuple) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            out.append(group)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def self_test() -> int:
    """The check must be able to fail: a two-module cycle is found, its parent/child edge is not."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        (root / "lib.rs").write_text("pub mod a;\npub mod b;\n")
        (root / "a" / "mod.rs").write_text("mod inner;\nuse self::inner::X;\n")
        (root / "a" / "inner.rs").write_text("use super::Y;\nuse crate::b::Z;\n")
        (root / "b.rs").write_text("pub struct Z;\n")
        assert check(root) == 0, "a module and its submodule may use each other"
        (root / "b.rs").write_text("use crate::a::inner::X;\n")
        assert check(root) == 1, "a -> b -> a is a cycle"
    print("module-cycles self-test passed")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    roots = [Path(a) for a in sys.argv[1:]] or [Path("host/src"), *sorted(Path("crates").glob("*/src"))]
    return max(check(root) for root in roots)


def check(root: Path) -> int:
    files = {module_of(root, f): f for f in sorted(root.rglob("*.rs"))}
    modules = set(files)
    edges = {}
    for module, file in files.items():
        for path in references(file.read_text(), module):
            dest = target(path, modules)
            if dest is not None and not related(module, dest):
                edges.setdefault(module, set()).add(dest)
    name = lambda m: "::".join(m) or "crate"
    cycles = [sorted(g) for g in sccs(modules, edges) if len(g) > 1]
    for group in cycles:
        members = set(group)
        print(f"{root}: import cycle among {len(group)} modules:")
        for m in group:
            inside = sorted(name(d) for d in edges.get(m, ()) if d in members)
            print(f"  {name(m)} -> {', '.join(inside)}")
    if not cycles:
        print(f"{root}: no import cycles among {len(modules)} modules")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
