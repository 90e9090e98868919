"""The shape of the house: no import cycles in server/, no provider named outside its own packages, the
service imports where POSIX-only modules do not exist, and no test module leans on another one."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "server"


@cache
def import_graph(package: str) -> grimp.ImportGraph:
    # Imports under `if TYPE_CHECKING:` are left out: they are no dependency at run time.
    return grimp.build_graph(package, cache_dir=None, exclude_type_checking_imports=True)


def module_imports(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    """(importer, imported) for every direct import between two modules of the graph's package."""
    return {(importer, imported) for importer in graph.modules
            for imported in graph.find_modules_directly_imported_by(importer)}


def shortest_path(edges: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """Breadth-first: the fewest steps from `start` to `goal` along `edges`, both ends included."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (node := came_from[node]) is not None:
                path.append(node)
            return path[::-1]
        for after in sorted(edges.get(node, ())):
            if after not in came_from:
                came_from[after] = node
                queue.append(after)
    return None


def cycles(imports: Iterable[tuple[str, str]]) -> list[list[str]]:
    """One shortest cycle through each import that closes one, each cycle reported once: [a, b, ..., a]."""
    edges: dict[str, set[str]] = {}
    for importer, imported in imports:
        edges.setdefault(importer, set()).add(imported)
    found: dict[frozenset[str], list[str]] = {}
    for importer, imported in sorted((a, b) for a, targets in edges.items() for b in targets):
        back = shortest_path(edges, imported, importer)
        if back is not None:
            cycle = [importer, *back]
            found.setdefault(frozenset(cycle), cycle)
    return sorted(found.values(), key=lambda cycle: (len(cycle), cycle))


def describe(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_module_imports_itself_through_others():
    found = cycles(module_imports(import_graph("server")))
    assert not found, f"import cycles between modules of server/:\n{describe(found)}"


def test_no_two_packages_import_each_other():
    """At every level of server/, the modules and packages side by side form no cycle: a package's contents
    may import a sibling's, or be imported by it, not both (directly or round a ring)."""
    graph = import_graph("server")
    imports = sorted(module_imports(graph))
    found = []
    for package in sorted(m for m in graph.modules if graph.find_children(m)):
        children = graph.find_children(package)

        def child_of(module: str, children: set[str] = children) -> str | None:
            return next((c for c in children if module == c or module.startswith(c + ".")), None)

        example: dict[tuple[str, str], str] = {}
        for importer, imported in imports:
            ends = (child_of(importer), child_of(imported))
            if None not in ends and ends[0] != ends[1]:
                example.setdefault(ends, f"{importer} imports {imported}")
        for cycle in cycles(example):
            steps = [example[step] for step in zip(cycle, cycle[1:], strict=False)]
            found.append(f"{' -> '.join(cycle)} ({'; '.join(steps)})")
    assert not found, "import cycles between packages of server/:\n" + "\n".join(found)


def test_a_cycle_is_found_and_named():
    # The detector itself: a ring of three and a pair are reported, each once, by their modules.
    imports = {("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.x", "p.y"), ("p.y", "p.x"), ("p.a", "p.z")}
    assert cycles(imports) == [["p.x", "p.y", "p.x"], ["p.a", "p.b", "p.c", "p.a"]]


# --- Provider names: a provider lives in its connector package and its sandbox dialect, and the catalog lists
# it; nothing else in server/ names one, in code, strings or comments.

PROVIDER_WORDS = {"xero", "quickbooks", "intuit", "businesscentral", "dynamics", "myob", "sage"}
# Distinctive enough to be found inside a longer word too ("xerotenant"); "sage" is not ("message").
PROVIDER_INFIXES = ("xero", "quickbooks", "businesscentral", "myob")
WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def provider_names_in(text: str) -> set[str]:
    """Provider names in a text, however written: Xero, xero_userid, QuickBooks, business_central,
    BusinessCentral, "Business Central", MYOB, xerotenant."""
    words = [w.lower() for w in WORD.findall(text)]
    named = {w for w in words if w in PROVIDER_WORDS}
    named |= {a + b for a, b in zip(words, words[1:], strict=False) if a + b in PROVIDER_WORDS}
    squeezed = re.sub(r"[^a-z0-9]", "", text.lower())
    return named | {infix for infix in PROVIDER_INFIXES if infix in squeezed}


def test_provider_names_are_recognised_however_written():
    assert provider_names_in("XeroConnector(xero_userid) reads api.xero.com") == {"xero"}
    assert provider_names_in("QuickBooks Online and quickbooks_realm") == {"quickbooks"}
    assert provider_names_in("BusinessCentral, business_central, Business Central") == {"businesscentral"}
    assert provider_names_in("MYOB AccountRight; Sage 50; Intuit") == {"myob", "sage", "intuit"}
    assert provider_names_in("a message about usage, intuitive; zero records") == set()


def catalog_registry() -> Path:
    catalog = SERVER / "connectors" / "catalog.py"
    return catalog if catalog.exists() else SERVER / "connectors" / "__init__.py"


def may_name_a_provider(path: Path) -> bool:
    """Inside server/connectors/<provider>/ or server/sandbox/<provider>/ (a package named after its
    provider), or the catalog's registry."""
    if path == catalog_registry():
        return True
    parts = path.relative_to(SERVER).parts
    return (len(parts) > 2 and parts[0] in ("connectors", "sandbox") and (SERVER / parts[0] / parts[1]).is_dir()
            and bool(provider_names_in(parts[1])))


def server_text_files() -> list[Path]:
    files = []
    for path in sorted(SERVER.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # images and other binaries say nothing
            files.append(path)
    return files


def test_no_provider_is_named_outside_its_own_packages():
    offenders = {}
    for path in server_text_files():
        if may_name_a_provider(path):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if provider_names_in(line):
                offenders.setdefault(str(path.relative_to(ROOT)), []).append(f"{number}: {line.strip()[:100]}")
    report = "\n".join(f"{path} ({len(lines)} lines), first at {lines[0]}" for path, lines in offenders.items())
    assert not offenders, f"provider names outside their packages and the catalog:\n{report}"


def test_the_provider_packages_and_the_catalog_may_name_them():
    assert may_name_a_provider(SERVER / "connectors" / "xero" / "connector.py")
    assert may_name_a_provider(SERVER / "sandbox" / "xero" / "api.py")
    assert may_name_a_provider(catalog_registry())
    assert not may_name_a_provider(SERVER / "connectors" / "framework" / "http.py")
    assert not may_name_a_provider(SERVER / "sandbox" / "oauth.py")
    assert not may_name_a_provider(SERVER / "refresh" / "pipeline.py")


# --- Windows: no resource, fcntl, pwd (POSIX-only modules), no fork or forkserver start method. Every server
# module must still import there; what it cannot do must wait until it is called.

WITHOUT_POSIX = r"""
import importlib, importlib.abc, json, multiprocessing.context, os, pkgutil, sys, traceback

BLOCKED = {"resource", "fcntl", "pwd", "grp", "termios"}


class NoPosixOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not on Windows)", name=name)
        return None


for name in list(sys.modules):  # the interpreter may have loaded some already
    if name.split(".")[0] in BLOCKED:
        del sys.modules[name]
sys.meta_path.insert(0, NoPosixOnly())
for method in ("fork", "forkserver"):  # Windows knows only "spawn"
    multiprocessing.context._concrete_contexts.pop(method, None)
for name in ("fork", "forkpty", "register_at_fork"):
    if hasattr(os, name):
        delattr(os, name)

import server

failed = {}
for module in pkgutil.walk_packages(server.__path__, "server.", onerror=lambda name: None):
    if module.name.startswith("server.db.migrations") or module.name.endswith("__main__"):
        continue  # migrations run inside Alembic; __main__ runs the command line
    try:
        importlib.import_module(module.name)
    except BaseException as error:
        failed[module.name] = "".join(traceback.format_exception_only(error)).strip()
print(json.dumps(failed))
"""


def test_every_server_module_imports_without_posix_only_modules():
    done = subprocess.run([sys.executable, "-c", WITHOUT_POSIX], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    report = "\n".join(f"{module}: {error}" for module, error in sorted(failed.items()))
    assert not failed, f"modules that do not import without POSIX-only modules (as on Windows):\n{report}"


# --- Tests share helpers through tests/support only: no test module (or conftest) imports another test module.

def test_test_modules_import_only_the_shared_helpers():
    graph = import_graph("tests")
    leaning = sorted(f"{importer} imports {imported}" for importer, imported in module_imports(graph)
                     if not imported.startswith("tests.support") and imported != "tests")
    assert not leaning, "test modules importing other test modules (move the helper to tests/support):\n" + \
        "\n".join(leaning)


def test_the_check_of_test_modules_sees_their_imports():
    # The check above reads a real graph of tests/: the helpers every folder uses are in it.
    imports = module_imports(import_graph("tests"))
    assert ("tests.sandbox.test_faults", "tests.support.waiting") in imports
    assert ("tests.conftest", "tests.support.database") in imports
