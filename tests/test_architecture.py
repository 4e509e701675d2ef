"""The app layers and the purity of the cores, as the import-linter contracts in .importlinter say them."""

import configparser
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("django", "channels", "daphne", "huey", "asgiref")


def test_the_import_contracts_hold():
    """An import that goes up the layers, or a framework import in a pure module, fails here with
    lint-imports' report of the chain."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_framework_free_module_is_held_pure_by_the_contract():
    """A new module that needs no framework is a pure core: the contract must list it, so it stays pure."""
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    listed = set(contracts["importlinter:contract:pure"]["source_modules"].split())
    graph = grimp.build_graph("apps", include_external_packages=True, cache_dir=None)
    frameworks = [name for name in FRAMEWORKS if name in graph.modules]
    framework_free = set()
    for module in graph.modules:
        path = module.split(".")
        if path[0] != "apps" or len(path) < 3 or {"migrations", "management", "templatetags"} & set(path):
            continue  # packages' own __init__ and Django's plumbing
        if graph.find_children(module):
            continue
        if not any(graph.find_shortest_chain(importer=module, imported=name) for name in frameworks):
            framework_free.add(module)
    assert framework_free - listed == set(), "add these pure modules to .importlinter's pure contract"
    assert listed - framework_free == set(), "these listed modules are gone or import a framework"
