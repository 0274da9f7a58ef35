"""The package's import graph: no cycle, no upward import, light lower layers.

The layers, lowest first, are written down here and in docs/architecture.md ("Layers"). A module
may import modules of its own component, of lower layers and, except in a layer of independent
components (the tasks), of other components of its own layer. Function-level (lazy) imports count
too: a lazy upward import is still an upward dependency. Separately, what a module imports at
import time (its top-level imports) must not reach OpenMMLab packages its layer must run without:
the core none at all, the pre-training layers neither mmcv's compiled ops nor mmseg / mmdet /
mmdet3d (the GPU machine of tools/gpu_check.sh has none of them).
"""
import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / 's3pt_mm'

OPENMMLAB = ('mmengine', 'mmcv', 'mmpretrain', 'mmseg', 'mmdet', 'mmdet3d')
NOT_FOR_PRETRAINING = ('mmcv.ops', 'mmcv._ext', 'mmseg', 'mmdet', 'mmdet3d')

#: (layer, components, independent, OpenMMLab modules its top-level imports must not reach).
#: A component is a module or package prefix; a module belongs to its longest matching prefix.
LAYERS: List[Tuple[str, Tuple[str, ...], bool, Tuple[str, ...]]] = [
    ('core', ('s3pt_mm.version', 's3pt_mm.utils', 's3pt_mm.ops', 's3pt_mm.models.utils',
              's3pt_mm.models.losses', 's3pt_mm.synthetic'), False, OPENMMLAB),
    ('pre-training models', ('s3pt_mm.models', ), False, NOT_FOR_PRETRAINING),
    ('pre-training data and engine', ('s3pt_mm.datasets', 's3pt_mm.engine', 's3pt_mm'), False,
     NOT_FOR_PRETRAINING),
    ('checkpoint conversion', ('s3pt_mm.converters', ), False, NOT_FOR_PRETRAINING),
    ('downstream tasks', ('s3pt_mm.segmentation', 's3pt_mm.det3d',
                          's3pt_mm.datasets.transforms3d', 's3pt_mm.probing'), True, ()),
    ('cross-modal systems', ('s3pt_mm.cm3d', 's3pt_mm.csc'), True, ()),
    ('test helpers', ('s3pt_mm.testing', ), False, ()),
]
LAYER_OF = {c: i for i, (_, comps, _, _) in enumerate(LAYERS) for c in comps}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def source_files(folder: Path) -> List[Path]:
    """The ``.py`` files under ``folder``, without hidden folders: ``s3pt_mm/.mim`` is the
    packaged copy of configs/ and tools/ that setup.py (or the packaging test) creates."""
    return [p for p in sorted(folder.rglob('*.py'))
            if not any(part.startswith('.') for part in p.relative_to(folder).parts)]


def package_modules() -> Dict[str, Path]:
    return {module_name(p): p for p in source_files(PACKAGE) if 'csrc' not in p.parts}


def component_of(module: str) -> str:
    # The root package is a component of its own (its __init__ only), not everything's prefix.
    best = max((c for c in LAYER_OF
                if module == c or (c != 's3pt_mm' and module.startswith(c + '.'))), key=len,
               default=None)
    if best is None:
        raise AssertionError(f'{module}: belongs to no component of LAYERS; add it there and to '
                             'docs/architecture.md')
    return best


