"""Install s3pt_mm. Requirements are read from ``requirements/*.txt``."""
import os
import os.path as osp

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))


def parse_requirements(fname: str) -> list:
    """Return the requirement lines of ``requirements/<fname>`` (comments dropped)."""
    with open(osp.join(ROOT, 'requirements', fname)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 's3pt_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='s3pt_mm',
    version=get_version(),
    description='S3PT: scene semantics and structure guided clustering for self-supervised '
    'pre-training on driving data, for OpenMMLab',
    long_description=open(osp.join(ROOT, 'README.md')).read() if osp.exists(osp.join(ROOT, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['s3pt_mm', 's3pt_mm.*']),
    python_requires='>=3.10',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        'mim': parse_requirements('mminstall.txt'),
        'tests': parse_requirements('tests.txt'),
        'build': parse_requirements('build.txt'),
    },
    zip_safe=False,
)
