"""The house's layout: every import between the package's folders points one way (docs/development.md, Code map)."""
import ast
import collections
import os

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "splitgan_keras")


def _group(module: str) -> str:
    """The folder a module belongs to ("train", "evaluate", ...), or "root" for the package's own modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and os.path.isdir(os.path.join(PACKAGE, parts[1])) else "root"


def _imports():
    """{(importing group, imported group): [importing module, ...]} over every import of the package."""
    edges = collections.defaultdict(list)
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = os.path.relpath(path[:-3], ROOT).replace(os.sep, ".").replace(".__init__", "")
            for node in ast.walk(ast.parse(open(path).read())):
                targets = []
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("splitgan_keras"):
                    targets = [node.module + "." + alias.name for alias in node.names]
                elif isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names if alias.name.startswith("splitgan_keras")]
                for target in targets:
                    if _group(module) != _group(target):
                        edges[(_group(module), _group(target))].append(module)
    return edges


def test_no_folder_imports_a_folder_that_imports_it():
    edges = _imports()
    both_ways = sorted((a, b, edges[(a, b)][:3], edges[(b, a)][:3]) for a, b in edges if (b, a) in edges and a < b)
    assert not both_ways, "imports both ways between folders: %s" % both_ways


def test_the_foundations_import_no_app():
    edges = _imports()
    assert not [(b, modules) for (a, b), modules in edges.items() if a == "root"], \
        "root modules import folders: %s" % [(b, m[:3]) for (a, b), m in edges.items() if a == "root"]
