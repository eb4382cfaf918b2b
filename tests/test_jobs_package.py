"""The job machinery's package, `lms.jobs`: its map names every module, and nothing imports in a
circle (a cycle works or breaks depending on which module a process imports first)."""

import ast
from pathlib import Path

import lms.jobs
from tests.processes import ROOT

FIRST_PARTY = ("lms", "certificates", "courses", "enrollments", "notifications")


def first_party_modules() -> dict[str, Path]:
    modules = {}
    for package in FIRST_PARTY:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def import_time_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the first-party modules it imports when it is imported: statements at module
    level (also inside a module-level `if`/`try`), not those inside functions, which run later."""

    def owner(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        imported = set()
        for statement in ast.parse(path.read_text()).body:
            for node in ast.walk(statement) if isinstance(statement, (ast.If, ast.Try)) else [statement]:
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    assert node.level == 0, f"{name}: relative import"
                    imported.add(node.module)
                    imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        # importing a.b.c runs a/__init__ and a/b/__init__ first (the importer's own packages
        # are already under way when it runs)
        parents = {".".join(module.split(".")[:i]) for module in imported for i in range(1, module.count(".") + 1)}
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {owner(module) for module in imported | (parents - own_packages)} - {"", name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return found


def test_the_package_docstring_maps_every_module_of_the_job_machinery():
    modules = sorted(path.stem for path in (ROOT / "lms" / "jobs").glob("*.py") if path.stem != "__init__")
    mapped = [line.split(":")[0].removeprefix("- ") for line in lms.jobs.__doc__.splitlines() if line.startswith("- ")]
    assert sorted(mapped) == modules, "each module once, as '- name: what it owns'"


def test_no_first_party_module_imports_in_a_circle():
    modules = first_party_modules()
    assert {"lms.jobs.dispatch", "lms.celery", "certificates.tasks"} <= modules.keys()
    assert cycles(import_time_graph(modules)) == []


def test_the_cycle_finder_sees_a_circle_through_a_package_init_and_not_through_a_function(tmp_path):
    sources = {
        "a/__init__.py": "import c\n",
        "a/b.py": "",
        "c.py": "from a.b import name\n",  # runs a/__init__, which imports c: a circle
        "d.py": "def later():\n    import e\n",
        "e.py": "import d\n",  # d imports e only when called: no circle
    }
    modules = {}
    for relative, text in sources.items():
        path = tmp_path / relative
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        modules[relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")] = path
    assert cycles(import_time_graph(modules)) == [["a", "c", "a"]]