def imports_of(module: str, path: Path, modules: Dict[str, Path]) -> List[Tuple[str, int, bool]]:
    """``(imported module, line, top_level)`` of every import statement in a file.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module of the
    package, else ``pkg``; relative imports are resolved against the module's package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == '__init__.py' else module.rpartition('.')[0]
    top_level = {id(n) for n in tree.body}
    for node in tree.body:  # statements inside top-level if/try blocks run at import time too
        if isinstance(node, (ast.If, ast.Try)):
            top_level.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - (node.level - 1)]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f'{target}.{alias.name}'
                found.append((sub if sub in modules else target, node.lineno,
                              id(node) in top_level))
    return found


def graph():
    modules = package_modules()
    edges = {m: imports_of(m, p, modules) for m, p in modules.items()}
    return modules, edges


def find_cycles(nodes: Set[str], succ: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one node (Tarjan), or self-loops."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1 or v in succ.get(v, ()):
                out.append(sorted(scc))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    for module in package_modules():
        component_of(module)


def test_no_import_cycle_between_modules():
    modules, edges = graph()
    succ = {m: {t for t, _, _ in e if t in modules and t != m} for m, e in edges.items()}
    assert find_cycles(set(modules), succ) == []


def test_no_import_cycle_between_components():
    modules, edges = graph()
    succ: Dict[str, Set[str]] = {}
    for m, e in edges.items():
        for t, _, _ in e:
            if t in modules and component_of(t) != component_of(m):
                succ.setdefault(component_of(m), set()).add(component_of(t))
    assert find_cycles(set(succ), succ) == []


def test_no_upward_or_sideways_import():
    modules, edges = graph()
    bad = []
    for m, e in edges.items():
        src = component_of(m)
        for target, line, _ in e:
            if not target.startswith('s3pt_mm'):
                continue
            if target == 's3pt_mm._ext':  # the compiled kernels, loaded by s3pt_mm.ops only
                assert src == 's3pt_mm.ops', f'{m}:{line} loads s3pt_mm._ext'
                continue
            dst = component_of(target)
            lo, hi = LAYER_OF[dst], LAYER_OF[src]
            if dst == src or lo < hi:
                continue
            if lo == hi and not LAYERS[hi][2]:
                continue  # beside each other in a layer whose components may share code
            bad.append(f'{modules[m].relative_to(REPO)}:{line}: {m} ({LAYERS[hi][0]}) imports '
                       f'{target} ({LAYERS[lo][0]})')
    assert not bad, 'imports against the layer order:\n' + '\n'.join(bad)


def test_top_level_imports_stay_within_what_each_layer_may_need():
    modules, edges = graph()
    bad = []
    for m, e in edges.items():
        forbidden = LAYERS[LAYER_OF[component_of(m)]][3]
        for target, line, top_level in e:
            hit = [f for f in forbidden if target == f or target.startswith(f + '.')]
            if top_level and hit:
                bad.append(f'{modules[m].relative_to(REPO)}:{line}: {m} imports {target}')
    assert not bad, 'top-level imports a lower layer must not need:\n' + '\n'.join(bad)


LOADERS = ('spec_from_file_location', 'run_path', 'import_module', 'SourceFileLoader',
           'exec_module')


def test_scripts_and_package_do_not_import_the_tests():
    """Package, tools and benchmarks never load code from tests/ (shared code is in testing/):
    no ``import tests...`` and no file loader called with a path that names ``tests``."""
    bad = []
    for folder in ('s3pt_mm', 'tools', 'benchmarks'):
        for path in source_files(REPO / folder):
            source = path.read_text()
            tree = ast.parse(source, filename=str(path))
            for node in ast.walk(tree):
                where = f'{path.relative_to(REPO)}:{getattr(node, "lineno", 0)}'
                if isinstance(node, ast.Import):
                    bad += [f'{where}: import {a.name}' for a in node.names
                            if a.name.split('.')[0] == 'tests']
                elif isinstance(node, ast.ImportFrom) and not node.level and (
                        node.module or '').split('.')[0] == 'tests':
                    bad.append(f'{where}: from {node.module} import ...')
                elif isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(
                        func, 'id', '')
                    if name in LOADERS and 'tests' in (ast.get_source_segment(source, node)
                                                       or ''):
                        bad.append(f'{where}: {ast.get_source_segment(source, node)}')
    assert not bad, '\n'.join(bad)


def test_the_walker_sees_cycles_and_upward_imports():
    """The checks above on a made-up graph: a cycle and an upward import are found."""
    assert find_cycles({'a', 'b', 'c'}, {'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [['a', 'b', 'c']]
    assert find_cycles({'a', 'b'}, {'a': {'b'}}) == []
    assert component_of('s3pt_mm.models.utils.sinkhorn') == 's3pt_mm.models.utils'
    assert component_of('s3pt_mm.models.selfsup.s3pt') == 's3pt_mm.models'
    assert LAYER_OF['s3pt_mm.models.utils'] < LAYER_OF['s3pt_mm.models'] < LAYER_OF[
        's3pt_mm.segmentation']


def test_core_and_s3pt_model_build_and_run_without_mmcv_ops_mmseg_mmdet3d():
    """In a fresh interpreter that refuses mmcv's compiled ops, mmseg, mmdet and mmdet3d
    (tools/check_light_imports.py): import the core, build the S3PT model of the demo config,
    compute its losses once and backpropagate."""
    result = subprocess.run([sys.executable, str(REPO / 'tools' / 'check_light_imports.py')],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith('OK S3PT'), result.stdout
