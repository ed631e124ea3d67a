"""The package's shape: imports in one direction, `landmarks list` without torch, small files,
no block of code written twice."""

from __future__ import annotations

import ast
import collections
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "landmarks"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every `import` of a landmarks module by a landmarks module, at any depth of the file
    (a function-level import is an edge too); `from pkg import mod` points at the module."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 40 and "landmarks.train.loop" in graph["landmarks.tasks.classify"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_catalog_loading_imports_no_registry_of_code():
    graph = import_graph()
    reached, todo = set(), ["landmarks.catalog"]
    while todo:
        m = todo.pop()
        if m not in reached:
            reached.add(m)
            todo += graph[m]
    registries = {"landmarks.models", "landmarks.tasks", "landmarks.data", "landmarks.estimators", "landmarks.metrics"}
    assert not reached & registries, reached & registries


def test_list_runs_without_torch(tmp_path):
    """`landmarks list` in an interpreter where importing torch (or MLflow) fails."""
    script = textwrap.dedent(f"""
        import sys
        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "mlflow", "torchvision"):
                    raise ImportError(f"{{name}} is hidden in this test")
        sys.meta_path.insert(0, Hide())
        from landmarks.cli import main
        code = main(["--catalog", {str(PACKAGE.parent / "benchmarks")!r}, "list", "--profile", "quick"])
        assert "torch" not in sys.modules
        sys.exit(code)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "xor-backprop: XOR" in out.stdout and "claim '2-2-1 net, backpropagation'" in out.stdout
    blocked = subprocess.run([sys.executable, "-c", script.replace('"list", "--profile", "quick"', '"check"')],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert blocked.returncode != 0 and "torch is hidden" in blocked.stderr  # the blocker does block


def test_no_file_over_300_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert not long, long


def long_functions(paths: list[Path], most: int = 60) -> dict[str, int]:
    """{file:function: lines} of the functions longer than `most` lines, decorators and docstring
    included."""
    import ast

    out = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if (n := node.end_lineno - first + 1) > most:
                    out[f"{path.name}:{node.name}"] = n
    return out


def test_no_function_over_60_lines():
    assert long_functions(sorted(PACKAGE.rglob("*.py"))) == {}


def test_the_long_function_finder_finds_one(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (tmp_path / "m.py").write_text(f"def f():\n{body}\n\n\ndef g():\n    return 1\n")
    assert long_functions([tmp_path / "m.py"]) == {"m.py:f": 62}


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text with spaces folded) of the lines that carry code: no blank, comment,
    docstring-only, import or lone-bracket lines."""
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = " ".join(line.split())
        if not text or text.startswith(("#", "import ", "from ", '"""')) or text in (")", "]", "}", "):", "),"):
            continue
        out.append((i, text))
    return out


def repeated_blocks(paths: list[Path], size: int = 6) -> list[str]:
    seen: dict[tuple[str, ...], str] = {}
    found = []
    for path in paths:
        lines = code_lines(path)
        for k in range(len(lines) - size + 1):
            window = tuple(t for _, t in lines[k : k + size])
            where = f"{path.name}:{lines[k][0]}"
            if window in seen and not seen[window].startswith(f"{path.name}:"):
                found.append(f"{seen[window]} ~ {where}")
            seen.setdefault(window, where)
    return found


def test_no_block_of_six_lines_written_twice():
    assert repeated_blocks(sorted(PACKAGE.rglob("*.py"))) == []


def test_the_repeat_finder_finds_a_repeat(tmp_path):
    body = "\n".join(f"x{i} = f({i})" for i in range(7))
    (tmp_path / "a.py").write_text(body)
    (tmp_path / "b.py").write_text("y = 0\n" + body)
    assert repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"])
    counts = collections.Counter(t for _, t in code_lines(tmp_path / "a.py"))
    assert sum(counts.values()) == 7


def test_the_training_path_imports_no_report_code():
    """Training runs where the report's pandas tables and figures are not wanted: the runner, the
    tasks and the loop reach no module of landmarks.report."""
    graph = import_graph()
    seen, todo = set(), ["landmarks.runner", "landmarks.runner.landmark", "landmarks.tasks"]
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(graph.get(mod, ()))
    assert not {m for m in seen if m.startswith("landmarks.report")}
