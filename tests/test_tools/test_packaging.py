"""A non-editable wheel carries what ``mim`` reads: ``s3pt_mm/.mim/{configs,tools,
model-index.yml}``, and every config a metafile names (setup.py ``add_mim_extension``)."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _metafile_configs(read) -> dict:
    """{metafile: [Config paths]} following model-index.yml's ``Import`` list."""
    index = yaml.safe_load(read('model-index.yml'))
    return {meta: [m['Config'] for m in yaml.safe_load(read(meta))['Models']]
            for meta in index['Import']}


def test_model_index_names_existing_configs_and_readmes():
    configs = _metafile_configs(lambda p: (REPO / p).read_text())
    assert {Path(m).parent.name for m in configs} >= {'s3pt', 'dino', 'cribo', 'petr',
                                                       'segmenter'}
    for meta, paths in configs.items():
        assert paths, meta
        for path in paths:
            assert (REPO / path).is_file(), f'{meta}: Config {path} does not exist'
        collection = yaml.safe_load((REPO / meta).read_text())['Collections'][0]
        assert (REPO / collection['README']).is_file(), meta


def test_wheel_carries_configs_tools_and_model_index(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != 'FORCE_CUDA'}
    env['CUDA_VISIBLE_DEVICES'] = ''  # no extension build: pure-Python wheel
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '-q', '-w', str(tmp_path), str(REPO)], check=True, env=env, cwd=tmp_path,
                   timeout=300)
    wheel = next(tmp_path.glob('s3pt_mm-*.whl'))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())

        def read(path):
            return z.read(f's3pt_mm/.mim/{path}').decode()

        configs = _metafile_configs(read)
    repo_configs = {str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*')
                    if p.is_file() and '__pycache__' not in p.parts}
    assert {f's3pt_mm/.mim/{p}' for p in repo_configs} <= names
    for tool in ('train.py', 'test.py', 'dist_train.sh', 'dist_test.sh'):
        assert f's3pt_mm/.mim/tools/{tool}' in names
    for paths in configs.values():
        for path in paths:
            assert f's3pt_mm/.mim/{path}' in names
    assert not any(n.endswith('.so') or '__pycache__' in n for n in names)
